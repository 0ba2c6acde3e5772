// report/reader/held_events.cc: see held_events.h.
#include "report/reader/held_events.h"

#include <algorithm>

namespace allocwatch::report {

void HeldEvents::Truncate(size_t size) {
  if (size >= events_.size()) return;
  events_.resize(size);
  while (!run_starts_.empty() && run_starts_.back() >= size) run_starts_.pop_back();
}

void HeldEvents::Release(uint64_t up_to, std::vector<HeldEvent>& out) {
  out.clear();
  if (events_.empty()) return;
  if (run_starts_.size() > 1) return Merge(up_to, out);
  // One run: the events released are a prefix of it, and only the rest is copied.
  auto rest =
      std::upper_bound(events_.begin(), events_.end(), up_to,
                       [](uint64_t ticks, const HeldEvent& e) { return ticks < e.event.time_ns; });
  size_t n = static_cast<size_t>(rest - events_.begin());
  out.swap(events_);
  events_.assign(out.begin() + static_cast<std::ptrdiff_t>(n), out.end());
  out.resize(n);
  run_starts_.clear();
  if (!events_.empty()) run_starts_.push_back(0);
}

void HeldEvents::Merge(uint64_t up_to, std::vector<HeldEvent>& out) {
  // The heap's front is the run whose next event comes first: least ticks, then first added.
  auto later = [](const Head& a, const Head& b) {
    return a.ticks != b.ticks ? a.ticks > b.ticks : a.run > b.run;
  };
  cursors_.clear();
  heap_.clear();
  for (size_t r = 0; r < run_starts_.size(); ++r) {
    size_t end = r + 1 < run_starts_.size() ? run_starts_[r + 1] : events_.size();
    cursors_.push_back(Cursor{run_starts_[r], end});
    uint64_t ticks = events_[run_starts_[r]].event.time_ns;
    if (ticks <= up_to) heap_.push_back(Head{ticks, static_cast<uint32_t>(r)});
  }
  std::make_heap(heap_.begin(), heap_.end(), later);
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    uint32_t run = heap_.back().run;
    heap_.pop_back();
    Cursor& c = cursors_[run];
    // Take the run's events as long as they come before every other run's next one (runs of
    // different threads seldom overlap by much), then give the heap the next.
    auto before_others = [&](uint64_t ticks) {
      if (heap_.empty()) return ticks <= up_to;
      const Head& top = heap_.front();
      return ticks < top.ticks || (ticks == top.ticks && run < top.run);
    };
    do {
      out.push_back(events_[c.next++]);
    } while (c.next < c.end && before_others(events_[c.next].event.time_ns));
    if (c.next < c.end && events_[c.next].event.time_ns <= up_to) {
      heap_.push_back(Head{events_[c.next].event.time_ns, run});
      std::push_heap(heap_.begin(), heap_.end(), later);
    }
  }
  // What stays held moves to the front, run by run, still in the order added.
  size_t kept = 0;
  run_starts_.clear();
  for (const Cursor& c : cursors_) {
    if (c.next == c.end) continue;
    run_starts_.push_back(kept);
    std::copy(events_.begin() + static_cast<std::ptrdiff_t>(c.next),
              events_.begin() + static_cast<std::ptrdiff_t>(c.end),
              events_.begin() + static_cast<std::ptrdiff_t>(kept));
    kept += c.end - c.next;
  }
  events_.resize(kept);
}

}  // namespace allocwatch::report
