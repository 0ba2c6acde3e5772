// report/replay/model.h: one process's recording replayed into figures per call stack.
//
// Offline. Built once by LoadProcess() and then read-only. Estimates: in sampled mode each
// recorded allocation of s bytes stands for 1/p allocations (p = 1-exp(-s/T), p = 1 when
// s >= T); in exact mode every weight is 1 and the figures are exact counts.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "preload/format/record_format.h"

namespace allocwatch::report {

struct StackId {
  uint32_t value = 0;
  friend bool operator==(StackId a, StackId b) { return a.value == b.value; }
  friend bool operator<(StackId a, StackId b) { return a.value < b.value; }
  template <typename H>
  friend H AbslHashValue(H h, StackId id) {
    return H::combine(std::move(h), id.value);
  }
};

struct ModuleInfo {
  uint32_t id = 0;
  std::string path;
  std::string build_id;  // lower-case hex
  uint64_t load_bias = 0;
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t load_position = 0;  // record sequence number of its load
  uint64_t unload_position = UINT64_MAX;
};

// A return address resolved to a module (module < 0 when no module covered it).
struct RawFrame {
  uint64_t address = 0;
  int module = -1;           // index into ProcessModel::modules
  uint64_t elf_address = 0;  // address - load_bias
};

// Figures for one stack (or one site after grouping). Heap and mappings are kept apart.
struct SiteFigures {
  double alloc_count = 0;  // estimated calls
  double alloc_bytes = 0;  // estimated bytes requested
  double live_count = 0;   // estimated blocks live at the end of the data
  double live_bytes = 0;
  uint64_t samples = 0;          // recorded allocations
  uint64_t live_samples = 0;     // recorded allocations still live
  double mapped_bytes = 0;       // bytes mapped accessible: mmap, mremap, mprotect (cumulative)
  double mapped_live_bytes = 0;  // accessible (committed) mapped bytes live, less discarded
  // Mapped but inaccessible (PROT_NONE) bytes live: reserved address space, which holds no
  // memory. Counted apart from mapped_live_bytes and in no peak.
  double reserved_live_bytes = 0;
  // Accessible mapped bytes that madvise gave back (MADV_DONTNEED, MADV_FREE) and nothing made
  // anew since: committed, not resident unless touched again. Counted apart from
  // mapped_live_bytes and in no peak.
  double discarded_live_bytes = 0;
  uint64_t mmap_calls = 0;
  // Estimated variances of the estimates above (Horvitz-Thompson: each recorded allocation of
  // weight w = 1/p adds y^2 * (w^2 - w)); 0 in exact mode.
  double alloc_count_var = 0;
  double alloc_bytes_var = 0;
  double live_count_var = 0;
  double live_bytes_var = 0;
  // Allocations freed by the same thread with no other allocation or free of that thread in
  // between (exact mode only; realloc's release of the old block does not count as a free).
  uint64_t temporary_count = 0;
  // Time of the newest / oldest allocation still live at the end (0 / UINT64_MAX when none).
  uint64_t newest_live_ns = 0;
  uint64_t oldest_live_ns = UINT64_MAX;
  void Add(const SiteFigures& o);
};

// A headroom snapshot (format::HeadroomRecord): limits and usage at one instant.
struct Headroom {
  format::HeadroomRecord record{};
  std::vector<format::CgroupLevel> levels;  // leaf first
  std::string cgroup_path;                  // the leaf's path in its hierarchy
  bool periodic = false;                    // taken with a snapshot (no maps scan)
};

// Live bytes (heap blocks and mappings) of one stack from series sample `sample` on, until the
// next point of the same stack. Only changes are stored.
struct SeriesPoint {
  uint32_t sample = 0;  // index into ProcessModel::series_times_ns
  double live_bytes = 0;
};

// Growth series are sampled on a grid of recorded time, every kFirstSeriesStepNs at first (so
// a run of 0.2 s has 200 samples). They hold at most kMaxSeriesSamples samples (plus the end)
// and kMaxSeriesPoints points over all stacks: past either, every other sample is dropped and
// the grid's step doubles. A run of any length has between a quarter and all of
// kMaxSeriesSamples once it is longer than kMaxSeriesSamples / 4 steps.
inline constexpr uint64_t kFirstSeriesStepNs = 1'000'000;
inline constexpr size_t kMaxSeriesSamples = 512;
inline constexpr size_t kMaxSeriesPoints = size_t{4} << 20;  // 64 MiB

// Failed calls kept one by one; later ones are only counted (failures_total).
inline constexpr size_t kMaxFailuresKept = 100000;

// What LoadProcess keeps. Times are nanoseconds since the process started.
struct LoadOptions {
  uint64_t since_ns = 0;           // allocations before this are left out
  uint64_t until_ns = UINT64_MAX;  // the replay stops here: "live at the end" means live then
  std::optional<uint32_t> tid;     // only allocations (and mappings) made by this thread
};

struct Failure {
  uint64_t time_ns = 0;
  format::Call call{};
  uint64_t args[4] = {};
  int64_t result = 0;
  int error = 0;
  uint32_t tid = 0;
  StackId stack;
  std::optional<Headroom> headroom;  // the snapshot written right after the failure
};

struct Snapshot {
  uint64_t time_ns = 0;
  uint64_t heap_live_bytes = 0;  // the C library's in-use heap (glibc mallinfo2); 0 unknown
  uint64_t alloc_calls = 0;
  uint64_t free_calls = 0;
  uint64_t heap_allocated_bytes = 0;
  uint64_t mmap_live_bytes = 0;
  uint64_t rss_bytes = 0;
  uint64_t vm_size_bytes = 0;
  uint64_t lost_events = 0;
};

// Where the resident memory was at one snapshot (format::MemoryRecord, version 4).
struct MemorySnapshot {
  format::MemoryRecord record{};
  uint64_t rss_bytes = 0;          // the snapshot's (statm) resident figure
  double live_heap_bytes = 0;      // recorded (estimated) live heap bytes at that instant
  double live_heap_bytes_var = 0;  // its variance (0 in exact mode)
  double discarded_bytes = 0;      // recorded mapped bytes given back by madvise then
};

// The headroom under a limit fell below a threshold (format::BrinkRecord): the figures at that
// instant, the headroom snapshot taken with them, and the live figures of every stack then
// (live_count, live_bytes, mapped_live_bytes and their variances; nothing else is kept).
struct Brink {
  format::BrinkRecord record{};
  std::optional<Headroom> headroom;
  absl::flat_hash_map<StackId, SiteFigures> live;
  double live_bytes = 0;  // recorded (estimated) heap + mappings live then
};

// Brinks kept one by one (a limit that keeps coming close fires again each time it recedes).
inline constexpr size_t kMaxBrinksKept = 32;

// kDetach: allocwatch detach ended the recording of an attached process, which went on.
enum class Ending { kExit, kUnderscoreExit, kExec, kCutShort, kDetach };

// What was merged into the recording from the tail file of a killed process (RecoveredRecord).
struct Recovery {
  bool merged = false;
  uint64_t writer_bytes = 0;
  uint64_t events = 0;
  uint64_t batches = 0;
  uint64_t duplicates = 0;
  uint64_t torn_bytes = 0;
};

struct ProcessModel {
  std::string path;  // recording file
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint64_t session_id = 0;
  uint64_t start_realtime_ns = 0;
  uint64_t sample_bytes = 1;
  uint32_t page_size = 4096;
  bool exact = true;
  bool fork_child = false;
  // Recording began at allocwatch attach: blocks allocated before it are not in it.
  bool attached = false;
  std::string exe;
  std::vector<std::string> argv;
  std::string kernel;
  std::string boot_id;

