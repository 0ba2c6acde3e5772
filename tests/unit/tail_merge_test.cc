// tests/unit/tail_merge_test.cc: the merge of a killed process's tail file into its recording
// (report/reader/tail_merge.h), on recordings and tail files written here byte by byte: what is
// appended for each state the kill can leave (a write cut short, a record cut short, a batch
// being flushed), and that a tail which does not belong, or cannot be read, leaves both files
// as they were. Each merged recording is read back with the real reader.
#include "report/reader/tail_merge.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "fake_tree.h"
#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"
#include "preload/format/tail_format.h"
#include "recording_builder.h"
#include "report/reader/recording_reader.h"

namespace fmt = allocwatch::format;
namespace fs = std::filesystem;
using allocwatch::report::MergeTail;
using allocwatch::report::ProcessStillRunning;
using allocwatch::report::RecordingReader;
using allocwatch::report::TailMerge;
using allocwatch::report::TailPathFor;
using allocwatch::test::FakeTree;
using allocwatch::unit_test::Builder;
using Outcome = TailMerge::Outcome;
using Bytes = std::vector<uint8_t>;

namespace {

// Above PID_MAX_LIMIT (2^22): no process has it, so the recorded process is surely gone.
constexpr uint32_t kDeadPid = 4194400;
constexpr uint64_t kStartRealtime = 1'700'000'000'000'000'000;
const std::string kGoneExe = "/nonexistent/allocwatch-subject";

std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string s;
  std::getline(in, s);
  return s;
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

// The recorded process's start, in the past of every merge (its ClockRecord needs that).
uint64_t StartMonotonic() {
  static const uint64_t start = MonotonicNs() / 2;
  return start;
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes Prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + n); }

// The bytes of the records `add` puts after a file header (the header itself not included).
Bytes RecordsOf(const std::function<void(Builder&)>& add) {
  Builder b{Builder::HeaderOnly{}};
  add(b);
  Bytes all = ReadFile(b.Write());
  return Bytes(all.begin() + sizeof(fmt::FileHeader), all.end());
}

// A process record as the library writes it, with the strings ProcessStillRunning looks at.
void AddProcess(Builder& b, uint32_t pid, const std::string& exe, uint64_t start_realtime) {
  std::string cmdline("subject\0", 8), kernel = "6.1.0", boot = BootId();
  fmt::ProcessRecord r{};
  uint64_t strings = exe.size() + cmdline.size() + kernel.size() + boot.size();
  r.header = fmt::MakeHeader(fmt::RecordType::kProcess, sizeof(r) + strings);
  r.pid = pid;
  r.ppid = 1;
  r.start_realtime_ns = start_realtime;
  r.start_monotonic_ns = StartMonotonic();
  r.sample_bytes = 1;
  r.page_size = 4096;
  r.flags = fmt::kProcessFlagExact;
  r.exe_size = static_cast<uint32_t>(exe.size());
  r.cmdline_size = static_cast<uint32_t>(cmdline.size());
  r.kernel_size = static_cast<uint32_t>(kernel.size());
  r.boot_id_size = static_cast<uint32_t>(boot.size());
  Bytes bytes(r.header.size, 0);
  std::memcpy(bytes.data(), &r, sizeof(r));
  std::string text = exe + cmdline + kernel + boot;
  std::memcpy(bytes.data() + sizeof(r), text.data(), text.size());
  b.Raw(bytes.data(), bytes.size());
}

// A heap event of the killed process: allocations at 0xE000 + 0x100 i, times after its start.
fmt::Event HeapEvent(int i, fmt::EventKind kind = fmt::EventKind::kAlloc) {
  fmt::Event e{};
  e.kind = kind;
  bool alloc = fmt::IsAllocKind(kind);
  e.call = static_cast<uint16_t>(alloc ? fmt::Call::kMalloc : fmt::Call::kFree);
  e.tid = 7;
  e.time_ns = StartMonotonic() + 1000 * static_cast<uint64_t>(i + 1);
  e.address = 0xE000 + 0x100 * static_cast<uint64_t>(i);
  e.size = alloc ? 16 * static_cast<uint64_t>(i + 1) : 0;
  e.stack_id = alloc ? 1 : 0;
  e.sample_bytes = alloc ? 1 : 0;
  return e;
}

