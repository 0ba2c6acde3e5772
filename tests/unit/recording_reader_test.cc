// tests/unit/recording_reader_test.cc: the record codec, the reader's handling of damage, and
// the replay into per-stack figures, on recordings written here byte by byte.
#include "report/reader/recording_reader.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"
#include "recording_builder.h"
#include "report/replay/model.h"

namespace fmt = allocwatch::format;
using allocwatch::report::LoadProcess;
using allocwatch::report::ReadError;
using allocwatch::report::RecordingReader;
using allocwatch::unit_test::Builder;

namespace {

Builder ExactRun() {
  Builder b(1);
  b.Stack(1, {0x401000, 0x402000});
  b.Stack(2, {0x403000});
  b.Alloc(10, 0xA000, 100, 1);
  b.Alloc(20, 0xB000, 200, 1);
  b.Alloc(30, 0xC000, 50, 2);
  b.Unknown();
  b.Free(40, 0xB000);
  b.Free(50, 0xDEAD);  // never recorded: counted apart, changes nothing
  b.End(60);
  return b;
}

}  // namespace

TEST_CASE("replay gives exact per-stack figures in exact mode", "[reader]") {
  Builder b = ExactRun();
  std::string path = b.Write();
  auto m = LoadProcess(path);
  CHECK(m.pid == 100);
  CHECK(m.exact);
  CHECK(m.argv == std::vector<std::string>{"test", "arg"});
  CHECK(m.ending == allocwatch::report::Ending::kExit);
  CHECK(m.warnings.empty());
  auto& s1 = m.per_stack.at({1});
  CHECK(s1.alloc_count == 2);
  CHECK(s1.alloc_bytes == 300);
  CHECK(s1.live_count == 1);
  CHECK(s1.live_bytes == 100);
  auto& s2 = m.per_stack.at({2});
  CHECK(s2.live_bytes == 50);
  CHECK(m.totals.live_bytes == 150);
  CHECK(m.peak_live_bytes == 350);
  CHECK(m.peak_time_ns == 30);
  CHECK(m.at_peak.at({1}).live_bytes == 300);
  CHECK(m.unknown_frees == 1);
  CHECK(m.stacks.at({1}).size() == 2);
  unlink(path.c_str());
}

TEST_CASE("a truncated recording is read up to the damage, with a warning", "[reader]") {
  Builder b = ExactRun();
  // Cut into the middle of the End record and the last free: 40 + 13 bytes short.
  std::string path = b.Write(53);
  auto m = LoadProcess(path);
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0].find("truncated") != std::string::npos);
  CHECK(m.warnings[0].find("offset") != std::string::npos);
  CHECK(m.ending == allocwatch::report::Ending::kCutShort);
  CHECK(m.totals.live_bytes == 150);  // the free at t=40 survived, the End did not
  unlink(path.c_str());
}

TEST_CASE("a record with an impossible size stops the reader", "[reader]") {
  Builder b(1);
  b.Stack(1, {0x1});
  b.Alloc(10, 0xA000, 100, 1);
  std::string path = b.Write();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    fmt::RecordHeader bad{static_cast<uint16_t>(fmt::RecordType::kAlloc), 0, 12};  // not 8-aligned
    f.seekp(static_cast<std::streamoff>(b.size()));
    f.write(reinterpret_cast<const char*>(&bad), sizeof(bad));
  }
  RecordingReader reader(path);
  int records = 0;
  while (reader.Next()) ++records;
  CHECK(records == 3);
  REQUIRE(reader.warning().has_value());
  CHECK(reader.warning()->find("damaged") != std::string::npos);
  unlink(path.c_str());
}

