// preload/hooks/brink.cc: see brink.h.
#include "preload/hooks/brink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
// At most one check per this interval: a process that churns close to its limit pays for a
// check (about 2 us) at most every 250 us however small its budget, and a limit is still
// seen within 256 KiB at 1 GiB/s of growth. Unless the bytes allocated since the last check
// reach an eighth of the headroom it saw: address space (RLIMIT_AS, the commit limit) grows
// by untouched mappings far faster than 1 GiB/s, and a threshold must not be jumped over.
constexpr uint64_t kMinCheckIntervalNs = 250'000;
constexpr double kDeferShareOfHeadroom = 1.0 / 8;
// The file pages of memory.stat (tens of microseconds to read on v1) are read again only after
// this long, and always before a threshold fires.
constexpr uint64_t kStatMaxAgeNs = 20'000'000;

// A usage file kept open (pread at offset 0 reads it anew) above the descriptors programs
// use. Before each read fstat checks that the descriptor is still this file: a program that
// closed it or put a file of its own there gets its descriptor left alone, and the file is
// opened again.
struct UsageFile {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
};

struct WatchedLevel {
  char dir[kFsPathMax];
  uint64_t limit;
  UsageFile usage;
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
  uint64_t last_check_ns = 0;
  uint64_t stat_read_ns = 0;  // when the cached file pages were read (0: never)
  uint64_t stat_reclaimable = kUnknown;
  int stat_level = -1;       // the level they were read at
  uint32_t misses = 0;       // checks in a row that could not read some limit's usage
  int64_t budget_set = 0;    // the budget last stored in g_brink.budget_bytes
  uint64_t since_check = 0;  // bytes counted since the last check
  double defer_limit = 0;    // since_check from which the interval is not waited for
};
constinit BrinkState g_state;

// Limit, headroom and reclaimable bytes under one kind of limit.
struct Room {
  uint64_t limit = 0;
  uint64_t headroom = 0;
  uint64_t reclaimable = kUnknown;
  int level = -1;                   // cgroup: the watched level with the least headroom
  bool reclaimable_cached = false;  // from an earlier read of memory.stat
};

// Under g_state.lock.
void SetBudget(int64_t budget) {
  g_state.budget_set = budget;
  g_brink.budget_bytes.store(budget, std::memory_order_relaxed);
}

bool Ours(const UsageFile& f) {
  struct stat st {};
  return f.fd >= 0 && fstat(f.fd, &st) == 0 && st.st_dev == f.dev && st.st_ino == f.ino;
}

void CloseUsage(UsageFile& f) {
  if (Ours(f)) close(f.fd);
  f.fd = -1;
}

bool OpenUsage(const char* dir, const char* name, UsageFile& f) {
  char file[kFsPathMax + 32];
  size_t n = std::strlen(dir), m = std::strlen(name);
  if (n + 1 + m + 1 > sizeof(file)) return false;
  std::memcpy(file, dir, n);
  file[n] = '/';
  std::memcpy(file + n + 1, name, m + 1);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  f = UsageFile{fd, st.st_dev, st.st_ino};
  return true;
}

// __attribute__((noinline)): preload/base/hook_safe_calls.txt names it.
__attribute__((noinline)) uint64_t ReadUsage(WatchedLevel& l, bool v2) {
  const char* name = v2 ? "memory.current" : "memory.usage_in_bytes";
  if (!Ours(l.usage)) {
    l.usage.fd = -1;  // closed, or the program's now: never touched again
    if (!OpenUsage(l.dir, name, l.usage)) return kUnknown;
  }
  char buf[64];
  ssize_t got = pread(l.usage.fd, buf, sizeof(buf) - 1, 0);
  if (got <= 0) return kUnknown;
  buf[got] = '\0';
  return ParseCgroupValue(buf);
}