// The free of the block at `address`, at the time of event i.
fmt::Event FreeEvent(int i, uint64_t address) {
  fmt::Event e = HeapEvent(i, fmt::EventKind::kFree);
  e.address = address;
  return e;
}

// A tail file, laid out as tail_format.h says and filled as the library fills it.
class Tail {
 public:
  Tail(uint32_t pid, uint64_t start_realtime)
      : bytes_(fmt::kTailHeaderBytes + fmt::kTailWriterBytes, 0) {
    fmt::TailHeader h{};
    std::memcpy(h.magic, fmt::kTailMagic, sizeof(h.magic));
    h.version = fmt::kTailVersion;
    h.pid = pid;
    h.start_realtime_ns = start_realtime;
    h.tick_source = fmt::kTickSourceMonotonic;
    Put(0, h);
  }

  fmt::TailHeader Header() const { return Get<fmt::TailHeader>(0); }
  void EditHeader(const std::function<void(fmt::TailHeader&)>& edit) {
    fmt::TailHeader h = Header();
    edit(h);
    Put(0, h);
  }

  // The writer's region holds `region`, the records after the recording's first `offset` bytes.
  void Writer(uint64_t offset, const Bytes& region) {
    REQUIRE(region.size() <= fmt::kTailWriterBytes);
    std::copy(region.begin(), region.end(), bytes_.begin() + fmt::kTailHeaderBytes);
    EditHeader([&](fmt::TailHeader& h) {
      h.writer_offset = offset;
      h.writer_used = region.size();
    });
  }

  // A new slot holding `events`, encoded as an event buffer encodes them. Returns its index.
  uint32_t Slot(const std::vector<fmt::Event>& events, uint32_t flushing = 0) {
    auto i = static_cast<uint32_t>(ends_.size());
    bytes_.resize(fmt::TailSlotOffset(i) + fmt::kTailSlotBytes, 0);
    fmt::TailSlotHeader s{};
    s.base_time = events.empty() ? 0 : events[0].time_ns;
    fmt::EventCodecState codec{s.base_time, 0, 0, false};
    uint8_t* data = Data(i);
    uint8_t* p = data;
    ends_.emplace_back();
    for (const fmt::Event& e : events) {
      p = fmt::EncodeEvent(codec, e, p);
      ends_.back().push_back(static_cast<uint32_t>(p - data));
    }
    s.count = static_cast<uint32_t>(events.size());
    s.used = static_cast<uint32_t>(p - data);
    s.flushing = flushing;
    Put(fmt::TailSlotOffset(i), s);
    EditHeader([&](fmt::TailHeader& h) { h.slot_count = i + 1; });
    return i;
  }
  void EditSlot(uint32_t i, const std::function<void(fmt::TailSlotHeader&)>& edit) {
    auto s = Get<fmt::TailSlotHeader>(fmt::TailSlotOffset(i));
    edit(s);
    Put(fmt::TailSlotOffset(i), s);
  }
  // The data bytes at the end of each event of slot i.
  const std::vector<uint32_t>& EventEnds(uint32_t i) const { return ends_.at(i); }

  // The Events record of slot i as the event buffer hands it to the writer (FlushLocked).
  Bytes FlushedRecord(uint32_t i) const {
    auto s = Get<fmt::TailSlotHeader>(fmt::TailSlotOffset(i));
    fmt::EventsRecord r{};
    r.header = fmt::MakeHeader(fmt::RecordType::kEvents, sizeof(r) + s.used);
    r.base_time_ns = s.base_time;
    r.count = s.count;
    r.bytes = s.used;
    Bytes out(r.header.size, 0);
    std::memcpy(out.data(), &r, sizeof(r));
    std::memcpy(out.data() + sizeof(r),
                bytes_.data() + fmt::TailSlotOffset(i) + fmt::kTailSlotDataOffset, s.used);
    return out;
  }

