// tests/preload/leaks_test.cc: exact-mode leaks from known call sites (programs/leaks.cc).
#include <catch2/catch.hpp>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using report::Ending;

constexpr double kCallocBlocks = 3, kCallocSize = 300000;
constexpr double kChains = 4;
constexpr double kNewArrays = 5, kNewArraySize = 777;
constexpr double kChurn = 50;
constexpr double kBig = 1 << 20;

TEST_CASE("exact-mode leaks are attributed to their call sites with exact figures", "[leaks]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({PROGRAM_LEAKS}, Exact(out_dir));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  CHECK(run.out == "leaks done: 3 calloc, 4 realloc chains, 5 new[]\n");
  CHECK(run.err.empty());

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  CHECK(Basename(files[0]) == "leaks." + std::to_string(run.pid) + ".awtrace");
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.pid == static_cast<uint32_t>(run.pid));
  CHECK(model.ppid == static_cast<uint32_t>(getpid()));
  CHECK(model.exact);
  CHECK(model.sample_bytes == 1);
  CHECK_FALSE(model.fork_child);
  CHECK(model.ending == Ending::kExit);
  CHECK(model.warnings.empty());
  CHECK(model.failures.empty());
  CHECK(model.lost_events == 0);
  CHECK(model.unknown_frees == 0);
  CHECK(model.totals.mmap_calls == 0);  // glibc's own mmap for the big blocks is not hooked

  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));

  SECTION("calloc above the mmap threshold, never freed") {
    std::vector<const report::Site*> found = sites.Of("leak_calloc");
    REQUIRE(found.size() == 1);
    const report::Site& s = *found[0];
    CHECK(SiteFrame(s).line == MarkerLine("leaks.cc", "leak_calloc"));
    CHECK(s.figures.live_count == kCallocBlocks);
    CHECK(s.figures.live_bytes == kCallocBlocks * kCallocSize);
    CHECK(s.figures.alloc_count == kCallocBlocks);
    CHECK(s.figures.alloc_bytes == kCallocBlocks * kCallocSize);
  }

  SECTION("realloc chain: the leak belongs to the last realloc, the earlier steps are freed") {
    CHECK(sites.Of("leak_realloc_chain").size() == 4);
    struct Step {
      const char* marker;
      double size;
      bool leaks;
    };
    for (Step step :
         {Step{"chain_malloc", 16, false}, Step{"chain_realloc_100", 100, false},
          Step{"chain_realloc_1000", 1000, false}, Step{"chain_realloc_5000", 5000, true}}) {
      INFO("step " << step.marker);
      const report::Site* s = sites.At("leak_realloc_chain", MarkerLine("leaks.cc", step.marker));
      REQUIRE(s != nullptr);
      CHECK(s->figures.alloc_count == kChains);
      CHECK(s->figures.alloc_bytes == kChains * step.size);
      CHECK(s->figures.live_count == (step.leaks ? kChains : 0));
      CHECK(s->figures.live_bytes == (step.leaks ? kChains * step.size : 0));
    }
  }

  SECTION("operator new[]: the site is the caller, behind the C++ runtime's frames") {
    std::vector<const report::Site*> found = sites.Of("leak_new_array");
    REQUIRE(found.size() == 1);
    const report::Site& s = *found[0];
    INFO("frames:\n" << DescribeFrames(s.frames));
    CHECK(SiteFrame(s).line == MarkerLine("leaks.cc", "leak_new_array"));
    CHECK(s.figures.live_count == kNewArrays);
    CHECK(s.figures.live_bytes == kNewArrays * kNewArraySize);
    CHECK(s.figures.alloc_count == kNewArrays);
    // The innermost frame is libstdc++'s operator new (operator new[] tail-calls it, so only
    // operator new has a frame), skipped as runtime.
    REQUIRE(s.site_frame == 1);
    CHECK(s.frames[0].runtime);
    CHECK(s.frames[0].function.rfind("operator new", 0) == 0);
    CHECK(Basename(s.frames[0].module).rfind("libstdc++.so", 0) == 0);
  }

  SECTION("freed allocations are not live") {
    report::SiteFigures churn = sites.Sum("freed_churn");
    CHECK(sites.Of("freed_churn").size() == 5);
    CHECK(churn.alloc_count == 4 * kChurn + 1);
    // malloc(64+i) + new char[200] + new int + calloc(4, 1000), then malloc(1 MiB).
    CHECK(churn.alloc_bytes == (64 * kChurn + (kChurn - 1) * kChurn / 2) + 200 * kChurn +
                                   sizeof(int) * kChurn + 4000 * kChurn + kBig);
    CHECK(churn.live_count == 0);
    CHECK(churn.live_bytes == 0);
    for (const report::Site* s : sites.Of("freed_churn")) CHECK(s->figures.live_samples == 0);
  }

  SECTION("nothing else is live but glibc's stdout buffer") {
    // The program's only output is one printf in report_results(); stdout is a regular file,
    // so glibc mallocs one buffer of st_blksize bytes (_IO_file_doallocate) and keeps it to
    // the end. The site is report_results (first frame outside libc); the allocating frame
    // is in libc. No other allocation by the runtime is recorded: libstdc++'s start-up
    // allocations happen before liballocwatch's constructor starts the recording.
    std::vector<const report::Site*> out = sites.Of("report_results");
    REQUIRE(out.size() == 1);
    const report::Site& buffer = *out[0];
    INFO("frames:\n" << DescribeFrames(buffer.frames));
    CHECK(buffer.figures.live_count == 1);
    CHECK(buffer.figures.alloc_count == 1);
    CHECK(buffer.figures.live_bytes == static_cast<double>(run.stdout_blksize));
    REQUIRE(!buffer.frames.empty());
    CHECK(buffer.frames[0].runtime);
    CHECK(Basename(buffer.frames[0].module).rfind("libc.so", 0) == 0);

    CHECK(sites.Functions() == std::set<std::string>{"leak_calloc", "leak_realloc_chain",
                                                     "leak_new_array", "freed_churn",
                                                     "report_results"});
    const double program_live =
        kCallocBlocks * kCallocSize + kChains * 5000 + kNewArrays * kNewArraySize;
    CHECK(model.totals.live_bytes == program_live + static_cast<double>(run.stdout_blksize));
    CHECK(model.totals.live_count == kCallocBlocks + kChains + kNewArrays + 1);
    CHECK(model.totals.alloc_count ==
          kCallocBlocks + 4 * kChains + kNewArrays + 4 * kChurn + 1 + 1);
    // The peak is while the 1 MiB block lives: the three leaks so far plus that block (stdout
    // has no buffer yet).
    CHECK(model.peak_live_bytes == program_live + kBig);
  }

  SECTION("the recording ends cleanly; exact mode lists no heap blocks at exit") {
    RawRecording raw = ReadRecords(files[0]);
    CHECK(raw.clean_end);
    CHECK_FALSE(raw.warning.has_value());
    // Every heap event is in the file, so the reader's replay is the live list.
    std::vector<format::LiveEntry> live = LiveEntries(raw);
    for (const format::LiveEntry& e : live) CHECK(e.kind == format::kLiveKindMmap);
    REQUIRE(!raw.records.empty());
    REQUIRE(raw.records.back().type == format::RecordType::kEnd);
    auto end = As<format::EndRecord>(raw.records.back());
    CHECK(end.live_count == live.size());
    CHECK(end.reason == format::kEndReasonExit);
    CHECK(end.lost_events == 0);
  }
}

// programs/wrappers.c: a block taken through xmalloc (as GCC's libiberty names its wrapper) is
// its caller's leak, as one taken through operator new is; xmalloc's frame is still shown.
TEST_CASE("leaks through a well-known allocation wrapper belong to the wrapper's caller",
          "[leaks]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  report::ProcessModel model =
      report::LoadProcess(RunForOneRecording({PROGRAM_WRAPPERS}, Exact(out_dir)).recording);
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));
  CHECK(sites.Of("xmalloc").empty());
  std::vector<const report::Site*> kept = sites.Of("keep_site");
  REQUIRE(kept.size() == 1);
  CHECK(kept[0]->figures.live_count == 10);
  CHECK(kept[0]->figures.live_bytes == 10 * 1000);
  REQUIRE(kept[0]->site_frame >= 1);
  CHECK(kept[0]->frames[kept[0]->site_frame - 1].function == "xmalloc");
  std::vector<const report::Site*> direct = sites.Of("direct_site");
  REQUIRE(direct.size() == 1);
  CHECK(direct[0]->figures.live_count == 3);
}

}  // namespace
}  // namespace allocwatch::preload_test
