// tests/unit/held_events_test.cc: the reader's held heap events, merged by ticks, against a
// stable sort of everything added (the order the reader gave before the merge).
#include "report/reader/held_events.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "preload/format/record_format.h"
#include "recording_builder.h"

using allocwatch::report::HeldEvent;
using allocwatch::report::HeldEvents;
namespace fmt = allocwatch::format;

namespace {

// An Events record of one thread holding allocations at `ticks`, the i-th identified by
// address ids[i] (the order of ties is checked by it).
std::vector<uint8_t> Record(const std::vector<uint64_t>& ticks, const std::vector<uint64_t>& ids,
                            uint16_t flags = 0) {
  std::vector<fmt::Event> events;
  for (size_t i = 0; i < ticks.size(); ++i) {
    fmt::Event e{};
    e.kind = fmt::EventKind::kAlloc;
    e.call = 1;
    e.tid = 7;
    e.time_ns = ticks[i];
    e.address = ids[i];
    e.size = 16;
    e.stack_id = 1;
    e.sample_bytes = 1;
    events.push_back(e);
  }
  return allocwatch::unit_test::EventsRecordOf(events, flags);
}

// The Events record header of `record`, changed by `change`.
template <typename Change>
void EditHead(std::vector<uint8_t>& record, Change change) {
  fmt::EventsRecord head;
  std::memcpy(&head, record.data(), sizeof(head));
  change(head);
  std::memcpy(record.data(), &head, sizeof(head));
}

struct Pending {
  uint64_t ticks, id, offset;
};

// Adds a record of `events` (ticks, id) at `offset` to `held` and to the reference list;
// marked in order, as the recorder marks it, when its ticks never go back and `mark`.
void AddBoth(HeldEvents& held, std::vector<Pending>& pending,
             const std::vector<std::pair<uint64_t, uint64_t>>& events, uint64_t offset,
             bool mark = false) {
  std::vector<uint64_t> ticks, ids;
  for (auto [t, id] : events) {
    ticks.push_back(t), ids.push_back(id);
    pending.push_back(Pending{t, id, offset});
  }
  bool in_order = std::is_sorted(ticks.begin(), ticks.end());
  REQUIRE(held.Add(Record(ticks, ids, mark && in_order ? fmt::kEventsFlagInOrder : 0), offset,
                   fmt::kVersion));
}

std::vector<uint64_t> Drain(HeldEvents& held, uint64_t up_to,
                            std::vector<uint64_t>* offsets = nullptr) {
  std::vector<uint64_t> ids;
  HeldEvent h;
  while (held.Next(up_to, &h)) {
    ids.push_back(h.event.address);
    if (offsets != nullptr) offsets->push_back(h.offset);
  }
  return ids;
}

// The same through NextBatch, in batches of at most 1 to `max_batch` events (drawn by `rng`).
std::vector<uint64_t> DrainBatches(HeldEvents& held, uint64_t up_to, std::mt19937_64& rng,
                                   size_t max_batch) {
  std::vector<uint64_t> ids;
  std::vector<fmt::Event> batch(max_batch);
  for (;;) {
    size_t max = 1 + rng() % max_batch;
    uint64_t offset = 0;
    size_t n = held.NextBatch(up_to, batch.data(), max, &offset);
    REQUIRE(n <= max);
    if (n == 0) break;
    for (size_t i = 0; i < n; ++i) ids.push_back(batch[i].address);
  }
  return ids;
}

// What the reader handed out before the merge: a stable sort by ticks, then the prefix up to
// `up_to`.
std::vector<uint64_t> Reference(std::vector<Pending>& pending, uint64_t up_to) {
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.ticks < b.ticks; });
  size_t n = 0;
  while (n < pending.size() && pending[n].ticks <= up_to) ++n;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(pending[i].id);
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
  return ids;
}

}  // namespace

TEST_CASE("held events: one record hands out its prefix and keeps the rest", "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}, {30, 3}, {40, 4}, {50, 5}}, 0);
  CHECK(Drain(held, 30) == std::vector<uint64_t>{1, 2, 3});
  CHECK(held.size() == 2);
  CHECK(Drain(held, UINT64_MAX) == std::vector<uint64_t>{4, 5});
  CHECK(held.empty());
}