  const Bytes& bytes() const { return bytes_; }

 private:
  template <typename T>
  T Get(uint64_t at) const {
    T v;
    std::memcpy(&v, bytes_.data() + at, sizeof(v));
    return v;
  }
  template <typename T>
  void Put(uint64_t at, const T& v) {
    std::memcpy(bytes_.data() + at, &v, sizeof(v));
  }
  uint8_t* Data(uint32_t i) {
    return bytes_.data() + fmt::TailSlotOffset(i) + fmt::kTailSlotDataOffset;
  }

  Bytes bytes_;
  std::vector<std::vector<uint32_t>> ends_;
};

// A recording read back through the real reader.
struct Readback {
  std::vector<uint64_t> allocs;  // addresses, in the order handed out
  std::vector<uint64_t> frees;
  int processes = 0;
  int snapshots = 0;
  int recovered_records = 0;
  fmt::RecoveredRecord recovered{};
  bool clean_end = false;
  bool warned = false;
};

Readback ReadBack(const std::string& path) {
  Readback out;
  RecordingReader reader(path);
  // Next(), not NextView(): heap events come as the AllocRecords and FreeRecords they stand for.
  while (std::optional<allocwatch::report::RawRecord> r = reader.Next()) {
    switch (r->type) {
      case fmt::RecordType::kProcess:
        ++out.processes;
        break;
      case fmt::RecordType::kSnapshot:
        ++out.snapshots;
        break;
      case fmt::RecordType::kAlloc: {
        fmt::AllocRecord a;
        std::memcpy(&a, r->bytes.data(), sizeof(a));
        out.allocs.push_back(a.address);
        break;
      }
      case fmt::RecordType::kFree: {
        fmt::FreeRecord f;
        std::memcpy(&f, r->bytes.data(), sizeof(f));
        out.frees.push_back(f.address);
        break;
      }
      case fmt::RecordType::kRecovered:
        ++out.recovered_records;
        std::memcpy(&out.recovered, r->bytes.data(), sizeof(out.recovered));
        break;
      default:
        break;
    }
  }
  out.clean_end = reader.clean_end();
  out.warned = reader.warning().has_value();
  return out;
}

// The record types of `bytes` from `offset` on, walked by their headers.
std::vector<fmt::RecordType> TypesFrom(const Bytes& bytes, size_t offset) {
  std::vector<fmt::RecordType> types;
  while (offset + sizeof(fmt::RecordHeader) <= bytes.size()) {
    fmt::RecordHeader h;
    std::memcpy(&h, bytes.data() + offset, sizeof(h));
    if (h.size < sizeof(h) || offset + h.size > bytes.size()) break;
    types.push_back(static_cast<fmt::RecordType>(h.type));
    offset += h.size;
  }
  return types;
}

// The last record of `bytes`, a RecoveredRecord after a merge.
fmt::RecoveredRecord LastRecovered(const Bytes& bytes) {
  fmt::RecoveredRecord r{};
  REQUIRE(bytes.size() >= sizeof(r));
  std::memcpy(&r, bytes.data() + bytes.size() - sizeof(r), sizeof(r));
  REQUIRE(r.header.type == static_cast<uint16_t>(fmt::RecordType::kRecovered));
  return r;
}

void CheckRecovered(const fmt::RecoveredRecord& r, const TailMerge& m) {
  CHECK(r.writer_bytes == m.writer_bytes);
  CHECK(r.events == m.events);
  CHECK(r.batches == m.batches);
  CHECK(r.duplicates == m.duplicates);
  CHECK(r.torn_bytes == m.torn_bytes);
  CHECK(r.merged_realtime_ns > kStartRealtime);
}

