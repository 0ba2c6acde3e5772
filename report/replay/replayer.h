// report/replay/replayer.h: the replay of one recording into a ProcessModel (internal to
// report/replay/; LoadProcess in model.h is its entry point).
//
// Offline. Not thread-safe. One handler per record type, in one file per concern:
//   replayer.cc        the loop over the records, each record's time, the dispatch, the end
//   model_records.cc   process, modules, threads, stacks, exec, end, lost events, period
//   heap_records.cc    heap blocks (Alloc, Free), with the repair of events timed out of order
//   mapping_records.cc mappings (Mmap, Munmap, Mremap)
//   failure_records.cc failed calls and headroom snapshots
//   series.cc          snapshots, the growth series and the peak
#pragma once

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "report/reader/read_ahead.h"
#include "report/reader/recording_reader.h"
#include "report/replay/model.h"

namespace allocwatch::report::detail {

using format::RecordType;

// The record `r` as a T. The reader hands out only records at least as large as their type's
// fixed part (FixedRecordSize), so T must be r's record type.
template <typename T>
T As(const RawRecord& r) {
  T out;
  std::memcpy(&out, r.bytes.data(), sizeof(T));
  return out;
}

// The heap event an AllocRecord or FreeRecord (`r`, of either type) stands for; an event the
// reader decoded from an Events record as it is.
format::Event HeapEvent(const RawRecord& r);

struct LiveBlock {
  uint64_t size;
  StackId stack;
  double weight;
  uint64_t time_ns;
};

// What one block adds to its stack's estimates: its weight w as the count, w * size as the
// bytes, and their variances (Horvitz-Thompson: w^2 - w, times size^2 for the bytes). A block of
// weight 1, as every block of an exact recording, has none: its figures move without them.
struct BlockFigures {
  BlockFigures(double weight, uint64_t size)
      : count(weight),
        bytes(weight * static_cast<double>(size)),
        count_var(weight == 1.0 ? 0.0 : weight * weight - weight),
        bytes_var(weight == 1.0
                      ? 0.0
                      : count_var * static_cast<double>(size) * static_cast<double>(size)) {}
  bool weighted() const { return count != 1.0; }
  double count, bytes, count_var, bytes_var;
};

// Per-stack state during the replay: the figures, and the live change since the last peak
// (applied to ProcessModel::at_peak when a new peak is reached, so one pass finds both).
struct StackState {
  SiteFigures fig;
  double pend_count = 0, pend_bytes = 0, pend_mapped = 0, pend_count_var = 0, pend_bytes_var = 0;
  int64_t pend_samples = 0;
  uint32_t epoch = UINT32_MAX;  // series sample it was last marked changed for
  bool pending = false;
};

// The last allocation of a thread, while no other allocation or free of that thread followed.
struct LastAlloc {
  uint64_t address = 0;
  StackId stack;
  bool valid = false;
};

// A free whose allocation may come next, or an allocation whose block's free may (see OnFree).
struct Reordered {
  uint64_t time_ns;
  uint32_t tid;
  uint16_t flags;  // the free's
};

// Heap events of different threads are put in time order by the reader from times read
// without a fence (preload/hooks/recorder_state.h): two events of one address on different
// CPUs may come in the wrong order when they were this close.
inline constexpr uint64_t kReorderNs = 2000;
inline constexpr size_t kMaxReordered = 1 << 16;

struct Mapping {
  uint64_t length;
  StackId stack;
  bool reserved = false;   // inaccessible (PROT_NONE): address space, not memory
  bool discarded = false;  // accessible, but given back by madvise since it was made so
};

class Replayer {
 public:
  Replayer(ProcessModel& model, const LoadOptions& options) : m_(&model), options_(options) {
    // Room for some thousand live blocks: a churning program erases and inserts at a high
    // rate, and a small table spends that time clearing its tombstones.
    live_.reserve(4096);
  }
  // A copy of `other`'s state that replays into `model` (a copy of other's model).
  Replayer(const Replayer& other, ProcessModel& model) : Replayer(other) {
    m_ = &model;
    last_alloc_cached_ = nullptr;
    state_cached_ = nullptr;
  }

