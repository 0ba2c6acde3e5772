// tests/preload/threads_test.cc: 4 threads with cross-thread frees (programs/threads.c).
#include <catch2/catch.hpp>
#include <cstring>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

// Mirrors programs/threads.c.
constexpr int kThreads = 4;
constexpr int kBlocks = 100;
constexpr int kSelfFreed = 40;
constexpr int kChurn = 250;
uint64_t BlockSize(int thread) { return 64 * static_cast<uint64_t>(thread + 1); }
int Leaked(int thread) { return thread + 1; }
int CrossFreed(int thread) { return kBlocks - kSelfFreed - Leaked(thread); }

TEST_CASE("threads allocating and freeing each other's blocks give exact totals", "[threads]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  // A short snapshot interval so the timer thread writes snapshots while the workers run.
  RunOptions options = Exact(out_dir);
  options.interval_ms = 1;
  OneRecordingRun run = RunForOneRecording({PROGRAM_THREADS}, options);
  CHECK(run.run.out == "threads done\n");

  report::ProcessModel model = report::LoadProcess(run.recording);
  CHECK(model.ending == report::Ending::kExit);
  CHECK(model.warnings.empty());
  CHECK(model.lost_events == 0);
  CHECK(model.unknown_frees == 0);
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));

  int leaked_total = 0;
  uint64_t leaked_bytes = 0, allocated_bytes = 0;
  for (int i = 0; i < kThreads; ++i) {
    leaked_total += Leaked(i);
    leaked_bytes += Leaked(i) * BlockSize(i);
    allocated_bytes += kBlocks * BlockSize(i);
  }

  SECTION("program sites") {
    report::SiteFigures alloc = sites.Sum("thread_alloc");
    CHECK(alloc.alloc_count == kThreads * kBlocks);
    CHECK(alloc.alloc_bytes == static_cast<double>(allocated_bytes));
    CHECK(alloc.live_count == leaked_total);
    CHECK(alloc.live_bytes == static_cast<double>(leaked_bytes));
    report::SiteFigures churn = sites.Sum("thread_churn");
    CHECK(churn.alloc_count == kThreads * kChurn);
    CHECK(churn.alloc_bytes == kChurn * (16 + 17 + 18 + 19));
    CHECK(churn.live_count == 0);
  }

  SECTION("totals: the program's blocks plus exactly what pthread_create and stdout keep") {
    // pthread_create (called from main) callocs one block per thread for the thread's DTV
    // (ld.so's allocate_dtv, through the interposed calloc); a joined thread's stack goes to
    // glibc's stack cache with its DTV, so the 4 blocks stay live. All 4 threads are alive at
    // once (the barrier), so no stack is reused. printf in main (compiled to puts) mallocs the
    // stdout buffer (st_blksize bytes), also kept.
    CHECK(sites.Functions() == std::set<std::string>{"thread_alloc", "thread_churn", "main"});
    report::SiteFigures from_main = sites.Sum("main");
    double create_count = 0, create_bytes = 0, buffer_count = 0;
    for (const report::Site* s : sites.Of("main")) {
      INFO("main site frames:\n" << DescribeFrames(s->frames));
      // "__pthread_create_2_1" with glibc's debug info, "pthread_create..." from the symbol table.
      if (HasFunctionContaining(s->frames, "pthread_create")) {
        create_count += s->figures.alloc_count;
        create_bytes += s->figures.alloc_bytes;
        CHECK(s->figures.live_bytes == s->figures.alloc_bytes);  // none freed
      } else {
        CHECK(HasFunctionContaining(s->frames, "_IO_file_doallocate"));
        buffer_count += s->figures.alloc_count;
        CHECK(s->figures.live_bytes == static_cast<double>(run.run.stdout_blksize));
      }
    }
    CHECK(create_count == kThreads);
    CHECK(buffer_count == 1);
    CHECK(from_main.live_count == kThreads + 1);
    CHECK(model.totals.alloc_count == kThreads * kBlocks + kThreads * kChurn + kThreads + 1);
    CHECK(model.totals.live_count == leaked_total + kThreads + 1);
    CHECK(model.totals.live_bytes ==
          static_cast<double>(leaked_bytes + run.run.stdout_blksize) + create_bytes);
    // The call counters of the last snapshot (written at exit, after the workers' per-thread
    // counters were folded in at their exit) count the same calls.
    REQUIRE(!model.snapshots.empty());
    const report::Snapshot& last = model.snapshots.back();
    CHECK(static_cast<double>(last.alloc_calls) == model.totals.alloc_count);
    uint64_t frees = 0;
    for (int i = 0; i < kThreads; ++i) frees += kSelfFreed + kChurn + CrossFreed(i);
    CHECK(last.free_calls == frees);
    CHECK(static_cast<double>(last.alloc_calls - last.free_calls) == model.totals.live_count);
  }

  SECTION("per thread: names, leaks and cross-thread frees from the raw records") {
    // tid -> worker index, from the thread names the workers set before their first malloc.
    std::map<uint32_t, int> worker;
    for (const auto& [tid, name] : model.threads) {
      if (name.rfind("worker", 0) == 0) worker[tid] = std::stoi(name.substr(6));
    }
    REQUIRE(worker.size() == kThreads);

    RawRecording raw = ReadRecords(run.recording);
    REQUIRE(raw.clean_end);
    struct Block {
      uint32_t tid;
      uint64_t size;
    };
    absl::flat_hash_map<uint64_t, Block> live;
    std::map<std::pair<int, int>, int> frees;  // (allocating worker, freeing worker) -> count
    std::map<int, int> alloc_calls;
    for (const report::RawRecord& r : raw.records) {
      if (r.type == format::RecordType::kAlloc) {
        auto a = As<format::AllocRecord>(r);
        live[a.address] = Block{a.tid, a.size};
        if (worker.count(a.tid) != 0) alloc_calls[worker[a.tid]] += 1;
      } else if (r.type == format::RecordType::kFree) {
        auto f = As<format::FreeRecord>(r);
        auto it = live.find(f.address);
        REQUIRE(it != live.end());
        if (worker.count(it->second.tid) != 0 && worker.count(f.tid) != 0) {
          frees[{worker[it->second.tid], worker[f.tid]}] += 1;
        }
        live.erase(it);
      }
    }
    std::map<int, int> leaked_blocks;
    std::map<int, uint64_t> leaked_by;
    for (const auto& [address, block] : live) {
      if (worker.count(block.tid) == 0) continue;
      leaked_blocks[worker[block.tid]] += 1;
      leaked_by[worker[block.tid]] += block.size;
    }
    for (int i = 0; i < kThreads; ++i) {
      INFO("worker " << i);
      CHECK(alloc_calls[i] == kBlocks + kChurn);
      CHECK(leaked_blocks[i] == Leaked(i));
      CHECK(leaked_by[i] == Leaked(i) * BlockSize(i));
      // Its own frees (40 blocks + the churn) and the previous worker's frees of its blocks.
      CHECK(frees[{i, i}] == kSelfFreed + kChurn);
      CHECK(frees[{i, (i + kThreads - 1) % kThreads}] == CrossFreed(i));
    }
    CHECK(frees.size() == 2 * kThreads);  // no other (allocator, freer) pairs
  }
}