TEST_CASE("an events record marked in order is used up to its damage, with a warning", "[reader]") {
  auto alloc = [](uint64_t t, uint64_t address, uint64_t size) {
    fmt::Event e{};
    e.kind = fmt::EventKind::kAlloc;
    e.call = 1;
    e.tid = 1;
    e.time_ns = t;
    e.address = address;
    e.size = size;
    e.stack_id = 1;
    e.sample_bytes = 1;
    return e;
  };
  fmt::Event free_a{};
  free_a.kind = fmt::EventKind::kFree;
  free_a.call = 10;
  free_a.tid = 1;
  free_a.time_ns = 30;
  free_a.address = 0xA000;
  Builder b(1);
  b.Stack(1, {0x1});
  const size_t offset = b.size();
  // The third event's time goes back: damage in a record marked in order, a thread's clock
  // that went back in one that is not.
  const uint16_t flags = GENERATE(uint16_t{0}, fmt::kEventsFlagInOrder);
  b.Events({alloc(10, 0xA000, 100), alloc(20, 0xB000, 200), alloc(15, 0xC000, 400), free_a}, flags);
  b.Clock(100, 100);
  b.Events({alloc(110, 0xD000, 800)}, fmt::kEventsFlagInOrder);
  b.Clock(200, 200);
  b.End(300);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  if (flags == 0) {
    CHECK(m.warnings.empty());
    CHECK(m.totals.live_bytes == 200 + 400 + 800);
    CHECK(m.ending == allocwatch::report::Ending::kExit);
  } else {
    REQUIRE(m.warnings.size() == 1);
    CHECK_THAT(m.warnings[0],
               Catch::Contains("damaged events record at offset " + std::to_string(offset)));
    CHECK(m.totals.alloc_count == 2);  // the events before the damage, nothing after it
    CHECK(m.totals.live_bytes == 100 + 200);
    CHECK(m.ending == allocwatch::report::Ending::kCutShort);
  }
  unlink(path.c_str());
}

TEST_CASE("files that are not recordings are refused with a clear error", "[reader]") {
  CHECK_THROWS_WITH(RecordingReader("/nonexistent/x.awtrace"), Catch::Contains("cannot open"));
  char path[] = "/tmp/allocwatch-unit-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(write(fd, "#!/bin/sh\necho hello\n", 21) == 21);
  close(fd);
  CHECK_THROWS_WITH(RecordingReader(path), Catch::Contains("not an allocwatch recording"));
  Builder b(Builder::HeaderOnly{});
  std::string future = b.Write();
  {
    std::fstream f(future, std::ios::in | std::ios::out | std::ios::binary);
    uint32_t version = 99;
    f.seekp(8);
    f.write(reinterpret_cast<const char*>(&version), 4);
  }
  CHECK_THROWS_WITH(RecordingReader(future), Catch::Contains("version 99"));
  // A header and nothing else: no process record.
  CHECK_THROWS_WITH(LoadProcess(b.Write()), Catch::Contains("no process record"));
  unlink(path);
  unlink(future.c_str());
}

TEST_CASE("sampled figures are weighted by 1/p", "[reader]") {
  const uint64_t period = 1000;
  Builder b(period);
  b.Stack(1, {0x1});
  b.Alloc(1, 0x100, 100, 1);   // p = 1-exp(-0.1)
  b.Alloc(2, 0x200, 5000, 1);  // >= T: weight 1
  b.End(3);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  double w = 1.0 / -std::expm1(-0.1);
  CHECK_FALSE(m.exact);
  CHECK(m.per_stack.at({1}).alloc_count == Approx(w + 1));
  CHECK(m.per_stack.at({1}).live_bytes == Approx(100 * w + 5000));
  unlink(path.c_str());
}

