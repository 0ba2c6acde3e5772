// preload/hooks/failure_headroom.cc: see failure_headroom.h.
#include "preload/hooks/failure_headroom.h"

#include <atomic>

#include "preload/base/raw_io.h"
#include "preload/hooks/brink.h"
#include "preload/hooks/record_writer.h"
#include "preload/procfs/headroom.h"

namespace allocwatch::preload {
namespace {

// A periodic snapshot reads some 30 small files (about 0.5 ms on a slow VM): at most one per
// this interval, whatever the snapshot interval.
constexpr uint64_t kPeriodicMinIntervalNs = 100'000'000;
constinit std::atomic<uint64_t> g_last_periodic_ns{0};

// The headroom record's chunks: fixed part, cgroup levels, cgroup path.
int HeadroomChunks(HeadroomSnapshot& s, uint64_t now_ns, uint16_t flags, Chunk* out) {
  format::HeadroomRecord& r = s.record;
  uint64_t levels = uint64_t{r.cgroup_level_count} * sizeof(format::CgroupLevel);
  r.header = format::MakeHeader(format::RecordType::kHeadroom,
                                sizeof(r) + levels + r.cgroup_path_size, flags);
  r.time_ns = now_ns;
  out[0] = {&r, sizeof(r)};
  out[1] = {s.cgroup.levels, levels};
  out[2] = {s.cgroup.path, r.cgroup_path_size};
  return 3;
}

}  // namespace

void AppendFailureWithHeadroom(const format::FailureRecord& failure) {
  auto call = static_cast<format::Call>(failure.call);
  int mmap_flags = call == format::Call::kMmap || call == format::Call::kMmap64
                       ? static_cast<int>(failure.args[3])
                       : 0;
  HeadroomSnapshot snapshot;
  TakeHeadroom(FsRoot(), HugePageKbForFlags(FsRoot(), mmap_flags), /*scan_maps=*/true, &snapshot);
  Chunk chunks[4] = {{&failure, sizeof(failure)}};
  HeadroomChunks(snapshot, failure.time_ns, 0, chunks + 1);
  Writer().AppendPadded(chunks, 4, /*flush=*/true);
}

void AppendPeriodicHeadroom(uint64_t now_ns, HeadroomSnapshot* taken) {
  // Absolute time: a fork child's now_ns starts again from 0.
  uint64_t clock = MonotonicNs();
  uint64_t last = g_last_periodic_ns.load(std::memory_order_relaxed);
  if (last != 0 && clock < last + kPeriodicMinIntervalNs) return;
  if (!g_last_periodic_ns.compare_exchange_strong(last, clock)) return;
  HeadroomSnapshot fresh;
  HeadroomSnapshot* snapshot = taken;
  if (snapshot == nullptr) {
    TakeHeadroom(FsRoot(), 0, /*scan_maps=*/false, &fresh);
    RefreshBrinkLimits(fresh);
    snapshot = &fresh;
  }
  Chunk chunks[3];
  HeadroomChunks(*snapshot, now_ns, format::kHeadroomFlagPeriodic, chunks);
  Writer().AppendPadded(chunks, 3);
}

void AppendBrinkWithHeadroom(const format::BrinkRecord& brink) {
  HeadroomSnapshot snapshot;
  TakeHeadroom(FsRoot(), 0, /*scan_maps=*/false, &snapshot);
  Chunk chunks[4] = {{&brink, sizeof(brink)}};
  HeadroomChunks(snapshot, brink.time_ns, format::kHeadroomFlagBrink, chunks + 1);
  Writer().AppendPadded(chunks, 4, /*flush=*/true);
}

}  // namespace allocwatch::preload
