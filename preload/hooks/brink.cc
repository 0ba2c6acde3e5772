// preload/hooks/brink.cc: see brink.h.
#include "preload/hooks/brink.h"

#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/base/spinlock.h"
#include "preload/procfs/cgroup_reader.h"
#include "preload/procfs/headroom.h"
#include "preload/procfs/proc_text.h"

namespace allocwatch::preload {

constinit BrinkWatch g_brink;

namespace {

constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;
constexpr int kMaxWatchedLevels = 4;  // limited cgroup levels watched, leaf first
constexpr uint32_t kKinds = 4;        // index: format::kBrink*
constexpr int64_t kMinBudget = 64 * 1024;
constexpr int64_t kMaxBudget = int64_t{1} << 30;

struct WatchedLevel {
  char dir[kFsPathMax];
  uint64_t limit;
};

struct BrinkState {
  Spinlock lock;  // taken with TryLock: a check that finds another running skips
  uint32_t cgroup_version = 0;
  int level_count = 0;
  WatchedLevel levels[kMaxWatchedLevels] = {};
  uint64_t rlimit_as = kUnlimited;
  bool commit_strict = false;      // overcommit_memory 2: the commit limit refuses allocations
  uint32_t fired[kKinds] = {};     // per kind, bit i: Config::brink_percent[i] has fired
  uint64_t least_permille = 1000;  // the smallest headroom share seen at the last check
};
constinit BrinkState g_state;

// Limit, headroom and reclaimable bytes under one kind of limit.
struct Room {
  uint64_t limit = 0;
  uint64_t headroom = 0;
  uint64_t reclaimable = kUnknown;
  int level = -1;  // cgroup: the watched level with the least headroom
};

uint64_t ReadNumber(const char* dir, const char* name) {
  char file[kFsPathMax + 32];
  size_t n = std::strlen(dir), m = std::strlen(name);
  if (n + 1 + m + 1 > sizeof(file)) return kUnknown;
  std::memcpy(file, dir, n);
  file[n] = '/';
  std::memcpy(file + n + 1, name, m + 1);
  char buf[64];
  if (ReadSmallFile(file, buf, sizeof(buf)) <= 0) return kUnknown;
  return ParseCgroupValue(buf);
}

// The level with the least headroom; its file pages are read only when that headroom alone is
// below the largest threshold (they can only add to it).
bool MeasureCgroup(uint32_t largest_percent, Room* out) {
  bool v2 = g_state.cgroup_version == format::kCgroupV2;
  for (int i = 0; i < g_state.level_count; ++i) {
    const WatchedLevel& l = g_state.levels[i];
    uint64_t usage = ReadNumber(l.dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    if (usage == kUnknown || usage == kUnlimited) continue;
    uint64_t room = l.limit > usage ? l.limit - usage : 0;
    if (out->level < 0 || room * 1.0 / l.limit < out->headroom * 1.0 / out->limit) {
      *out = Room{l.limit, room, kUnknown, i};
    }
  }
  if (out->level < 0) return false;
  if (static_cast<double>(out->headroom) * 100 >=
      static_cast<double>(largest_percent) * out->limit) {
    return true;
  }
  char file[kFsPathMax + 32];
  const char* dir = g_state.levels[out->level].dir;
  size_t n = std::strlen(dir);
  if (n + sizeof("/memory.stat") > sizeof(file)) return true;
  std::memcpy(file, dir, n);
  std::memcpy(file + n, "/memory.stat", sizeof("/memory.stat"));
  char text[4096];
  if (ReadSmallFile(file, text, sizeof(text)) <= 0) return true;
  // v1's total_* figures cover the level's whole subtree, as v2's figures do.
  uint64_t active = FindKeyValue(text, v2 ? "active_file" : "total_active_file");
  uint64_t inactive = FindKeyValue(text, v2 ? "inactive_file" : "total_inactive_file");
  if (active != kUnknown && inactive != kUnknown) out->reclaimable = active + inactive;
  return true;
}

bool MeasureCommit(Room* out) {
  char path[kFsPathMax];
  const char* root = FsRoot();
  size_t n = std::strlen(root);
  if (n + sizeof("/proc/meminfo") > sizeof(path)) return false;
  std::memcpy(path, root, n);
  std::memcpy(path + n, "/proc/meminfo", sizeof("/proc/meminfo"));
  char text[4096];
  if (ReadSmallFile(path, text, sizeof(text)) <= 0) return false;
  uint64_t limit_kb = FindKeyValue(text, "CommitLimit");
  uint64_t committed_kb = FindKeyValue(text, "Committed_AS");
  if (limit_kb == kUnknown || committed_kb == kUnknown || limit_kb == 0) return false;
  out->limit = limit_kb * 1024;
  out->headroom = limit_kb > committed_kb ? (limit_kb - committed_kb) * 1024 : 0;
  return true;
}

bool MeasureAddressSpace(Room* out) {
  uint64_t resident = 0;
  uint64_t size = StatmBytes(&resident);
  if (size == 0) return false;
  out->limit = g_state.rlimit_as;
  out->headroom = g_state.rlimit_as > size ? g_state.rlimit_as - size : 0;
  return true;
}

// Writes a brink record when `room` is below a threshold that has not fired; re-arms those the
// headroom is above twice of. Returns the headroom's share of the limit, in permille.
uint64_t Judge(uint32_t kind, const Room& room, HeapFigures figures) {
  const Config& c = g_recorder.config;
  uint64_t available = room.headroom;
  if (room.reclaimable != kUnknown) available += room.reclaimable;
  if (available > room.limit) available = room.limit;
  double share = static_cast<double>(available) / static_cast<double>(room.limit);
  int crossed = -1;
  for (int i = 0; i < c.brink_count; ++i) {
    double threshold = c.brink_percent[i] / 100.0;
    if (share < threshold) {
      if ((g_state.fired[kind] & (1u << i)) == 0) crossed = i;
    } else if (share > 2 * threshold) {
      g_state.fired[kind] &= ~(1u << i);
    }
  }
  if (crossed >= 0) {
    g_state.fired[kind] |= (2u << crossed) - 1;  // the larger thresholds are crossed too
    format::BrinkRecord r{};
    r.kind = kind;
    r.percent = c.brink_percent[crossed];
    r.limit_bytes = room.limit;
    r.headroom_bytes = room.headroom;
    r.reclaimable_bytes = room.reclaimable;
    WriteBrink(r, figures);
  }
  return static_cast<uint64_t>(share * 1000);
}

bool HasLimit(uint64_t v) { return v != kUnknown && v != kUnlimited && v != 0; }

// Takes the limits from a headroom snapshot.
void Configure(const HeadroomSnapshot& s) {
  const CgroupReading& cg = s.cgroup;
  g_state.cgroup_version = cg.version;
  g_state.level_count = 0;
  char dir[kFsPathMax];
  if (!CopyString(dir, sizeof(dir), cg.dir)) dir[0] = '\0';
  // cgroup_reader walks from the leaf to the mount point, one path component at a time.
  for (uint32_t i = 0; i < cg.level_count && dir[0] != '\0'; ++i) {
    const format::CgroupLevel& l = cg.levels[i];
    if (HasLimit(l.limit) && g_state.level_count < kMaxWatchedLevels) {
      WatchedLevel& w = g_state.levels[g_state.level_count++];
      CopyString(w.dir, sizeof(w.dir), dir);
      w.limit = l.limit;
    }
    char* slash = std::strrchr(dir, '/');
    if (slash == nullptr) break;
    *slash = '\0';
  }
  g_state.rlimit_as = HasLimit(s.record.rlimit_as_cur) ? s.record.rlimit_as_cur : kUnlimited;
  g_state.commit_strict = s.record.overcommit_memory == 2;
  bool any = g_state.level_count > 0 || g_state.rlimit_as != kUnlimited || g_state.commit_strict;
  g_brink.armed.store(any && g_recorder.config.brink_count > 0, std::memory_order_relaxed);
}

void TakeLimits() {
  HeadroomSnapshot s;
  TakeHeadroom(FsRoot(), 0, /*scan_maps=*/false, &s);
  Configure(s);
}

}  // namespace

void SetUpBrink() {
  g_state.lock.ResetAfterFork();  // also the first call: no check runs yet
  for (uint32_t& f : g_state.fired) f = 0;
  g_state.least_permille = 1000;
  g_brink.armed.store(false, std::memory_order_relaxed);
  if (g_recorder.config.brink_count == 0) return;
  TakeLimits();
  g_brink.budget_bytes.store(0, std::memory_order_relaxed);  // the first recorded call checks
}

void RefreshBrinkLimits(const HeadroomSnapshot& snapshot) {
  if (g_recorder.config.brink_count == 0 || !g_state.lock.TryLock()) return;
  Configure(snapshot);
  g_state.lock.Unlock();
}

void CheckBrink(HeapFigures figures) {
  if (!g_state.lock.TryLock()) {
    g_brink.budget_bytes.store(kMinBudget, std::memory_order_relaxed);
    return;
  }
  const Config& c = g_recorder.config;
  uint64_t least = 1000;
  double least_bytes = static_cast<double>(kMaxBudget) * 32;
  auto judge = [&](uint32_t kind, const Room& room) {
    uint64_t permille = Judge(kind, room, figures);
    if (permille < least) least = permille;
    double available = static_cast<double>(room.headroom) +
                       (room.reclaimable == kUnknown ? 0.0 : static_cast<double>(room.reclaimable));
    if (available < least_bytes) least_bytes = available;
  };
  Room room;
  if (g_state.level_count > 0 && MeasureCgroup(c.brink_percent[0], &room)) {
    judge(format::kBrinkCgroup, room);
  }
  if (g_state.commit_strict && MeasureCommit(&(room = Room{}))) judge(format::kBrinkCommit, room);
  if (g_state.rlimit_as != kUnlimited && MeasureAddressSpace(&(room = Room{}))) {
    judge(format::kBrinkAddressSpace, room);
  }
  g_state.least_permille = least;
  auto budget = static_cast<int64_t>(least_bytes / 32);
  if (budget < kMinBudget) budget = kMinBudget;
  if (budget > kMaxBudget) budget = kMaxBudget;
  g_brink.budget_bytes.store(budget, std::memory_order_relaxed);
  g_state.lock.Unlock();
}

uint64_t BrinkTickNs() {
  if (!g_brink.armed.load(std::memory_order_relaxed)) return UINT64_MAX;
  uint64_t permille = g_state.least_permille;
  if (permille >= 500) return 50'000'000;
  if (permille >= 300) return 20'000'000;
  return 5'000'000;
}

}  // namespace allocwatch::preload