TEST_CASE("compact heap events round-trip and reject damage", "[codec]") {
  using allocwatch::format::DecodeEvent;
  using allocwatch::format::EncodeEvent;
  using allocwatch::format::Event;
  using allocwatch::format::EventCodecState;
  using allocwatch::format::EventKind;
  const std::vector<Event> events = {
      {EventKind::kAlloc, 1, 77, 1000, 0x7f0000001000, 24, 3, 1},
      {EventKind::kAlloc, 2, 77, 1000, 0x7f0000000f00, 1u << 20, 4, 524288},
      {EventKind::kFree, 10, 78, 990, 0x7f0000001000, 0, 0, 0},  // time may step back
      {EventKind::kReallocFree, 3, 78, 5000, 0x10, 0, 0, 0},
      {EventKind::kRestoredAlloc, 3, 78, 5000, 0xffffffffffff0000, UINT64_MAX, UINT32_MAX, 1},
      // Version 5: malloc and free of the previous event's thread and time take the short
      // form; a zero time delta and a period of 1 take no byte in the long one.
      {EventKind::kAlloc, 1, 78, 5000, 0x7f0000002000, 48, 9, 1},
      {EventKind::kFree, 10, 78, 5000, 0x7f0000002000, 0, 0, 0},
      {EventKind::kAlloc, 2, 78, 5000, 0x7f0000002000, 64, 300, 1},
      {EventKind::kAlloc, 1, 78, 6000, 0x7f0000003000, 64, 300, 1},
      {EventKind::kAlloc, 1, 78, 6000, 0x7f0000003000, 64, 300, 2},
  };
  std::vector<uint8_t> buf(events.size() * allocwatch::format::kMaxEventBytes);
  EventCodecState enc;
  enc.last_time = 1000;
  uint8_t* p = buf.data();
  std::vector<size_t> sizes;
  for (const Event& e : events) {
    uint8_t* start = p;
    p = EncodeEvent(enc, e, p);
    sizes.push_back(static_cast<size_t>(p - start));
  }
  buf.resize(p - buf.data());
  CHECK(buf.size() < events.size() * 16);  // compact: a few bytes per event
  // The short forms: tag, address delta (6 bytes here) and, for the allocation, lengths, size
  // and stack; the free: tag and a delta of 0.
  CHECK(sizes[5] == 1 + 6 + 1 + 1 + 1);
  CHECK(sizes[6] == 1 + 1);
  // Long forms without the time (calloc) and with it, both without the period.
  CHECK(sizes[7] == 1 + 1 + 1 + 1 + 1 + 2);
  CHECK(sizes[8] == 1 + 1 + 2 + 2 + 1 + 1 + 2);
  CHECK(sizes[9] == 1 + 1 + 1 + 1 + 1 + 2 + 1);

  EventCodecState dec;
  dec.last_time = 1000;
  const uint8_t* q = buf.data();
  for (const Event& want : events) {
    Event got{};
    REQUIRE(DecodeEvent(dec, q, buf.data() + buf.size(), &got));
    CHECK(got.kind == want.kind);
    CHECK(got.call == want.call);
    CHECK(got.tid == want.tid);
    CHECK(got.time_ns == want.time_ns);
    CHECK(got.address == want.address);
    CHECK(got.size == want.size);
    CHECK(got.stack_id == want.stack_id);
    CHECK(got.sample_bytes == want.sample_bytes);
  }
  CHECK(q == buf.data() + buf.size());

  // Every truncation fails cleanly instead of reading past the end.
  for (size_t cut = 0; cut + 1 < buf.size(); ++cut) {
    EventCodecState s;
    const uint8_t* r = buf.data();
    const uint8_t* end = buf.data() + cut;
    int decoded = 0;
    Event e{};
    while (DecodeEvent(s, r, end, &e)) ++decoded;
    CHECK(r <= end);
    CHECK(decoded < static_cast<int>(events.size()));
  }
  // A reader of a version-4 recording takes the short form and the new bits for damage.
  {
    EventCodecState v4;
    v4.version = 4;
    v4.last_time = 1000;
    const uint8_t* r = buf.data();
    const uint8_t* end = buf.data() + buf.size();
    int decoded = 0;
    Event e{};
    while (DecodeEvent(v4, r, end, &e)) ++decoded;
    CHECK(decoded == 0);  // the first event already has no time byte
  }
  // An unknown kind is damage.
  uint8_t bad[2] = {0x07, 0x00};
  const uint8_t* b = bad;
  EventCodecState s;
  Event e{};
  CHECK_FALSE(DecodeEvent(s, b, bad + 2, &e));
}

TEST_CASE("version 2 heap events (LEB128 varints) are still read", "[codec]") {
  using allocwatch::format::DecodeEvent;
  using allocwatch::format::Event;
  using allocwatch::format::EventCodecState;
  using allocwatch::format::EventKind;
  // An allocation on thread 77 (tid varint), time +3, address 0x1000 (zigzag 0x2000 = 0x80
  // 0x40), size 300 (0xAC 0x02), stack 5, sample_bytes 1; then a free on the same thread, time
  // +1, address delta -0xFF0 (zigzag 0x1FDF = 0xDF 0x3F).
  const uint8_t bytes[] = {0x11, 77, 6, 0x80, 0x40, 0xAC, 0x02, 5, 1, 0x1A, 2, 0xDF, 0x3F};
  EventCodecState s;
  s.version = 2;
  s.last_time = 100;
  const uint8_t* p = bytes;
  Event e{};
  REQUIRE(DecodeEvent(s, p, bytes + sizeof(bytes), &e));
  CHECK(e.kind == EventKind::kAlloc);
  CHECK(e.call == 1);
  CHECK(e.tid == 77);
  CHECK(e.time_ns == 103);
  CHECK(e.address == 0x1000);
  CHECK(e.size == 300);
  CHECK(e.stack_id == 5);
  CHECK(e.sample_bytes == 1);
  REQUIRE(DecodeEvent(s, p, bytes + sizeof(bytes), &e));
  CHECK(e.kind == EventKind::kFree);
  CHECK(e.tid == 77);
  CHECK(e.time_ns == 104);
  CHECK(e.address == 0x10);
  CHECK(p == bytes + sizeof(bytes));
}

