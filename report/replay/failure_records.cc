// report/replay/failure_records.cc: failed calls (Failure records, the first kMaxFailuresKept
// kept) and headroom snapshots: the one written right after a failure belongs to it, the
// periodic ones are kept in time order.
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
  ++m_.failures_total;
  if (m_.failures.size() < kMaxFailuresKept) {
    m_.failures.push_back(f);
    failure_position_ = position_;
  }
}

void Replayer::OnHeadroom(const RawRecord& r) {
  Headroom h;
  h.record = As<format::HeadroomRecord>(r);
  uint64_t levels = uint64_t{h.record.cgroup_level_count} * sizeof(format::CgroupLevel);
  if (h.record.cgroup_level_count > format::kMaxCgroupLevels ||
      sizeof(h.record) + levels + h.record.cgroup_path_size > r.bytes.size()) {
    m_.warnings.push_back("damaged headroom record at offset " + std::to_string(r.offset));
    return;
  }
  h.levels.resize(h.record.cgroup_level_count);
  if (levels > 0) std::memcpy(h.levels.data(), r.bytes.data() + sizeof(h.record), levels);
  h.cgroup_path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(h.record) + levels,
                       h.record.cgroup_path_size);
  h.periodic = (r.flags & format::kHeadroomFlagPeriodic) != 0;
  // A failure's snapshot is the record right after it.
  if (!h.periodic && failure_position_ + 1 == position_ && !m_.failures.empty()) {
    m_.failures.back().headroom = std::move(h);
  } else {
    m_.headrooms.push_back(std::move(h));
  }
}

}  // namespace allocwatch::report::detail