// The file pages of a level: memory.stat's active and inactive file (v1: total_*, which cover
// the level's whole subtree, as v2's figures do).
uint64_t ReadReclaimable(const char* dir, bool v2) {
  char file[kFsPathMax + 32];
  size_t n = std::strlen(dir);
  if (n + sizeof("/memory.stat") > sizeof(file)) return kUnknown;
  std::memcpy(file, dir, n);
  std::memcpy(file + n, "/memory.stat", sizeof("/memory.stat"));
  char text[4096];
  if (ReadSmallFile(file, text, sizeof(text)) <= 0) return kUnknown;
  uint64_t active = FindKeyValue(text, v2 ? "active_file" : "total_active_file");
  uint64_t inactive = FindKeyValue(text, v2 ? "inactive_file" : "total_inactive_file");
  return active != kUnknown && inactive != kUnknown ? active + inactive : kUnknown;
}

// The level with the least headroom; its file pages are read only when that headroom alone is
// below the largest threshold (they can only add to it), and taken from the last read when it
// is recent and `fresh` is not asked for.
bool MeasureCgroup(uint32_t largest_percent, uint64_t now_ns, bool fresh, Room* out) {
  bool v2 = g_state.cgroup_version == format::kCgroupV2;
  for (int i = 0; i < g_state.level_count; ++i) {
    WatchedLevel& l = g_state.levels[i];
    uint64_t usage = ReadUsage(l, v2);
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
  if (!fresh && g_state.stat_level == out->level && g_state.stat_read_ns != 0 &&
      now_ns < g_state.stat_read_ns + kStatMaxAgeNs) {
    out->reclaimable = g_state.stat_reclaimable;
    out->reclaimable_cached = true;
    return true;
  }
  out->reclaimable = ReadReclaimable(g_state.levels[out->level].dir, v2);
  g_state.stat_level = out->level;
  g_state.stat_read_ns = now_ns;
  g_state.stat_reclaimable = out->reclaimable;
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

double Share(const Room& room) {
  uint64_t available = room.headroom;
  if (room.reclaimable != kUnknown) available += room.reclaimable;
  if (available > room.limit) available = room.limit;
  return static_cast<double>(available) / static_cast<double>(room.limit);
}

// The smallest threshold `share` is newly below (one that has not fired), or -1.
int Crossed(uint32_t kind, double share) {
  const Config& c = g_recorder.config;
  int crossed = -1;
  for (int i = 0; i < c.brink_count; ++i) {
    if (share < c.brink_percent[i] / 100.0 && (g_state.fired[kind] & (1u << i)) == 0) crossed = i;
  }
  return crossed;
}

// Writes a brink record when `room` is below a threshold that has not fired; re-arms those the
// headroom is above twice of. Returns the headroom's share of the limit, in permille.
uint64_t Judge(uint32_t kind, const Room& room, HeapFigures figures) {
  const Config& c = g_recorder.config;
  double share = Share(room);
  int crossed = Crossed(kind, share);
  for (int i = 0; i < c.brink_count; ++i) {
    if (share > 2 * (c.brink_percent[i] / 100.0)) g_state.fired[kind] &= ~(1u << i);
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
  int old_count = g_state.level_count;
  g_state.level_count = 0;
  char dir[kFsPathMax];
  if (!CopyString(dir, sizeof(dir), cg.dir)) dir[0] = '\0';
  // cgroup_reader walks from the leaf to the mount point, one path component at a time.
  for (uint32_t i = 0; i < cg.level_count && dir[0] != '\0'; ++i) {
    const format::CgroupLevel& l = cg.levels[i];
    if (HasLimit(l.limit) && g_state.level_count < kMaxWatchedLevels) {
      WatchedLevel& w = g_state.levels[g_state.level_count++];
      if (std::strcmp(w.dir, dir) != 0) {  // another level here than before: its own file
        CloseUsage(w.usage);
        CopyString(w.dir, sizeof(w.dir), dir);
        g_state.stat_read_ns = 0;
      }
      w.limit = l.limit;
    }
    char* slash = std::strrchr(dir, '/');
    if (slash == nullptr) break;
    *slash = '\0';
  }
  for (int i = g_state.level_count; i < old_count; ++i) {
    CloseUsage(g_state.levels[i].usage);
    g_state.levels[i].dir[0] = '\0';
  }
  g_state.rlimit_as = HasLimit(s.record.rlimit_as_cur) ? s.record.rlimit_as_cur : kUnlimited;
  g_state.commit_strict = s.record.overcommit_memory == 2;
  bool any = g_state.level_count > 0 || g_state.rlimit_as != kUnlimited || g_state.commit_strict;
  g_brink.armed.store(any && g_recorder.config.brink_count > 0, std::memory_order_relaxed);
}

}  // namespace

void SetUpBrink(const HeadroomSnapshot& limits) {
  g_state.lock.ResetAfterFork();  // also the first call: no check runs yet
  for (uint32_t& f : g_state.fired) f = 0;
  g_state.least_permille = 1000;
  g_state.last_check_ns = 0;
  g_state.stat_read_ns = 0;
  g_state.misses = 0;
  g_brink.armed.store(false, std::memory_order_relaxed);
  if (g_recorder.config.brink_count == 0) return;
  Configure(limits);
  g_state.since_check = 0;
  g_state.defer_limit = 0;
  SetBudget(0);  // the first recorded call checks
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
  // The bytes counted since the budget was stored (it ran down to zero or below).
  int64_t spent = g_state.budget_set - g_brink.budget_bytes.load(std::memory_order_relaxed);
  if (spent > 0) g_state.since_check += static_cast<uint64_t>(spent);
  uint64_t now = MonotonicNs();
  if (g_state.last_check_ns != 0 && now < g_state.last_check_ns + kMinCheckIntervalNs &&
      static_cast<double>(g_state.since_check) < g_state.defer_limit) {
    SetBudget(kMinBudget);
    g_state.lock.Unlock();
    return;
  }
  g_state.last_check_ns = now;
  g_state.since_check = 0;
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
  // A limit that could not be read now (a file being rewritten, a descriptor taken) is tried
  // again soon, not after the budget of the other limits.
  bool missed = false;
  Room room;
  if (g_state.level_count > 0) {
    if (MeasureCgroup(c.brink_percent[0], now, false, &room)) {
      // A threshold fires on file pages read now, never on an earlier reading.
      if (room.reclaimable_cached && Crossed(format::kBrinkCgroup, Share(room)) >= 0) {
        MeasureCgroup(c.brink_percent[0], now, true, &(room = Room{}));
      }
      judge(format::kBrinkCgroup, room);
    } else {
      missed = true;
    }
  }
  if (g_state.commit_strict) {
    if (MeasureCommit(&(room = Room{}))) {
      judge(format::kBrinkCommit, room);
    } else {
      missed = true;
    }
  }
  if (g_state.rlimit_as != kUnlimited) {
    if (MeasureAddressSpace(&(room = Room{}))) {
      judge(format::kBrinkAddressSpace, room);
    } else {
      missed = true;
    }
  }
  if (!missed || least < g_state.least_permille) g_state.least_permille = least;
  // Retried after 64 KiB, then twice as much each time it fails again (a file that stays
  // unreadable costs nothing for long).
  g_state.misses = missed ? g_state.misses + 1 : 0;
  if (missed) {
    double retry = static_cast<double>(kMinBudget) *
                   (1u << (g_state.misses < 15 ? g_state.misses - 1 : 14)) * 32;
    if (retry < least_bytes) least_bytes = retry;
  }
  g_state.defer_limit = least_bytes * kDeferShareOfHeadroom;
  auto budget = static_cast<int64_t>(least_bytes / 32);
  if (budget < kMinBudget) budget = kMinBudget;
  if (budget > kMaxBudget) budget = kMaxBudget;
  SetBudget(budget);
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