const std::vector<fmt::RecordType> kEventsClockRecovered = {
    fmt::RecordType::kEvents, fmt::RecordType::kClock, fmt::RecordType::kRecovered};

// A killed run in a temporary directory: the recording's first records (`head`, file header
// included) were written; the writer's region held the next ones (`region`).
struct KilledRun {
  explicit KilledRun(uint32_t pid = kDeadPid, const std::string& exe = kGoneExe,
                     uint64_t start_realtime = kStartRealtime)
      : tail(pid, start_realtime) {
    Builder b{Builder::HeaderOnly{}};
    AddProcess(b, pid, exe, start_realtime);
    b.Stack(1, {0x401000});
    b.Alloc(10, 0xA000, 100, 1);
    b.Snapshot(20);
    head = ReadFile(b.Write());
    region = RecordsOf([](Builder& r) {
      r.Alloc(30, 0xA100, 200, 1);
      r.Free(40, 0xA000);
      r.Alloc(50, 0xA200, 300, 1);
      r.Snapshot(60);
    });
    whole = Concat(head, region);
  }

  void Write(const Bytes& recorded) const {
    WriteFile(recording, recorded);
    WriteFile(tail_path, tail.bytes());
  }
  bool TailExists() const { return fs::exists(tail_path); }
  Bytes Recording() const { return ReadFile(recording); }

  FakeTree dir;
  std::string recording = dir.root() + "/subject.4194400.awtrace";
  std::string tail_path = TailPathFor(recording);
  Bytes head, region, whole;
  Tail tail;
};

const std::vector<uint64_t> kRecordedAllocs = {0xA000, 0xA100, 0xA200};
const std::vector<uint64_t> kRecordedFrees = {0xA000};

}  // namespace

TEST_CASE("tail path: the .awtrace suffix becomes .awtail", "[tail_merge]") {
  CHECK(TailPathFor("/d/app.12.awtrace") == "/d/app.12.awtail");
  CHECK(TailPathFor("/d/app.12.trace").empty());
  CHECK(TailPathFor(".awtrac").empty());
}

TEST_CASE("no tail file, or a name without .awtrace: nothing to merge", "[tail_merge]") {
  KilledRun run;
  WriteFile(run.recording, run.whole);
  CHECK(MergeTail(run.recording).outcome == Outcome::kNoTail);
  CHECK(MergeTail(run.dir.root() + "/other.trace").outcome == Outcome::kNoTail);
  CHECK(run.Recording() == run.whole);
}

TEST_CASE("a write the kill cut short: the region's rest is appended, records read whole",
          "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0), HeapEvent(1), FreeEvent(2, 0xE000)});
  // How much of the region's write reached the recording: none, into its second record (an
  // AllocRecord of 48 bytes, then a FreeRecord), all of it (writer_used not cleared yet).
  size_t written = GENERATE(size_t{0}, size_t{48 + 20}, size_t{48 + 32 + 48 + 80});
  REQUIRE(written <= run.region.size());
  CAPTURE(written);
  run.Write(Concat(run.head, Prefix(run.region, written)));

  TailMerge m = MergeTail(run.recording);
  REQUIRE(m.outcome == Outcome::kMerged);
  CHECK(m.warning.empty());
  CHECK(m.writer_bytes == run.region.size() - written);
  CHECK(m.events == 3);
  CHECK(m.batches == 1);
  CHECK(m.duplicates == 0);
  CHECK(m.torn_bytes == 0);
  CHECK_FALSE(run.TailExists());

  Bytes merged = run.Recording();
  REQUIRE(merged.size() > run.whole.size());
  CHECK(Prefix(merged, run.whole.size()) == run.whole);
  CHECK(TypesFrom(merged, run.whole.size()) == kEventsClockRecovered);
  CheckRecovered(LastRecovered(merged), m);

  Readback r = ReadBack(run.recording);
  CHECK(r.clean_end);
  CHECK_FALSE(r.warned);
  CHECK(r.processes == 1);
  CHECK(r.snapshots == 2);
  CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100});
  CHECK(r.frees == std::vector<uint64_t>{0xA000, 0xE000});
  CHECK(r.recovered_records == 1);
  CHECK(r.recovered.events == 3);
}

