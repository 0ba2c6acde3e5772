// report/reader/held_events.h: the heap events a reader has read but not yet handed out.
//
// Offline. Not thread-safe. Events records are added in file order; each is one thread's
// batch, already in time order, and is kept as it was read (a few bytes an event, not a
// decoded struct): its events are decoded when they are handed out. Next() merges the records
// by ticks (a k-way merge over a small heap): the events come in the order a stable sort by
// ticks of everything added would give (ties in the order added). A record whose ticks go back
// somewhere (a thread whose clock went back) is split into runs there. A run that begins no
// earlier than the last run added for the same thread ends waits behind it, out of the heap:
// the heap holds about one run per thread, however many records are held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "preload/format/event_codec.h"

namespace allocwatch::report {

struct HeldEvent {
  format::Event event;  // time_ns in ticks
  uint64_t offset;      // of its Events record in the file
};

class HeldEvents {
 public:
  // Checks that the Events record `record` (the whole record, header included, of a recording
  // of version `version`) decodes whole, then adds its events after every event held so far.
  // False, and nothing added, when it is damaged. The record's buffer is kept until its last
  // event is handed out, then offered again by TakeBuffer.
  bool Add(std::vector<uint8_t>&& record, uint64_t offset, uint32_t version);

  // An empty buffer to read a record into: one given back by the records handed out, when
  // there is one (its memory is reused), else a new one.
  std::vector<uint8_t> TakeBuffer();

  size_t size() const { return held_; }
  bool empty() const { return held_ == 0; }

  // The first held event in ticks order (ties in the order added) when its ticks are <= up_to,
  // into *event and *offset; false otherwise.
  bool Next(uint64_t up_to, format::Event* event, uint64_t* offset);
  bool Next(uint64_t up_to, HeldEvent* out) { return Next(up_to, &out->event, &out->offset); }
  // The next events Next(up_to) would hand out one by one, up to `max` of them, into out[];
  // returns how many (0 when Next would return false). *offset: the Events record of the
  // first. A thread's run of events that no other thread's interleaves is decoded in one
  // loop, without a heap step per event.
  size_t NextBatch(uint64_t up_to, format::Event* out, size_t max, uint64_t* offset);

 private:
  struct Buffer {
    std::vector<uint8_t> bytes;
    uint32_t runs = 0;  // runs still reading it
  };
  // Events of one record in ticks order, decoded one at a time.
  struct Run {
    uint32_t buffer = 0;
    uint32_t left = 0;  // events after `head`
    const uint8_t* p = nullptr;
    const uint8_t* end = nullptr;
    format::EventCodecState state;
    format::Event head{};  // the next event to hand out
    uint64_t offset = 0;
    uint64_t seq = 0;         // in the order added: the tie-break
    uint64_t last_ticks = 0;  // of its last event
    uint32_t tid = 0;         // of its first event: the chain it may join
    uint32_t next = kNoRun;   // the run waiting behind it
  };
  static constexpr uint32_t kNoRun = UINT32_MAX;
  struct Head {
    uint64_t ticks;
    uint64_t seq;  // runs in the order added: the tie-break
    uint32_t run;
  };
  struct RunStart {
    const uint8_t* p;
    format::EventCodecState state;
    uint32_t index;
  };
  static inline bool Later(const Head& a, const Head& b) {
    return a.ticks != b.ticks ? a.ticks > b.ticks : a.seq > b.seq;
  }
  void Retire(uint32_t run);
  // The top run's events are all handed out: the run waiting behind it, if any, takes its
  // place in the heap, else the heap's last entry does.
  void PopTop();
  // Moves heap_[i] down to its place (heap_ is a binary min-heap by Later, front first).
  void SiftDown(size_t i);

  std::vector<Buffer> buffers_;
  std::vector<uint32_t> free_buffers_;
  std::vector<Run> runs_;
  std::vector<uint32_t> free_runs_;
  std::vector<Head> heap_;  // one entry per run with events left
  std::vector<std::vector<uint8_t>> spare_;
  std::vector<RunStart> starts_;    // Add()'s, kept for its memory
  std::vector<uint64_t> run_last_;  // Add()'s: each run's last ticks
  // The last run added for each thread, while it is held: a new run that begins no earlier
  // than it ends waits behind it.
  absl::flat_hash_map<uint32_t, uint32_t> chain_tail_;
  uint64_t seq_ = 0;
  size_t held_ = 0;
};

}  // namespace allocwatch::report