  // Replays every record `reader` hands out (up to LoadOptions::until_ns) into the model.
  // Throws ReadError when the first record is not a process record, or there is none.
  void Run(RecordingReader& reader) {
    Pump(reader, ReadAhead::Worthwhile());
    Complete(reader.warning());
  }
  // Replays the records `reader` hands out until it has no more (for now: a reader following
  // a recording being written may have more later). Throws ReadError as Run does.
  // `read_ahead`: the reader runs on a second thread meanwhile (read_ahead.h), for when a
  // second CPU is free; the model is the same either way. `cancel`: when it becomes true, the
  // replay stops after the batch of events or the record under way (the next Pump goes on
  // from there). `stop_offset`: it stops so too once the reader has consumed the file up to
  // there (reader.offset()).
  void Pump(RecordingReader& reader, bool read_ahead = false,
            const std::atomic<bool>* cancel = nullptr, uint64_t stop_offset = UINT64_MAX);
  // Ends the replay: the model is complete. `warning` is the reader's, if it stopped early.
  void Complete(const std::optional<std::string>& warning);

 private:
  // replayer.cc
  void Dispatch(const RawRecord& r);
  // Replays heap events the reader decoded (times in ns; `offset`: the Events record of the
  // first); false when one lies past LoadOptions::until_ns (the replay stops there).
  bool ReplayEvents(const format::Event* events, size_t n, uint64_t offset);
  // Replays a record the reader handed out (a heap event too, from NextView); false when it
  // lies past LoadOptions::until_ns.
  bool ReplayRecord(const RawRecord& r);
  // Takes note of a record's or event's time `t` before it is replayed: the run's duration,
  // the growth series' samples due before it. False when it lies past until_ns.
  bool Reached(uint64_t t);
  [[noreturn]] void NoProcessRecord(uint64_t offset);
  void Finish();
  bool Kept(uint64_t time_ns, uint32_t tid) const {
    return time_ns >= options_.since_ns && (!options_.tid || *options_.tid == tid);
  }

  // model_records.cc
  void OnProcess(const RawRecord& r);
  void OnModuleLoad(const RawRecord& r);
  void OnModuleUnload(const RawRecord& r);
  void OnThread(const RawRecord& r);
  void OnStack(const RawRecord& r);
  void OnExec(const RawRecord& r);
  void OnEnd(const RawRecord& r);
  void OnLost(const RawRecord& r);
  void OnRecovered(const RawRecord& r);
  void OnPeriod(const RawRecord& r);
  void OnControl(const RawRecord& r);
  // Maps each return address of a stack to the module that covered it when the stack was
  // recorded (the first such in the order loaded): at once, as the stack is read, since no
  // module loaded later can be that one. `ips`: n return addresses as a Stack record holds
  // them. False when a frame no module covered then (its stack waits in unresolved_).
  bool ResolveFrames(const uint8_t* ips, size_t n, std::vector<RawFrame>& frames);
  // The module covering `ip` among those loaded now (the first in the order loaded), or -1.
  int LoadedModuleAt(uint64_t ip);
  // At the end: a frame no module covered when its stack was recorded gets the first module
  // loaded later that covers it (its module record was written after the stack).
  void ResolveStacks();

  // heap_records.cc: heap events (times in ns), from Events records or, in old recordings,
  // from AllocRecords and FreeRecords (HeapEvent).
  void OnAlloc(const format::Event& e);
  void OnFree(const format::Event& e);
  void FreeAddress(uint64_t address, uint32_t tid, uint16_t flags, uint64_t time_ns);
  void RemoveLive(absl::flat_hash_map<uint64_t, LiveBlock>::iterator it);
  // Takes block `b` out of its stack's and the totals' live figures.
  void Unaccount(const LiveBlock& b);
  // The thread's last allocation (one entry remembered: most events come from the thread of
  // the one before). Entries are only added here, so the pointer kept stays valid.
  LastAlloc& LastAllocOf(uint32_t tid) {
    if (last_alloc_cached_ == nullptr || last_alloc_tid_ != tid) {
      last_alloc_cached_ = &last_alloc_[tid];
      last_alloc_tid_ = tid;
    }
    return *last_alloc_cached_;
  }
  // Forgets the reordering candidates older than kReorderNs (all of them with `all`).
  void ExpireReordered(uint64_t now_ns, bool all);

  // mapping_records.cc
  void OnMmap(const RawRecord& r);
  void OnMunmap(const RawRecord& r);
  void OnMremap(const RawRecord& r);
  void OnProtect(const RawRecord& r);
  void OnAdvise(const RawRecord& r);
  void Map(uint64_t address, uint64_t length, StackId stack, bool reserved);
  // Unmaps [address, address+length); `reserved`, when given, gets whether the range at
  // `address` was inaccessible.
  void Unmap(uint64_t address, uint64_t length, bool* reserved = nullptr);
  // Adds a mapped range's bytes to (sign 1) or takes them from (sign -1) its stack's and the
  // totals' live mapped or reserved figures.
  void CountMapping(const Mapping& m, double bytes, double sign);
  // Calls `change` on each recorded range overlapping [address, address+length); where it
  // returns true, the overlap takes the state it wrote (its length is set here), the rest keeps
  // the old one, and the live figures move with it.
  void Retag(uint64_t address, uint64_t length,
             const std::function<bool(const Mapping&, Mapping*)>& change);
  // The first recorded range that ends after `address`.
  std::map<uint64_t, Mapping>::iterator FirstMappingEndingAfter(uint64_t address);

