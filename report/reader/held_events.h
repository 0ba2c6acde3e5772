// report/reader/held_events.h: the heap events a reader has read but not yet handed out.
//
// Offline. Not thread-safe. Events records are added in file order; each is one thread's
// batch, already in time order, and is kept as it was read (a few bytes an event, not a
// decoded struct): its events are decoded when they are handed out. Next() merges the records
// by ticks (a k-way merge over a small heap): the events come in the order a stable sort by
// ticks of everything added would give (ties in the order added). A record whose ticks go back
// somewhere (a thread whose clock went back) is split into runs there; a record the writer
// marked in order is one run, checked as it is decoded (one pass over its bytes, not two). A
// run that begins no earlier than the last run added for the same thread ends waits behind
// it, out of the heap; the end of a run marked in order is not known before it is decoded, so
// the run after it goes into the heap: the heap holds a run per thread and per such record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"

namespace allocwatch::report {

struct HeldEvent {
  format::Event event;  // time_ns in ticks
  uint64_t offset;      // of its Events record in the file
};

class HeldEvents {
 public:
  // Adds the events of the Events record `record` (the whole record, header included, of a
  // recording of version `version`) after every event held so far. A record marked in order
  // (format::kEventsFlagInOrder) is checked as its events are handed out: from the first
  // damage on (a time that goes back included), its events are left out and damage() tells
  // its offset (TakeDamage). Any other record is checked whole first. False, and nothing added,
  // when the record is damaged from its first event on, or checked whole and damaged anywhere. The
  // record's buffer is kept until its last event is handed out, then offered again by
  // TakeBuffer.
  bool Add(std::vector<uint8_t>&& record, uint64_t offset, uint32_t version);

  // The offset of the first record marked in order found damaged as its events were handed
  // out since the last call, if any (its events before the damage were handed out).
  std::optional<uint64_t> TakeDamage() {
    std::optional<uint64_t> out = damaged_;
    damaged_.reset();
    return out;
  }
  // Drops every held event of the records after `offset` (for a reader that stops at a
  // damaged record).
  void DropAfter(uint64_t offset);

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
    bool checked = true;      // by Add; else the whole record, checked as it is decoded
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
  // Decodes r's next event into *e with the checks Add makes: false on damage, a call out of
  // range or a time before `previous`.
  [[gnu::always_inline]] static bool DecodeChecked(Run& r, uint64_t previous, format::Event* e) {
    return format::DecodeValidEvent(r.state, r.p, r.end, format::kMaxCall, e) &&
           e->time_ns >= previous;
  }
  // Add() of a record marked in order: one run, checked as it is decoded.
  bool AddInOrder(std::vector<uint8_t>&& record, uint64_t offset, const format::EventsRecord& head,
                  format::EventCodecState state);
  // Keeps a record's buffer for `runs` runs; returns its index in buffers_.
  uint32_t KeepBuffer(std::vector<uint8_t>&& record, uint32_t runs);
  // Adds a run whose head is decoded: behind its thread's last run, or into the heap.
  void AddRun(Run r);
  // Notes run r's record as damaged (the first in the file is kept).
  void Damaged(const Run& r);
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
  std::optional<uint64_t> damaged_;
};

}  // namespace allocwatch::report