// Mirrors programs/handoff.c.
constexpr int kHandoffs = 100000;
constexpr int kHandoffLeaked = 7;

TEST_CASE("a thread that shares clock reads while alone, then hands blocks to another",
          "[threads]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  OneRecordingRun run = RunForOneRecording({PROGRAM_HANDOFF}, Exact(out_dir));
  CHECK(run.run.out == "handoff done\n");

  // Every handed-over block is freed by the consumer, every churned one by its owner: replayed
  // in the reader's order, no free is of an unknown block and nothing of theirs stays live.
  report::ProcessModel model = report::LoadProcess(run.recording);
  CHECK(model.warnings.empty());
  CHECK(model.lost_events == 0);
  CHECK(model.unknown_frees == 0);
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));
  report::SiteFigures handed = sites.Sum("handoff_alloc");
  CHECK(handed.alloc_count == kHandoffs);
  CHECK(handed.live_count == 0);
  CHECK(sites.Sum("owner_churn").live_count == 0);
  CHECK(sites.Sum("owner_churn").alloc_count > 100000);
  report::SiteFigures leak = sites.Sum("leak_site");
  CHECK(leak.live_count == kHandoffLeaked);
  CHECK(leak.live_bytes == kHandoffLeaked * 1000.0);

  // While alone, the main thread gave runs of its events one clock read: many of its events
  // carry the time of its event before them.
  RawRecording raw = ReadRecords(run.recording);
  REQUIRE(raw.clean_end);
  std::map<uint32_t, uint64_t> last_time;
  uint64_t events = 0, shared = 0, backwards = 0;
  uint64_t previous_time = 0;
  for (const report::RawRecord& r : raw.records) {
    if (!r.event) continue;
    const format::Event& e = *r.event;
    if (e.time_ns < previous_time) ++backwards;  // handed out in time order
    previous_time = e.time_ns;
    auto it = last_time.find(e.tid);
    if (it != last_time.end() && it->second == e.time_ns) ++shared;
    last_time[e.tid] = e.time_ns;
    ++events;
  }
  INFO(shared << " of " << events << " events share their thread's previous time");
  CHECK(backwards == 0);
  CHECK(events > 2 * kHandoffs);
  CHECK(shared > events / 4);

  // As written, each Events record is marked in order exactly when no event's time in it is
  // before the one before it (the reader then checks it as it decodes it).
  const std::string bytes = ReadFile(run.recording);
  format::FileHeader file;
  REQUIRE(bytes.size() >= sizeof(file));
  std::memcpy(&file, bytes.data(), sizeof(file));
  int marked = 0, unmarked = 0;
  for (size_t at = file.header_size; at + sizeof(format::RecordHeader) <= bytes.size();) {
    format::RecordHeader h;
    std::memcpy(&h, bytes.data() + at, sizeof(h));
    REQUIRE(h.size >= sizeof(h));
    REQUIRE(at + h.size <= bytes.size());
    if (h.type == static_cast<uint16_t>(format::RecordType::kEvents)) {
      format::EventsRecord head;
      std::memcpy(&head, bytes.data() + at, sizeof(head));
      const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + at + sizeof(head));
      const uint8_t* end = p + head.bytes;
      format::EventCodecState state;
      state.last_time = head.base_time_ns;
      bool back = false;
      uint64_t previous = head.base_time_ns;
      for (uint32_t i = 0; i < head.count; ++i) {
        format::Event e;
        REQUIRE(format::DecodeEvent(state, p, end, &e));
        back = back || e.time_ns < previous;
        previous = e.time_ns;
      }
      CHECK(((h.flags & format::kEventsFlagInOrder) != 0) == !back);
      ++((h.flags & format::kEventsFlagInOrder) != 0 ? marked : unmarked);
    }
    at += h.size;
  }
  INFO(marked << " Events records marked in order, " << unmarked << " not");
  CHECK(marked > 0);
}

}  // namespace
}  // namespace allocwatch::preload_test
