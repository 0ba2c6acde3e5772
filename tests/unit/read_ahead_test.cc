// tests/unit/read_ahead_test.cc: a reader run ahead on its own thread (report::ReadAhead) hands
// out exactly what the reader hands out itself, in the same order, over many chunks, up to
// the damage of a cut recording, across the pauses of a followed one, and stops cleanly when
// its consumer leaves early.
#include "report/reader/read_ahead.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "recording_builder.h"

namespace allocwatch::unit_test {
namespace {

using report::RawRecord;
using report::ReadAhead;
using report::RecordingReader;

// A recording of three threads' heap events (about 60 000, mostly freed again), in Events
// records that interleave in time, with Clock, Stack, Snapshot and unknown records between.
void Fill(Builder& b, uint64_t seed) {
  std::mt19937_64 rng(seed);
  b.Stack(1, {0x1000, 0x2000});
  b.Stack(2, {0x1100});
  uint64_t ticks = 1000;
  std::vector<std::vector<uint64_t>> live(3);
  for (int round = 0; round < 300; ++round) {
    for (uint32_t thread = 0; thread < 3; ++thread) {
      std::vector<fmt::Event> events;
      uint64_t t = ticks + thread;  // the threads' events interleave within the round
      for (int i = 0, n = 1 + static_cast<int>(rng() % 130); i < n; ++i, t += 1 + rng() % 4) {
        fmt::Event e{};
        e.tid = 10 + thread;
        e.time_ns = t;
        std::vector<uint64_t>& mine = live[thread];
        if (!mine.empty() && rng() % 2 == 0) {
          e.kind = fmt::EventKind::kFree;
          e.call = 10;
          e.address = mine.back();
          mine.pop_back();
        } else {
          e.kind = fmt::EventKind::kAlloc;
          e.call = 1;
          e.address = (uint64_t{thread + 1} << 32) + (round * 1000 + i) * 64;
          e.size = 1 + rng() % 300;
          e.stack_id = 1 + rng() % 2;
          e.sample_bytes = 1;
          mine.push_back(e.address);
        }
        events.push_back(e);
      }
      b.Events(events, rng() % 2 == 0 ? fmt::kEventsFlagInOrder : 0);  // either way in order
    }
    ticks += 600;
    if (round % 3 == 2) b.Clock(ticks, ticks * 2);  // two nanoseconds a tick
    if (round % 10 == 0) b.Snapshot(ticks * 2, round);
    if (round % 50 == 0) b.Unknown();
  }
  b.Clock(ticks + 1, (ticks + 1) * 2);
  b.End(ticks * 2 + 10);
}

// One thing handed out, as a comparable string.
std::string Describe(const fmt::Event& e) {
  std::ostringstream s;
  s << "e " << e.time_ns << ' ' << static_cast<int>(e.kind) << ' ' << e.call << ' ' << e.tid << ' '
    << e.address << ' ' << e.size << ' ' << e.stack_id;
  return s.str();
}
std::string Describe(const RawRecord& r) {
  uint64_t sum = 0;
  for (uint8_t byte : r.bytes) sum = sum * 131 + byte;
  std::ostringstream s;
  s << "r " << static_cast<int>(r.type) << ' ' << r.flags << " @" << r.offset << ' '
    << r.bytes.size() << ' ' << sum;
  if (r.event) s << ' ' << Describe(*r.event);
  return s.str();
}
// Everything `reader` hands out, read as the replay reads it without a second thread (at most
// `batch` events at a time). A batch's offset names the Events record of its first event
// only, and batches end in other places: events are compared without it.
std::vector<std::string> ReadPlainly(RecordingReader& reader, size_t batch = 7) {
  std::vector<std::string> out;
  std::vector<fmt::Event> events(batch);
  for (;;) {
    uint64_t offset = 0;
    if (size_t n = reader.NextEvents(events.data(), batch, &offset)) {
      for (size_t i = 0; i < n; ++i) out.push_back(Describe(events[i]));
      continue;
    }
    const RawRecord* r = reader.NextView();
    if (r == nullptr) return out;
    out.push_back(Describe(*r));
  }
}

std::vector<std::string> ReadAheadOf(RecordingReader& reader, size_t* chunks_of_events = nullptr) {
  std::vector<std::string> out;
  ReadAhead ahead(reader);
  const fmt::Event* events = nullptr;
  size_t n = 0;
  uint64_t offset = 0;
  const RawRecord* r = nullptr;
  while (ahead.Next(&events, &n, &offset, &r)) {
    if (n > 0) {
      REQUIRE(r == nullptr);
      if (chunks_of_events != nullptr) ++*chunks_of_events;
      for (size_t i = 0; i < n; ++i) out.push_back(Describe(events[i]));
    } else {
      REQUIRE(r != nullptr);
      out.push_back(Describe(*r));
    }
  }
  CHECK_FALSE(ahead.Next(&events, &n, &offset, &r));  // the end stays the end
  return out;
}

size_t CountEvents(const std::vector<std::string>& items) {
  size_t n = 0;
  for (const std::string& s : items) n += s[0] == 'e';
  return n;
}

}  // namespace

TEST_CASE("read ahead: the same events and records, in the same order, as the reader itself",
          "[read_ahead]") {
  for (uint64_t seed : {1, 2, 3}) {
    Builder b;
    Fill(b, seed);
    std::string path = b.Write();
    RecordingReader plain(path), ahead(path);
    std::vector<std::string> want = ReadPlainly(plain);
    size_t batches = 0;
    std::vector<std::string> got = ReadAheadOf(ahead, &batches);
    REQUIRE(CountEvents(want) > 3 * 4096);  // several chunks' worth
    CHECK(batches > 3);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("item " << i);
      REQUIRE(got[i] == want[i]);
    }
    CHECK(ahead.warning() == plain.warning());
    CHECK(ahead.clean_end());
  }
}