  // failure_records.cc
  void OnFailure(const RawRecord& r);
  void OnHeadroom(const RawRecord& r);
  void OnBrink(const RawRecord& r);

  // series.cc
  void OnSnapshot(const RawRecord& r);
  void OnMemory(const RawRecord& r);
  // One entry remembered, as long as no stack was added since (an insertion may move them).
  StackState& State(StackId id) {
    if (state_cached_ == nullptr || !(state_cached_id_ == id) ||
        state_cached_size_ != states_.size()) {
      state_cached_ = &states_[id];
      state_cached_id_ = id;
      state_cached_size_ = states_.size();
    }
    return *state_cached_;
  }
  // Marks stack `id`'s live figures changed, for the next series sample and the next peak (its
  // pend_* figures hold the change since the last peak).
  void Touch(StackId id, StackState& st) {
    if (st.epoch != epoch_) {
      st.epoch = epoch_;
      changed_.push_back(id);
    }
    if (!st.pending) {
      st.pending = true;
      pending_.push_back(id);
    }
  }
  // Moves a block's live figures `f` (kSign 1: it became live; -1: it is gone) in its stack's
  // figures, the totals and the change pending for the next peak (heap_records.cc).
  template <int kSign>
  void MoveLive(StackId id, StackState& st, const BlockFigures& f);
  // After a change of the live figures at `time_ns`: a new peak takes the pending changes.
  void TrackPeak(uint64_t time_ns) {
    double total = m_->totals.live_bytes + m_->totals.mapped_live_bytes;
    if (total > m_->peak_live_bytes) NewPeak(total, time_ns);
  }
  void NewPeak(double total, uint64_t time_ns);
  // Takes a series sample at the last grid point at or before `time_ns` when the grid has
  // reached it (before the record of that time is replayed: a sample holds what was live just
  // before its time).
  void SampleSeriesBefore(uint64_t time_ns) {
    if (time_ns >= next_sample_ns_ && time_ns >= options_.since_ns) SampleGrid(time_ns);
  }
  void SampleGrid(uint64_t time_ns);
  void SeriesSample(uint64_t time_ns);
  void HalveSeries();

  ProcessModel* m_;
  LoadOptions options_;
  absl::flat_hash_map<StackId, StackState> states_;
  std::vector<StackId> changed_;  // since the last series sample
  uint32_t epoch_ = 0;
  // The growth series' grid: a sample every sample_step_ns_ of recorded time (doubled each
  // time the series are halved), the next one due at next_sample_ns_.
  uint64_t sample_step_ns_ = kFirstSeriesStepNs;
  uint64_t next_sample_ns_ = 0;
  size_t series_points_ = 0;      // SeriesPoints held, all stacks together
  std::vector<StackId> pending_;  // live change since the last peak
  absl::flat_hash_map<uint32_t, LastAlloc> last_alloc_;
  LastAlloc* last_alloc_cached_ = nullptr;
  uint32_t last_alloc_tid_ = 0;
  StackState* state_cached_ = nullptr;
  StackId state_cached_id_{};
  size_t state_cached_size_ = 0;
  uint64_t position_ = 0;
  std::vector<format::Event> batch_ = std::vector<format::Event>(256);  // Pump's, from the reader
  bool past_until_ = false;        // a record after LoadOptions::until_ns was reached
  uint64_t failure_position_ = 0;  // position of the last failure record
  uint64_t brink_position_ = 0;    // position of the last brink record kept
  bool have_process_ = false;
  absl::flat_hash_map<uint64_t, LiveBlock> live_;
  absl::flat_hash_map<uint64_t, Reordered> parked_;      // frees of addresses not live
  absl::flat_hash_map<uint64_t, Reordered> superseded_;  // allocations over a live block
  std::map<uint64_t, Mapping> mappings_;
  // Stacks with a frame no module covered when they were recorded, and their positions.
  absl::flat_hash_map<StackId, uint64_t> unresolved_;
  // The modules loaded now, by start address, for LoadedModuleAt; rebuilt after a module
  // record (loaded_dirty_). When their ranges overlap, LoadedModuleAt looks at each module.
  struct LoadedRange {
    uint64_t start, end;
    int module;
  };
  std::vector<LoadedRange> loaded_;
  bool loaded_dirty_ = true;
  bool loaded_overlap_ = false;
};

}  // namespace allocwatch::report::detail
