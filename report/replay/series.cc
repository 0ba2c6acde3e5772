// report/replay/series.cc: live figures over time: Snapshot records, the growth series sampled
// at them (at most kMaxSeriesSamples), and the peak with each stack's figures at it, all found
// in the one pass.
#include <algorithm>

#include "report/replay/replayer.h"

namespace allocwatch::report::detail {

void Replayer::OnSnapshot(const RawRecord& r) {
  auto rec = As<format::SnapshotRecord>(r);
  if (rec.time_ns < options_.since_ns) return;
  m_->snapshot_positions.push_back(position_);
  m_->snapshots.push_back(Snapshot{rec.time_ns, rec.heap_in_use_bytes, rec.alloc_calls,
                                   rec.free_calls, rec.heap_allocated_bytes, rec.mmap_live_bytes,
                                   rec.rss_bytes, rec.vm_size_bytes, rec.lost_events});
  m_->lost_events = std::max(m_->lost_events, rec.lost_events);
  m_->duration_ns = std::max(m_->duration_ns, rec.time_ns);
  ExpireReordered(rec.time_ns, /*all=*/false);
}

void Replayer::OnMemory(const RawRecord& r) {
  auto rec = As<format::MemoryRecord>(r);
  if (rec.time_ns < options_.since_ns) return;
  MemorySnapshot m;
  m.record = rec;
  // The snapshot written just before it, at the same time, holds its statm and heap figures.
  if (!m_->snapshots.empty() && m_->snapshots.back().time_ns == rec.time_ns) {
    m.rss_bytes = m_->snapshots.back().rss_bytes;
  }
  m.live_heap_bytes = m_->totals.live_bytes;
  m.live_heap_bytes_var = m_->totals.live_bytes_var;
  m.discarded_bytes = m_->totals.discarded_live_bytes;
  m_->memory.push_back(m);
}

void Replayer::NewPeak(double total, uint64_t time_ns) {
  m_->peak_live_bytes = total;
  m_->peak_time_ns = time_ns;
  m_->peak_position = position_;
  for (StackId id : pending_) {
    StackState& st = State(id);
    SiteFigures& at = m_->at_peak[id];
    at.live_count += st.pend_count, at.live_bytes += st.pend_bytes;
    at.mapped_live_bytes += st.pend_mapped;
    at.live_count_var += st.pend_count_var, at.live_bytes_var += st.pend_bytes_var;
    at.live_samples =
        static_cast<uint64_t>(static_cast<int64_t>(at.live_samples) + st.pend_samples);
    st.pend_count = st.pend_bytes = st.pend_mapped = st.pend_count_var = st.pend_bytes_var = 0;
    st.pend_samples = 0;
    st.pending = false;
  }
  pending_.clear();
}

// Keeps every other sample, so the series of a long run stay within kMaxSeriesSamples and
// kMaxSeriesPoints; later samples are taken at the doubled step.
void Replayer::HalveSeries() {
  size_t n = m_->series_times_ns.size();
  for (size_t i = 0; 2 * i < n; ++i) {
    m_->series_times_ns[i] = m_->series_times_ns[2 * i];
    m_->series_total_live[i] = m_->series_total_live[2 * i];
  }
  m_->series_times_ns.resize((n + 1) / 2);
  m_->series_total_live.resize((n + 1) / 2);
  // Old sample s holds from s on; new sample j is old 2j, so a point moves to ceil(s / 2) and,
  // of points landing together, the last one holds.
  series_points_ = 0;
  for (auto& [id, points] : m_->live_series) {
    size_t out = 0;
    for (const SeriesPoint& p : points) {
      uint32_t j = (p.sample + 1) / 2;
      if (out > 0 && points[out - 1].sample == j) {
        points[out - 1].live_bytes = p.live_bytes;
      } else {
        points[out++] = SeriesPoint{j, p.live_bytes};
      }
    }
    points.resize(out);
    series_points_ += out;
  }
  sample_step_ns_ *= 2;
  next_sample_ns_ = (next_sample_ns_ + sample_step_ns_ - 1) / sample_step_ns_ * sample_step_ns_;
}

// Every grid point up to time_ns gets a sample (those of an idle stretch included, so that the
// samples stay evenly spaced in time: a fit weighs every stretch of the run alike); the
// halving that a long stretch brings about doubles the step as it goes.
void Replayer::SampleGrid(uint64_t time_ns) {
  if (next_sample_ns_ < options_.since_ns) {
    next_sample_ns_ = options_.since_ns / sample_step_ns_ * sample_step_ns_;
  }
  while (next_sample_ns_ <= time_ns) {
    uint64_t at = next_sample_ns_;
    SeriesSample(std::max(at, options_.since_ns));
    // HalveSeries may have moved next_sample_ns_ on to the doubled grid.
    next_sample_ns_ = std::max(next_sample_ns_, at + sample_step_ns_);
  }
}

void Replayer::SeriesSample(uint64_t time_ns) {
  while (m_->series_times_ns.size() >= kMaxSeriesSamples ||
         (series_points_ + changed_.size() > kMaxSeriesPoints && m_->series_times_ns.size() > 1)) {
    HalveSeries();
  }
  auto sample = static_cast<uint32_t>(m_->series_times_ns.size());
  m_->series_times_ns.push_back(time_ns);
  m_->series_total_live.push_back(m_->totals.live_bytes + m_->totals.mapped_live_bytes);
  for (StackId id : changed_) {
    const SiteFigures& f = State(id).fig;
    std::vector<SeriesPoint>& points = m_->live_series[id];
    double live = f.live_bytes + f.mapped_live_bytes;
    if (!points.empty() && points.back().sample == sample) {
      points.back().live_bytes = live;  // a point moved here by HalveSeries
    } else {
      points.push_back(SeriesPoint{sample, live});
      ++series_points_;
    }
  }
  changed_.clear();
  ++epoch_;
}

}  // namespace allocwatch::report::detail