// Found by tests/fuzz: an empty stack (depth 0) reached memcpy with a null pointer (UBSan).
TEST_CASE("a stack record of depth 0 is an empty stack", "[reader]") {
  Builder b(1);
  b.Stack(1, {});
  b.Alloc(1, 0x100, 64, 1);
  b.End(2);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  CHECK(m.warnings.empty());
  REQUIRE(m.stacks.count({1}) == 1);
  CHECK(m.stacks.at({1}).empty());
  CHECK(m.per_stack.at({1}).live_bytes == 64);
  unlink(path.c_str());
}

TEST_CASE("a Lost record with the reopen flag becomes a warning", "[reader]") {
  Builder b(1);
  fmt::LostRecord lost{};
  lost.header = {static_cast<uint16_t>(fmt::RecordType::kLost), fmt::kLostFlagReopened,
                 sizeof(lost)};
  lost.time_ns = 5000000;
  b.Raw(&lost, sizeof(lost));
  b.End(6000000);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0] ==
        "the program closed or replaced the recording's descriptor (at 5 ms); allocwatch "
        "reopened the file and went on recording");
  unlink(path.c_str());
}

TEST_CASE("a free timed just before its allocation on another CPU is applied after it",
          "[reader]") {
  // Event times are read without a fence: thread 2's free of 0xA000 may read the counter a few
  // ns before thread 1's allocation of that block did.
  Builder b(1);
  b.Stack(1, {0x401000});
  b.Free(1000, 0xA000, /*tid=*/2);           // 0xA000 is not live yet
  b.Alloc(1010, 0xA000, 100, 1, /*tid=*/1);  // ...its allocation follows within the margin
  b.Alloc(5000, 0xB000, 40, 1, /*tid=*/1);
  b.Free(9000, 0xC000, /*tid=*/2);           // never allocated: a block from before the recording
  b.Alloc(20000, 0xC000, 8, 1, /*tid=*/1);   // far later: a new block, not the one freed
  b.Free(21000, 0xD000, /*tid=*/1);          // from before the recording, and at once...
  b.Alloc(21001, 0xD000, 16, 1, /*tid=*/1);  // ...the same thread's new block there: kept
  b.End(30000);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  auto& s1 = m.per_stack.at({1});
  CHECK(s1.alloc_count == 4);
  CHECK(s1.live_count == 3);  // 0xB000, the later 0xC000 and 0xD000; 0xA000 was freed
  CHECK(s1.live_bytes == 64);
  CHECK(m.unknown_frees == 2);
  unlink(path.c_str());
}

TEST_CASE("an allocation timed just before the free of the block it replaces keeps its block",
          "[reader]") {
  Builder b(1);
  b.Stack(1, {0x401000});
  b.Stack(2, {0x402000});
  b.Alloc(100, 0xA000, 100, 1, /*tid=*/1);
  b.Alloc(5000, 0xA000, 30, 2, /*tid=*/3);  // thread 2's free of the first block is timed later
  b.Free(5005, 0xA000, /*tid=*/2);
  b.Alloc(9000, 0xB000, 10, 2, /*tid=*/3);
  b.Alloc(12000, 0xB000, 20, 2, /*tid=*/3);  // a lost free; far from any other event
  b.Free(20000, 0xB000, /*tid=*/2);          // frees the newer block
  b.End(30000);
  std::string path = b.Write();
  auto m = LoadProcess(path);
  CHECK(m.per_stack.at({1}).live_count == 0);
  auto& s2 = m.per_stack.at({2});
  CHECK(s2.live_count == 1);  // the block allocated at 5000 is still live
  CHECK(s2.live_bytes == 30);
  unlink(path.c_str());
}