TEST_CASE("held events: records of two threads interleave by ticks, ties in the order added",
          "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}, {40, 3}}, 0);   // thread A's batch
  AddBoth(held, pending, {{20, 4}, {30, 5}, {50, 6}}, 64);  // thread B's
  std::vector<uint64_t> offsets;
  CHECK(Drain(held, 40, &offsets) == std::vector<uint64_t>{1, 2, 4, 5, 3});
  CHECK(offsets == std::vector<uint64_t>{0, 0, 64, 64, 0});
  AddBoth(held, pending, {{45, 7}}, 128);  // a later batch of A: before B's kept event
  CHECK(Drain(held, UINT64_MAX) == std::vector<uint64_t>{7, 6});
}

TEST_CASE("held events: a record whose ticks go back is split there", "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {30, 2}, {5, 3}, {40, 4}}, 0);
  CHECK(Drain(held, UINT64_MAX) == std::vector<uint64_t>{3, 1, 2, 4});
}

TEST_CASE("held events: a batch switches threads where another's event comes first",
          "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}, {40, 3}}, 0);
  AddBoth(held, pending, {{20, 4}, {30, 5}, {50, 6}}, 64);
  std::vector<fmt::Event> batch(16);
  uint64_t offset = 99;
  // 2 before 4: a tie goes to the record added first; 6 is past 45.
  REQUIRE(held.NextBatch(45, batch.data(), batch.size(), &offset) == 5);
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < 5; ++i) ids.push_back(batch[i].address);
  CHECK(ids == std::vector<uint64_t>{1, 2, 4, 5, 3});
  CHECK(offset == 0);
  CHECK(held.NextBatch(45, batch.data(), batch.size(), &offset) == 0);
  REQUIRE(held.NextBatch(UINT64_MAX, batch.data(), batch.size(), &offset) == 1);
  CHECK(batch[0].address == 6);
  CHECK(offset == 64);
  CHECK(held.empty());
}