TEST_CASE("a kill during the first write: the file header and process record come from the region",
          "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(0, run.whole);  // the library's first write: header, process record, ...
  size_t written = GENERATE(size_t{0}, size_t{10}, size_t{16 + 40});
  CAPTURE(written);
  run.Write(Prefix(run.whole, written));

  TailMerge m = MergeTail(run.recording);
  REQUIRE(m.outcome == Outcome::kMerged);
  CHECK(m.writer_bytes == run.whole.size() - written);
  CHECK(m.torn_bytes == 0);
  CHECK_FALSE(run.TailExists());
  Bytes merged = run.Recording();
  CHECK(Prefix(merged, run.whole.size()) == run.whole);
  CHECK(TypesFrom(merged, run.whole.size()) ==
        std::vector<fmt::RecordType>{fmt::RecordType::kRecovered});
  Readback r = ReadBack(run.recording);
  CHECK(r.clean_end);
  CHECK(r.processes == 1);
  CHECK(r.allocs == kRecordedAllocs);
  CHECK(r.recovered.writer_bytes == run.whole.size() - written);
}

TEST_CASE("a record the kill cut short is dropped and its bytes counted as torn", "[tail_merge]") {
  KilledRun run;
  // A stack record too large for the writer's region, written straight to the recording.
  Bytes big = RecordsOf([](Builder& b) { b.Stack(2, std::vector<uint64_t>(40, 0x402000)); });
  REQUIRE(big.size() == 16 + 40 * 8);
  run.tail.EditHeader([&](fmt::TailHeader& h) {
    h.writer_offset = run.whole.size();
    h.direct_write = 1;
  });
  size_t cut = GENERATE(size_t{4}, size_t{8}, size_t{200});
  CAPTURE(cut);
  run.Write(Concat(run.whole, Prefix(big, cut)));

  TailMerge m = MergeTail(run.recording);
  REQUIRE(m.outcome == Outcome::kMerged);
  CHECK(m.torn_bytes == cut);
  CHECK(m.appended_at == run.whole.size());  // cut back to there, then appended
  CHECK(m.writer_bytes == 0);
  CHECK(m.events == 0);
  CHECK(m.batches == 0);
  CHECK_FALSE(run.TailExists());
  Bytes merged = run.Recording();
  REQUIRE(merged.size() == run.whole.size() + sizeof(fmt::RecoveredRecord));
  CHECK(Prefix(merged, run.whole.size()) == run.whole);
  CheckRecovered(LastRecovered(merged), m);
  Readback r = ReadBack(run.recording);
  CHECK(r.clean_end);
  CHECK_FALSE(r.warned);
  CHECK(r.allocs == kRecordedAllocs);
  CHECK(r.frees == kRecordedFrees);
  CHECK(r.recovered.torn_bytes == cut);
}

