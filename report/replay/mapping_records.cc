// report/replay/mapping_records.cc: mappings: Mmap, Munmap and Mremap records, and the mapped
// ranges they leave (an unmap may cut a range in two).
#include <algorithm>

#include "report/replay/replayer.h"

namespace allocwatch::report::detail {

void Replayer::OnMmap(const RawRecord& r) {
  auto rec = As<format::MmapRecord>(r);
  if (!Kept(rec.time_ns, rec.tid)) return;
  Map(rec.address, rec.length, StackId{rec.stack_id});
  TrackPeak(rec.time_ns);
}

void Replayer::OnMunmap(const RawRecord& r) {
  auto rec = As<format::MunmapRecord>(r);
  Unmap(rec.address, rec.length);
}

void Replayer::OnMremap(const RawRecord& r) {
  auto rec = As<format::MremapRecord>(r);
  Unmap(rec.old_address, rec.old_length);
  if (!Kept(rec.time_ns, rec.tid)) return;
  Map(rec.new_address, rec.new_length, StackId{rec.stack_id});
  TrackPeak(rec.time_ns);
}

void Replayer::Unmap(uint64_t address, uint64_t length) {
  const uint64_t end = address + length;
  auto it = mappings_.upper_bound(address);
  if (it != mappings_.begin()) --it;
  while (it != mappings_.end() && it->first < end) {
    uint64_t m_start = it->first;
    Mapping m = it->second;
    uint64_t m_end = m_start + m.length;
    if (m_end <= address) {
      ++it;
      continue;
    }
    it = mappings_.erase(it);
    uint64_t cut_start = std::max(m_start, address), cut_end = std::min(m_end, end);
    double cut = static_cast<double>(cut_end - cut_start);
    StackState& st = State(m.stack);
    st.fig.mapped_live_bytes -= cut;
    Touch(m.stack, st, 0, 0, -cut, 0, 0, 0);
    m_->totals.mapped_live_bytes -= cut;
    if (m_start < cut_start) mappings_[m_start] = Mapping{cut_start - m_start, m.stack};
    if (cut_end < m_end) {
      mappings_[cut_end] = Mapping{m_end - cut_end, m.stack};
      break;
    }
    it = mappings_.lower_bound(cut_end);
  }
}

void Replayer::Map(uint64_t address, uint64_t length, StackId stack) {
  Unmap(address, length);
  mappings_[address] = Mapping{length, stack};
  StackState& st = State(stack);
  SiteFigures& site = st.fig;
  double len = static_cast<double>(length);
  site.mapped_bytes += len, site.mapped_live_bytes += len, site.mmap_calls += 1;
  Touch(stack, st, 0, 0, len, 0, 0, 0);
  m_->totals.mapped_bytes += len, m_->totals.mapped_live_bytes += len, m_->totals.mmap_calls += 1;
}

}  // namespace allocwatch::report::detail
