// tests/unit/held_events_test.cc: the reader's held heap events, merged by ticks, against a
// stable sort of everything added (the order the reader gave before the merge).
#include "report/reader/held_events.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

using allocwatch::report::HeldEvent;
using allocwatch::report::HeldEvents;
namespace fmt = allocwatch::format;

namespace {

fmt::Event At(uint64_t ticks, uint64_t id) {
  fmt::Event e{};
  e.kind = fmt::EventKind::kAlloc;
  e.time_ns = ticks;
  e.address = id;  // identifies the event: the order of ties is checked by it
  return e;
}

std::vector<uint64_t> Ids(const std::vector<HeldEvent>& events) {
  std::vector<uint64_t> ids;
  for (const HeldEvent& h : events) ids.push_back(h.event.address);
  return ids;
}

// What the reader handed out before: a stable sort by ticks, then the prefix up to `up_to`.
std::vector<uint64_t> Reference(std::vector<HeldEvent>& pending, uint64_t up_to) {
  std::stable_sort(pending.begin(), pending.end(), [](const HeldEvent& a, const HeldEvent& b) {
    return a.event.time_ns < b.event.time_ns;
  });
  size_t n = 0;
  while (n < pending.size() && pending[n].event.time_ns <= up_to) ++n;
  std::vector<HeldEvent> out(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
  return Ids(out);
}

}  // namespace

TEST_CASE("held events: one run releases its prefix and keeps the rest", "[held_events]") {
  HeldEvents held;
  for (uint64_t t = 1; t <= 5; ++t) held.Add(At(t * 10, t), 0);
  std::vector<HeldEvent> out;
  held.Release(30, out);
  CHECK(Ids(out) == std::vector<uint64_t>{1, 2, 3});
  CHECK(held.size() == 2);
  held.Release(UINT64_MAX, out);
  CHECK(Ids(out) == std::vector<uint64_t>{4, 5});
  CHECK(held.empty());
}

TEST_CASE("held events: runs of two threads interleave by ticks, ties in the order added",
          "[held_events]") {
  HeldEvents held;
  held.Add(At(10, 1), 0), held.Add(At(20, 2), 0), held.Add(At(40, 3), 0);     // thread A's batch
  held.Add(At(20, 4), 64), held.Add(At(30, 5), 64), held.Add(At(50, 6), 64);  // thread B's
  std::vector<HeldEvent> out;
  held.Release(40, out);
  CHECK(Ids(out) == std::vector<uint64_t>{1, 2, 4, 5, 3});
  CHECK(out[2].offset == 64);
  held.Add(At(45, 7), 128);  // a later batch of A: before B's kept event
  held.Release(UINT64_MAX, out);
  CHECK(Ids(out) == std::vector<uint64_t>{7, 6});
}

TEST_CASE("held events: a truncated batch is forgotten with its run", "[held_events]") {
  HeldEvents held;
  held.Add(At(10, 1), 0), held.Add(At(20, 2), 0);
  size_t before = held.size();
  held.Add(At(5, 3), 64), held.Add(At(15, 4), 64);  // a new run, then found damaged
  held.Truncate(before);
  held.Add(At(30, 5), 128);
  std::vector<HeldEvent> out;
  held.Release(UINT64_MAX, out);
  CHECK(Ids(out) == std::vector<uint64_t>{1, 2, 5});
}

TEST_CASE("held events: random batches give what a stable sort gives", "[held_events]") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
  HeldEvents held;
  std::vector<HeldEvent> pending;  // the reference's held events
  std::vector<HeldEvent> out;
  std::vector<uint64_t> thread_clock(1 + rng() % 6, 0);
  uint64_t id = 0, released_up_to = 0;
  for (int round = 0; round < 200; ++round) {
    // A few batches, each one thread's events in order (ticks may repeat).
    int batches = static_cast<int>(rng() % 4);
    for (int b = 0; b < batches; ++b) {
      uint64_t& clock = thread_clock[rng() % thread_clock.size()];
      if (rng() % 20 == 0) clock = clock > 50 ? clock - 50 : 0;  // a clock that went back
      int n = static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        clock += rng() % 4;
        fmt::Event e = At(clock, ++id);
        held.Add(e, static_cast<uint64_t>(round));
        pending.push_back(HeldEvent{e, static_cast<uint64_t>(round)});
      }
    }
    if (rng() % 7 == 0) {  // a damaged batch: added, then truncated away
      size_t before = held.size();
      for (int i = 0; i < 3; ++i) held.Add(At(rng() % 100, 1u << 30), 0);
      held.Truncate(before);
    }
    released_up_to += rng() % 30;
    uint64_t up_to = round == 199 ? UINT64_MAX : released_up_to;
    held.Release(up_to, out);
    REQUIRE(Ids(out) == Reference(pending, up_to));
    REQUIRE(held.size() == pending.size());
  }
  CHECK(held.empty());
}