TEST_CASE("a batch being flushed at the kill is merged once", "[tail_merge]") {
  KilledRun run;
  SECTION("already in the recording, alone: nothing to add but the Recovered record") {
    uint32_t s = run.tail.Slot({HeapEvent(0), HeapEvent(1)}, /*flushing=*/1);
    Bytes recorded = Concat(run.whole, run.tail.FlushedRecord(s));
    run.tail.EditHeader([&](fmt::TailHeader& h) { h.writer_offset = recorded.size(); });
    run.Write(recorded);
    TailMerge m = MergeTail(run.recording);
    CHECK(m.outcome == Outcome::kMerged);
    CHECK(m.duplicates == 1);
    CHECK(m.events == 0);
    CHECK(m.batches == 0);
    CHECK(m.appended_at == recorded.size());
    CHECK_FALSE(run.TailExists());
    Bytes merged = run.Recording();
    CHECK(Prefix(merged, recorded.size()) == recorded);
    // No Clock record: no events were added.
    CHECK(TypesFrom(merged, recorded.size()) ==
          std::vector<fmt::RecordType>{fmt::RecordType::kRecovered});
    CheckRecovered(LastRecovered(merged), m);
    Readback r = ReadBack(run.recording);
    CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100});
    CHECK(r.recovered.events == 0);
    CHECK(r.recovered.duplicates == 1);
  }
  SECTION("already in the recording, with another thread's batch: only that one is added") {
    uint32_t s = run.tail.Slot({HeapEvent(0), HeapEvent(1)}, /*flushing=*/1);
    run.tail.Slot({HeapEvent(2)});
    Bytes recorded = Concat(run.whole, run.tail.FlushedRecord(s));
    run.tail.EditHeader([&](fmt::TailHeader& h) { h.writer_offset = recorded.size(); });
    run.Write(recorded);
    TailMerge m = MergeTail(run.recording);
    REQUIRE(m.outcome == Outcome::kMerged);
    CHECK(m.duplicates == 1);
    CHECK(m.events == 1);
    CHECK(m.batches == 1);
    Bytes merged = run.Recording();
    CHECK(Prefix(merged, recorded.size()) == recorded);
    CHECK(TypesFrom(merged, recorded.size()) == kEventsClockRecovered);
    CheckRecovered(LastRecovered(merged), m);
    Readback r = ReadBack(run.recording);
    CHECK(r.clean_end);
    CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100, 0xE200});
  }
  SECTION("in the writer's region, not yet written: appended with the region, once") {
    uint32_t s = run.tail.Slot({HeapEvent(0), HeapEvent(1)}, /*flushing=*/1);
    Bytes region = Concat(run.region, run.tail.FlushedRecord(s));
    run.tail.Writer(run.head.size(), region);
    run.Write(Concat(run.head, Prefix(region, 48)));
    TailMerge m = MergeTail(run.recording);
    REQUIRE(m.outcome == Outcome::kMerged);
    CHECK(m.duplicates == 1);
    CHECK(m.events == 0);
    CHECK(m.batches == 0);
    CHECK(m.writer_bytes == region.size() - 48);
    Bytes merged = run.Recording();
    CHECK(Prefix(merged, run.head.size() + region.size()) == Concat(run.head, region));
    CHECK(TypesFrom(merged, run.head.size() + region.size()) ==
          std::vector<fmt::RecordType>{fmt::RecordType::kRecovered});
    Readback r = ReadBack(run.recording);
    CHECK(r.clean_end);
    CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100});
  }
  SECTION("not in the recording (the kill came before the writer took it): merged") {
    run.tail.Slot({HeapEvent(0), HeapEvent(1)}, /*flushing=*/1);
    run.tail.EditHeader([&](fmt::TailHeader& h) { h.writer_offset = run.whole.size(); });
    run.Write(run.whole);
    TailMerge m = MergeTail(run.recording);
    REQUIRE(m.outcome == Outcome::kMerged);
    CHECK(m.duplicates == 0);
    CHECK(m.events == 2);
    CHECK(m.batches == 1);
    Bytes merged = run.Recording();
    CHECK(Prefix(merged, run.whole.size()) == run.whole);
    CHECK(TypesFrom(merged, run.whole.size()) == kEventsClockRecovered);
    Readback r = ReadBack(run.recording);
    CHECK(r.clean_end);
    CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100});
    CHECK(r.recovered.events == 2);
  }
}

