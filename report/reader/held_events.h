// report/reader/held_events.h: the heap events a reader has decoded but not yet handed out.
//
// Offline. Not thread-safe. Events are added in file order; each Events record is one
// thread's batch, already in time order, so they are kept as runs in time order (a new run
// starts only where the ticks go back: another thread's batch, or a thread whose clock went
// back). Release() merges the runs by ticks (a k-way merge over a small heap) instead of
// sorting: the events it hands out come in the order a stable sort by ticks of everything
// added would give (ties in file order), and those it keeps stay runs for the next release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "preload/format/event_codec.h"

namespace allocwatch::report {

struct HeldEvent {
  format::Event event;  // time_ns in ticks
  uint64_t offset;      // of its Events record in the file
};

class HeldEvents {
 public:
  // Adds an event after every event held so far.
  void Add(const format::Event& event, uint64_t offset) {
    if (events_.empty() || event.time_ns < events_.back().event.time_ns) {
      run_starts_.push_back(events_.size());
    }
    events_.push_back(HeldEvent{event, offset});
  }

  size_t size() const { return events_.size(); }
  bool empty() const { return events_.empty(); }

  // Forgets the events added after the first `size` held ones (a damaged Events record's).
  void Truncate(size_t size);

  // Moves the held events with ticks <= up_to into `out` (replacing what it held), in ticks
  // order, ties in the order they were added; the others stay held.
  void Release(uint64_t up_to, std::vector<HeldEvent>& out);

 private:
  // Release() for more than one run.
  void Merge(uint64_t up_to, std::vector<HeldEvent>& out);

  std::vector<HeldEvent> events_;   // the runs, one after another, in the order added
  std::vector<size_t> run_starts_;  // index in events_ of each run's first event
  struct Cursor {
    size_t next, end;
  };
  std::vector<Cursor> cursors_;  // Merge()'s, kept for their memory
  struct Head {
    uint64_t ticks;
    uint32_t run;
  };
  std::vector<Head> heap_;  // likewise
};

}  // namespace allocwatch::report
