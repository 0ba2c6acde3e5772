// report/replay/failure_records.cc: failed calls (Failure records, the first kMaxFailuresKept
// kept), brinks (the live figures of every stack when a limit came close) and headroom
// snapshots: the one written right after a failure or a brink belongs to it, the periodic ones
// (and the brinks') are kept in time order.
#include <cstring>
#include <optional>

#include "report/replay/replayer.h"

namespace allocwatch::report::detail {

void Replayer::OnFailure(const RawRecord& r) {
  auto rec = As<format::FailureRecord>(r);
  if (!Kept(rec.time_ns, rec.tid)) return;
  Failure f{rec.time_ns,
            static_cast<format::Call>(rec.call),
            {},
            rec.result,
            rec.error,
            rec.tid,
            StackId{rec.stack_id},
            std::nullopt};
  std::memcpy(f.args, rec.args, sizeof(f.args));
  ++m_->failures_total;
  if (m_->failures.size() < kMaxFailuresKept) {
    m_->failures.push_back(f);
    failure_position_ = position_;
  }
}

void Replayer::OnBrink(const RawRecord& r) {
  ++m_->brinks_total;
  if (m_->brinks.size() >= kMaxBrinksKept) return;
  Brink b;
  b.record = As<format::BrinkRecord>(r);
  for (const auto& [id, st] : states_) {
    const SiteFigures& f = st.fig;
    if (f.live_bytes < 0.5 && f.mapped_live_bytes < 0.5) continue;  // sums of weights
    SiteFigures& live = b.live[id];
    live.live_count = f.live_count;
    live.live_bytes = f.live_bytes;
    live.mapped_live_bytes = f.mapped_live_bytes;
    live.live_count_var = f.live_count_var;
    live.live_bytes_var = f.live_bytes_var;
    live.live_samples = f.live_samples;
  }
  b.live_bytes = m_->totals.live_bytes + m_->totals.mapped_live_bytes;
  m_->brinks.push_back(std::move(b));
  brink_position_ = position_;
}

void Replayer::OnHeadroom(const RawRecord& r) {
  Headroom h;
  h.record = As<format::HeadroomRecord>(r);
  uint64_t levels = uint64_t{h.record.cgroup_level_count} * sizeof(format::CgroupLevel);
  if (h.record.cgroup_level_count > format::kMaxCgroupLevels ||
      sizeof(h.record) + levels + h.record.cgroup_path_size > r.bytes.size()) {
    m_->warnings.push_back("damaged headroom record at offset " + std::to_string(r.offset));
    return;
  }
  h.levels.resize(h.record.cgroup_level_count);
  if (levels > 0) std::memcpy(h.levels.data(), r.bytes.data() + sizeof(h.record), levels);
  h.cgroup_path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(h.record) + levels,
                       h.record.cgroup_path_size);
  h.periodic = (r.flags & (format::kHeadroomFlagPeriodic | format::kHeadroomFlagBrink)) != 0;
  // A brink's snapshot, like a failure's, is the record right after it; it is also one of the
  // headroom trend's.
  if ((r.flags & format::kHeadroomFlagBrink) != 0 && brink_position_ + 1 == position_ &&
      !m_->brinks.empty()) {
    m_->brinks.back().headroom = h;
  }
  if (!h.periodic && failure_position_ + 1 == position_ && !m_->failures.empty()) {
    m_->failures.back().headroom = std::move(h);
  } else {
    m_->headrooms.push_back(std::move(h));
  }
}

}  // namespace allocwatch::report::detail