TEST_CASE("a tail of another process is left, the recording untouched", "[tail_merge]") {
  KilledRun run;
  SECTION("another pid") {
    run.tail.EditHeader([](fmt::TailHeader& h) { h.pid = kDeadPid + 1; });
  }
  SECTION("the same pid, started at another time (a reused pid)") {
    run.tail.EditHeader([](fmt::TailHeader& h) { h.start_realtime_ns = kStartRealtime + 1; });
  }
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0)});
  Bytes recorded = Concat(run.head, Prefix(run.region, 20));
  run.Write(recorded);
  TailMerge m = MergeTail(run.recording);
  CHECK(m.outcome == Outcome::kLeft);
  CHECK(m.warning.find("belongs to process") != std::string::npos);
  CHECK(run.Recording() == recorded);
  CHECK(ReadFile(run.tail_path) == run.tail.bytes());
}

TEST_CASE("a finished tail is removed, the recording untouched", "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0)});
  run.tail.EditHeader([](fmt::TailHeader& h) { h.finished = 1; });
  run.Write(run.head);
  TailMerge m = MergeTail(run.recording);
  CHECK(m.outcome == Outcome::kRemoved);
  CHECK_FALSE(run.TailExists());
  CHECK(run.Recording() == run.head);
}

TEST_CASE("a recording shorter than the tail's writer_offset is left", "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(run.whole.size(), {});
  run.tail.Slot({HeapEvent(0)});
  run.Write(run.head);
  TailMerge m = MergeTail(run.recording);
  CHECK(m.outcome == Outcome::kLeft);
  CHECK(m.warning.find("shorter") != std::string::npos);
  CHECK(run.Recording() == run.head);
  CHECK(ReadFile(run.tail_path) == run.tail.bytes());
}

TEST_CASE("a second merge finds no tail and changes nothing", "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0), HeapEvent(1)});
  run.Write(Concat(run.head, Prefix(run.region, 60)));
  REQUIRE(MergeTail(run.recording).outcome == Outcome::kMerged);
  Bytes merged = run.Recording();
  TailMerge again = MergeTail(run.recording);
  CHECK(again.outcome == Outcome::kNoTail);
  CHECK(again.warning.empty());
  CHECK(run.Recording() == merged);
  CHECK(ReadBack(run.recording).recovered_records == 1);
}

TEST_CASE("a process still running keeps its tail", "[tail_merge]") {
  // This test's own process, as its recording would name it: pid, executable, boot.
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  auto pid = static_cast<uint32_t>(getpid());
  CHECK(ProcessStillRunning(pid, exe, BootId()));
  CHECK(ProcessStillRunning(pid, "", ""));
  CHECK_FALSE(ProcessStillRunning(pid, kGoneExe, BootId()));  // the pid runs another program
  CHECK_FALSE(ProcessStillRunning(pid, exe, "00000000-0000-0000-0000-000000000000"));
  CHECK_FALSE(ProcessStillRunning(kDeadPid, "", ""));
  CHECK_FALSE(ProcessStillRunning(0, "", ""));

  KilledRun run(pid, exe);
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0)});
  Bytes recorded = Concat(run.head, Prefix(run.region, 20));
  run.Write(recorded);
  TailMerge m = MergeTail(run.recording);
  CHECK(m.outcome == Outcome::kStillRunning);
  CHECK(run.Recording() == recorded);
  CHECK(ReadFile(run.tail_path) == run.tail.bytes());
}