TEST_CASE("read ahead: a cut recording is read up to the damage, with the reader's warning",
          "[read_ahead]") {
  Builder b;
  Fill(b, 9);
  for (size_t cut : {size_t{5}, size_t{300}, b.size() / 2}) {
    std::string path = b.Write(cut);
    RecordingReader plain(path), ahead(path);
    std::vector<std::string> want = ReadPlainly(plain);
    std::vector<std::string> got = ReadAheadOf(ahead);
    CHECK(got == want);
    REQUIRE(plain.warning());
    CHECK(ahead.warning() == plain.warning());
  }
}

TEST_CASE("read ahead: a followed recording, read again after each pause, gives it all",
          "[read_ahead]") {
  Builder full;
  Fill(full, 4);
  std::string whole = full.Write();
  RecordingReader plain(whole);
  std::vector<std::string> want = ReadPlainly(plain);

  Builder empty{Builder::HeaderOnly{}};
  std::string path = empty.Write();
  std::vector<uint8_t> bytes;
  {
    FILE* f = std::fopen(whole.c_str(), "rb");
    REQUIRE(f != nullptr);
    for (int c; (c = std::fgetc(f)) != EOF;) bytes.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
  }
  const size_t header = sizeof(fmt::FileHeader);
  RecordingReader reader(path);
  reader.follow(true);
  std::vector<std::string> got;
  std::mt19937_64 rng(4);
  int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  REQUIRE(fd >= 0);
  for (size_t at = header; at < bytes.size();) {
    size_t n = std::min<size_t>(bytes.size() - at, 1 + rng() % 40000);
    REQUIRE(write(fd, bytes.data() + at, n) == static_cast<ssize_t>(n));
    at += n;
    std::vector<std::string> more = ReadAheadOf(reader);
    got.insert(got.end(), more.begin(), more.end());
  }
  close(fd);
  reader.follow(false);
  std::vector<std::string> rest = ReadAheadOf(reader);
  got.insert(got.end(), rest.begin(), rest.end());
  CHECK(got == want);
  CHECK_FALSE(reader.warning());
}

TEST_CASE("read ahead: a consumer that leaves early stops the reader thread", "[read_ahead]") {
  Builder b;
  Fill(b, 5);
  std::string path = b.Write();
  for (int taken : {0, 1, 5, 60}) {  // the reader thread is blocked on full chunks meanwhile
    RecordingReader reader(path);
    {
      ReadAhead ahead(reader);
      const fmt::Event* events = nullptr;
      size_t n = 0;
      uint64_t offset = 0;
      const RawRecord* r = nullptr;
      for (int i = 0; i < taken; ++i) REQUIRE(ahead.Next(&events, &n, &offset, &r));
    }  // joins here: a reader thread still waiting for room would hang the test
    CHECK(reader.offset() > 0);
  }
}

}  // namespace allocwatch::unit_test