TEST_CASE("held events: a damaged record is refused whole", "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}}, 0);
  std::vector<uint8_t> bad = Record({30, 40}, {3, 4});
  fmt::EventsRecord head;
  std::memcpy(&head, bad.data(), sizeof(head));
  SECTION("cut inside its last event") { head.bytes -= 1; }
  SECTION("claiming more events than it holds") { head.count += 1; }
  SECTION("claiming more bytes than the record") { head.bytes = static_cast<uint32_t>(bad.size()); }
  std::memcpy(bad.data(), &head, sizeof(head));
  CHECK_FALSE(held.Add(std::move(bad), 64, fmt::kVersion));
  CHECK(held.size() == 2);
  CHECK_FALSE(held.Add(std::vector<uint8_t>(8, 0), 128, fmt::kVersion));  // shorter than a head
  CHECK(Drain(held, UINT64_MAX) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("held events: a record marked in order hands out its events up to the damage",
          "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}}, 0);
  std::vector<uint8_t> bad = Record({30, 40, 50}, {3, 4, 5}, fmt::kEventsFlagInOrder);
  std::vector<uint64_t> expected;
  bool damaged = true;
  SECTION("intact") {
    expected = {1, 2, 3, 4, 5};
    damaged = false;
  }
  SECTION("cut inside its last event") {
    EditHead(bad, [](fmt::EventsRecord& h) { h.bytes -= 1; });
    expected = {1, 2, 3, 4};
  }
  SECTION("claiming more events than it holds") {
    EditHead(bad, [](fmt::EventsRecord& h) { h.count += 1; });
    expected = {1, 2, 3, 4, 5};
  }
  SECTION("holding bytes after its last event") {
    EditHead(bad, [](fmt::EventsRecord& h) { h.count -= 1; });
    expected = {1, 2, 3, 4};
  }
  SECTION("a time that goes back") {
    bad = Record({30, 40, 35, 50}, {3, 4, 6, 5}, fmt::kEventsFlagInOrder);
    expected = {1, 2, 3, 4};
  }
  const size_t claimed = [&] {
    fmt::EventsRecord h;
    std::memcpy(&h, bad.data(), sizeof(h));
    return size_t{h.count};
  }();
  REQUIRE(held.Add(std::move(bad), 64, fmt::kVersion));
  CHECK(held.size() == 2 + claimed);
  CHECK(Drain(held, UINT64_MAX) == expected);
  CHECK(held.empty());
  if (!damaged) {
    CHECK_FALSE(held.TakeDamage().has_value());
  } else {
    CHECK(held.TakeDamage() == std::optional<uint64_t>(64));
    CHECK_FALSE(held.TakeDamage().has_value());  // told once
  }
}

TEST_CASE("held events: a record marked in order and damaged from its first event is refused",
          "[held_events]") {
  HeldEvents held;
  std::vector<uint8_t> bad = Record({30, 40}, {3, 4}, fmt::kEventsFlagInOrder);
  bad[sizeof(fmt::EventsRecord)] = 0;  // tag of an unknown kind
  CHECK_FALSE(held.Add(std::move(bad), 0, fmt::kVersion));
  CHECK(held.empty());
  std::vector<uint8_t> no_events = Record({30}, {3}, fmt::kEventsFlagInOrder);
  EditHead(no_events, [](fmt::EventsRecord& h) { h.count = 0; });  // but bytes of one
  CHECK_FALSE(held.Add(std::move(no_events), 0, fmt::kVersion));
}

TEST_CASE("held events: the records after a damaged one can be dropped", "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  AddBoth(held, pending, {{10, 1}, {20, 2}}, 0);
  std::vector<uint8_t> bad = Record({30, 40, 50}, {3, 4, 5}, fmt::kEventsFlagInOrder);
  EditHead(bad, [](fmt::EventsRecord& h) { h.bytes -= 1; });  // its third event is cut
  REQUIRE(held.Add(std::move(bad), 64, fmt::kVersion));
  AddBoth(held, pending, {{35, 6}, {60, 7}}, 128);  // after it in the file
  AddBoth(held, pending, {{45, 8}, {70, 9}}, 192, /*mark=*/true);
  CHECK(Drain(held, 42) == std::vector<uint64_t>{1, 2, 3, 6, 4});
  REQUIRE(held.TakeDamage() == std::optional<uint64_t>(64));
  CHECK(held.size() == 3);
  held.DropAfter(64);
  CHECK(held.empty());
  CHECK(Drain(held, UINT64_MAX).empty());
}

TEST_CASE("held events: the buffers of records handed out are offered again", "[held_events]") {
  HeldEvents held;
  std::vector<Pending> pending;
  CHECK(held.TakeBuffer().capacity() == 0);
  AddBoth(held, pending, {{10, 1}}, 0);
  CHECK(held.TakeBuffer().capacity() == 0);  // still read by its run
  Drain(held, UINT64_MAX);
  std::vector<uint8_t> again = held.TakeBuffer();
  CHECK(again.empty());
  CHECK(again.capacity() > 0);
}

TEST_CASE("held events: random batches give what a stable sort gives", "[held_events]") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
  // 0: one event at a time (Next); else NextBatch, at most this many at a time.
  size_t max_batch = GENERATE(0u, 3u, 64u);
  HeldEvents held;
  std::vector<Pending> pending;  // the reference's held events
  std::vector<uint64_t> thread_clock(1 + rng() % 6, 0);
  uint64_t id = 0, released_up_to = 0;
  for (int round = 0; round < 200; ++round) {
    // A few batches, each one thread's events in order (ticks may repeat).
    int batches = static_cast<int>(rng() % 4);
    for (int b = 0; b < batches; ++b) {
      uint64_t& clock = thread_clock[rng() % thread_clock.size()];
      std::vector<std::pair<uint64_t, uint64_t>> events;
      int n = static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        if (rng() % 40 == 0) clock = clock > 50 ? clock - 50 : 0;  // a clock that went back
        clock += rng() % 4;
        events.emplace_back(clock, ++id);
      }
      AddBoth(held, pending, events, static_cast<uint64_t>(round), rng() % 2 == 0);
    }
    released_up_to += rng() % 30;
    uint64_t up_to = round == 199 ? UINT64_MAX : released_up_to;
    std::vector<uint64_t> out =
        max_batch == 0 ? Drain(held, up_to) : DrainBatches(held, up_to, rng, max_batch);
    REQUIRE(out == Reference(pending, up_to));
    REQUIRE(held.size() == pending.size());
  }
  CHECK(held.empty());
}