TEST_CASE("a slot's events: only the whole events its count covers are merged", "[tail_merge]") {
  KilledRun run;
  run.tail.EditHeader([&](fmt::TailHeader& h) { h.writer_offset = run.whole.size(); });
  uint32_t s = run.tail.Slot({HeapEvent(0), HeapEvent(1), HeapEvent(2)});
  std::vector<uint32_t> ends = run.tail.EventEnds(s);
  uint64_t expect_torn = 0;
  SECTION("killed between `used` and `count`: the third event is not counted yet") {
    run.tail.EditSlot(s, [](fmt::TailSlotHeader& h) { h.count = 2; });
    expect_torn = ends[2] - ends[1];
  }
  SECTION("`used` ends inside the third event, which `count` claims") {
    run.tail.EditSlot(s, [&](fmt::TailSlotHeader& h) { h.used = ends[1] + 3; });
    expect_torn = 3;
  }
  SECTION("`count` larger than the events in `used`") {
    run.tail.EditSlot(s, [&](fmt::TailSlotHeader& h) {
      h.used = ends[1];
      h.count = 5;
    });
    expect_torn = 0;
  }
  run.Write(run.whole);
  TailMerge m = MergeTail(run.recording);
  REQUIRE(m.outcome == Outcome::kMerged);
  CHECK(m.events == 2);
  CHECK(m.batches == 1);
  CHECK(m.torn_bytes == expect_torn);
  Bytes merged = run.Recording();
  CHECK(Prefix(merged, run.whole.size()) == run.whole);
  REQUIRE(TypesFrom(merged, run.whole.size()) == kEventsClockRecovered);
  fmt::EventsRecord events;
  std::memcpy(&events, merged.data() + run.whole.size(), sizeof(events));
  CHECK(events.count == 2);
  CHECK(events.bytes == ends[1]);
  CheckRecovered(LastRecovered(merged), m);
  Readback r = ReadBack(run.recording);
  CHECK(r.clean_end);
  CHECK_FALSE(r.warned);
  CHECK(r.allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000, 0xE100});
}

TEST_CASE("a tail file that cannot be read is left with a warning", "[tail_merge]") {
  KilledRun run;
  run.tail.Writer(run.head.size(), run.region);
  run.tail.Slot({HeapEvent(0)});
  Bytes recorded = Concat(run.head, Prefix(run.region, 20));
  Bytes tail = run.tail.bytes();
  std::string expect;
  SECTION("empty") {
    tail.clear();
    expect = "too short";
  }
  SECTION("shorter than its header") {
    tail.resize(sizeof(fmt::TailHeader) - 8);
    expect = "too short";
  }
  SECTION("shorter than the header and the writer's region") {
    tail.resize(fmt::kTailHeaderBytes + 1000);
    expect = "too short";
  }
  SECTION("another magic") {
    tail[0] = 'X';
    expect = "not an allocwatch tail file";
  }
  SECTION("another version") {
    uint32_t version = fmt::kTailVersion + 1;
    std::memcpy(tail.data() + offsetof(fmt::TailHeader, version), &version, sizeof(version));
    expect = "version";
  }
  WriteFile(run.recording, recorded);
  WriteFile(run.tail_path, tail);
  TailMerge m = MergeTail(run.recording);
  CHECK(m.outcome == Outcome::kLeft);
  CHECK(m.warning.find(expect) != std::string::npos);
  CHECK(run.Recording() == recorded);
  CHECK(ReadFile(run.tail_path) == tail);
}

TEST_CASE("slots the tail file was cut before are counted in a warning", "[tail_merge]") {
  KilledRun run;
  run.tail.EditHeader([&](fmt::TailHeader& h) { h.writer_offset = run.whole.size(); });
  run.tail.Slot({HeapEvent(0)});
  run.tail.Slot({HeapEvent(1)});
  Bytes tail = run.tail.bytes();
  tail.resize(fmt::TailSlotOffset(1) + 100);  // the second slot cut short
  run.Write(run.whole);
  WriteFile(run.tail_path, tail);
  TailMerge m = MergeTail(run.recording);
  REQUIRE(m.outcome == Outcome::kMerged);
  CHECK(m.events == 1);
  CHECK(m.warning.find("1 event buffers missing") != std::string::npos);
  CHECK(ReadBack(run.recording).allocs == std::vector<uint64_t>{0xA000, 0xA100, 0xA200, 0xE000});
}