  std::vector<ModuleInfo> modules;
  absl::flat_hash_map<StackId, std::vector<RawFrame>> stacks;
  std::vector<StackId> stack_order;  // the ids of `stacks` in the order their records came
  absl::flat_hash_map<StackId, SiteFigures> per_stack;
  std::map<uint32_t, std::string> threads;  // tid -> name
  std::vector<Failure> failures;            // the first kMaxFailuresKept
  uint64_t failures_total = 0;              // all failed calls kept by the filters
  std::vector<Snapshot> snapshots;
  std::vector<MemorySnapshot> memory;  // one per snapshot of a version 4 recording
  std::vector<Headroom> headrooms;     // periodic headroom snapshots, in time order
  std::vector<Brink> brinks;           // the first kMaxBrinksKept, in time order
  uint64_t brinks_total = 0;
  std::vector<uint64_t> snapshot_positions;  // record sequence number of each snapshot
  // For a recording cut short: live figures per stack as of an earlier snapshot (see
  // growth_since_ns), to show what was growing before the end.
  absl::flat_hash_map<StackId, SiteFigures> before_end;
  uint64_t growth_since_ns = 0;

  SiteFigures totals;
  double peak_live_bytes = 0;  // of recorded (estimated) heap + mappings
  uint64_t peak_time_ns = 0;
  uint64_t peak_position = 0;  // record sequence number at the peak
  // Live figures per stack at the peak (live_*, mapped_live_bytes; alloc_* are not kept).
  absl::flat_hash_map<StackId, SiteFigures> at_peak;
  uint64_t duration_ns = 0;  // time of the last record
  Ending ending = Ending::kCutShort;
  int exit_status = -1;  // for _exit, its argument
  std::string exec_path;
  uint64_t lost_events = 0;
  Recovery recovered;          // from the tail file, after a kill
  uint64_t unknown_frees = 0;  // frees of addresses never recorded (exact mode: before start)
  struct PeriodChange {
    uint64_t time_ns, old_sample_bytes, new_sample_bytes, write_ns, interval_ns;
  };
  std::vector<PeriodChange> period_changes;  // the sampling period doubled under load
  // Recording turned on or off (--paused, allocwatch ctl) and snapshots asked for, in time
  // order (format::ControlRecord). Empty: recorded from start to end.
  struct Control {
    uint64_t time_ns;
    uint32_t command;  // format::kControlReasonStartPaused or format::kControl*
    bool recording;    // after it
  };
  std::vector<Control> controls;
  // [start, end) of each stretch recorded, from `controls` and the end of the data; empty when
  // recording was never turned off.
  std::vector<std::pair<uint64_t, uint64_t>> RecordedWindows() const;
  std::vector<std::string> warnings;

  LoadOptions options;  // what was kept
  // Growth: at every point of the series grid (see kFirstSeriesStepNs) that the records
  // reached, and at the end of the data, the live bytes of every stack that changed since the
  // previous sample, and the recorded live total. A sample holds what was live just before
  // its time.
  std::vector<uint64_t> series_times_ns;
  std::vector<double> series_total_live;
  absl::flat_hash_map<StackId, std::vector<SeriesPoint>> live_series;
  bool truncated_tail = false;    // the data ended inside a record (damage, or still being written)
  bool stopped_at_until = false;  // records after LoadOptions::until_ns were left unread
};

// Live bytes of `points` at every series sample (a step function), added into `out`
// (sized to the number of samples).
void AddSeries(const std::vector<SeriesPoint>& points, std::vector<double>& out);

// Reads and replays a recording. Throws ReadError when the file is not a usable recording;
// damage after the process record becomes a warning in the model. For a recording cut short,
// the file is read a second time up to an earlier snapshot (ProcessModel::before_end).
ProcessModel LoadProcess(const std::string& path, const LoadOptions& options = {});

// A recording read while it is written: each Update() replays only what was appended since the
// last one (whole records; one still being written waits for the next call). Current() gives
// the model of what has been read so far, Finish() the model LoadProcess gives once the writer
// is done. Not thread-safe; it may move between threads.
class FollowedRecording {
 public:
  // Opens the file. Throws ReadError as LoadProcess does.
  explicit FollowedRecording(const std::string& path, const LoadOptions& options = {});
  ~FollowedRecording();
  FollowedRecording(const FollowedRecording&) = delete;
  FollowedRecording& operator=(const FollowedRecording&) = delete;

  // Replays the records appended since the last call. Throws ReadError as LoadProcess does.
  // `read_ahead`: the reader runs on a second thread meanwhile (read_ahead.h). `cancel`: when
  // it becomes true, the replay stops at the next batch of events or record (what was handed
  // out is replayed; the next call goes on from there). `max_bytes`: it stops so too once it
  // has read that many bytes of the file; returns true when it did (more may be ready).
  bool Update(bool read_ahead = false, const std::atomic<bool>* cancel = nullptr,
              uint64_t max_bytes = UINT64_MAX);
  // The model of the records replayed so far, as LoadProcess would give it for a file that
  // ended there, but for the second reading of a recording cut short (before_end stays empty).
  // Events still waiting for their Clock record (the last 100 ms at most) are not in it yet.
  ProcessModel Current() const;
  // The writer is done: replays the rest and gives what LoadProcess(path, options) would.
  // Nothing else may be called after it.
  ProcessModel Finish();
  // The model being replayed, as far as the replay has got: what the process record and the
  // records since set as they come (pid, exe, boot_id, ending, duration_ns, snapshots...); the
  // per-stack figures and stacks are only filled by Current() and Finish().
  const ProcessModel& progress() const;
  // Bytes of the file consumed so far.
  uint64_t offset() const;
  const std::string& path() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Weight of one recorded allocation of `size` bytes under mean sampling period `period`.
double SampledWeight(uint64_t size, uint64_t period);
inline double SampleWeight(uint64_t size, uint64_t period) {
  return period <= 1 || size >= period ? 1.0 : SampledWeight(size, period);
}

const char* CallName(format::Call call);

}  // namespace allocwatch::report
