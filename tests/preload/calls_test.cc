// tests/preload/calls_test.cc: every interposed function, once (programs/all_calls.c).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <map>
#include <string>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using format::Call;

struct HeapSite {
  const char* function;
  double alloc_count;
  double alloc_bytes;
  double live_count;
  double live_bytes;
};

struct FailureCase {
  Call call;
  int error;
  int64_t result;
  const char* function;
};

// "malloc=4 calloc=1 ..." in Call order, for readable failure messages.
std::string Counts(const std::map<Call, int>& counts) {
  std::string out;
  for (const auto& [call, n] : counts) {
    if (!out.empty()) out += ' ';
    out += std::string(report::CallName(call)) + "=" + std::to_string(n);
  }
  return out;
}

TEST_CASE("every interposed call is recorded with its figures and errno is preserved", "[calls]") {
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  // The program checks results and errno itself; without the preload it states what glibc does.
  RunResult plain = Run({PROGRAM_ALL_CALLS});
  INFO("plain run: " << plain.Describe());
  REQUIRE(plain.ExitedWith(0));
  REQUIRE(plain.err.empty());

  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({PROGRAM_ALL_CALLS}, Exact(out_dir));
  INFO("preloaded run: " << run.Describe());
  REQUIRE(run.ExitedWith(0));
  CHECK(run.err.empty());
  // Same text, malloc_usable_size values included (passed through to glibc).
  CHECK(run.out == plain.out);

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.ending == report::Ending::kExit);
  CHECK(model.warnings.empty());
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));

  SECTION("heap calls: figures per call site") {
    const HeapSite expected[] = {
        {"do_malloc", 1, 1000, 1, 1000},
        {"do_calloc", 1, 1230, 1, 1230},
        {"do_realloc_source", 1, 50, 0, 0},
        // The failed realloc(r, SIZE_MAX/2) puts r back: still live, not counted twice.
        {"do_realloc", 1, 3000, 1, 3000},
        {"do_realloc_null", 1, 77, 1, 77},
        {"do_realloc_zero_source", 1, 40, 0, 0},  // freed by realloc(p, 0)
        {"do_reallocarray_new", 1, 200, 0, 0},
        {"do_reallocarray", 1, 600, 1, 600},
        {"do_posix_memalign", 1, 512, 1, 512},
        {"do_aligned_alloc", 1, 256, 1, 256},
        {"do_memalign", 1, 300, 1, 300},
        {"do_valloc", 1, 100, 1, 100},
        {"do_pvalloc", 1, 100, 0, 0},  // requested bytes, not the page glibc rounds to
    };
    double live_bytes = 0, live_count = 0, alloc_count = 0;
    for (const HeapSite& e : expected) {
      INFO("site " << e.function);
      REQUIRE(sites.Of(e.function).size() == 1);
      report::SiteFigures f = sites.Sum(e.function);
      CHECK(f.alloc_count == e.alloc_count);
      CHECK(f.alloc_bytes == e.alloc_bytes);
      CHECK(f.live_count == e.live_count);
      CHECK(f.live_bytes == e.live_bytes);
      CHECK(f.mmap_calls == 0);
      live_bytes += e.live_bytes, live_count += e.live_count, alloc_count += e.alloc_count;
    }
    // Plus glibc's stdout buffer (printf in heap_calls; stdout is a regular file).
    const double buffer = static_cast<double>(run.stdout_blksize);
    report::SiteFigures printing = sites.Sum("heap_calls");
    CHECK(printing.live_count == 1);
    CHECK(printing.live_bytes == buffer);
    CHECK(model.totals.live_bytes == live_bytes + buffer);
    CHECK(model.totals.live_count == live_count + 1);
    CHECK(model.totals.alloc_count == alloc_count + 1);
    // Failed calls and frees make no allocation site of their own.
    for (const char* none :
         {"do_calloc_fail", "do_realloc_zero", "do_realloc_fail", "do_reallocarray_fail",
          "do_posix_memalign_fail", "do_aligned_alloc_fail", "do_free"}) {
      INFO("site " << none);
      CHECK(sites.Of(none).empty());
    }
  }

  SECTION("mapping calls: partial munmap splits, mremap moves the bytes to its own site") {
    report::SiteFigures mmap = sites.Sum("do_mmap");
    CHECK(mmap.mmap_calls == 1);
    CHECK(mmap.mapped_bytes == 4 * page);
    // 4 pages mapped, the second unmapped (the mapping splits in two); the misaligned
    // munmap(m + 1, page) that follows fails with EINVAL and must change nothing.
    // The munmap at an unaligned address fails (EINVAL) and must not change the recorded
    // mappings: 3 pages stay live.
    CHECK(mmap.mapped_live_bytes == 3 * page);
    report::SiteFigures halves = sites.Sum("do_mmap_round");
    CHECK(halves.mmap_calls == 1);
    CHECK(halves.mapped_bytes == 2 * page);
    // munmap(p + page, 1) unmaps the whole second page (the kernel rounds the length up).
    // munmap(p + page, 1) unmaps the whole second page, as the kernel rounds lengths up.
    CHECK(halves.mapped_live_bytes == page);
    report::SiteFigures mmap64 = sites.Sum("do_mmap64");
    CHECK(mmap64.mmap_calls == 1);
    CHECK(mmap64.mapped_bytes == 2 * page);
    CHECK(mmap64.mapped_live_bytes == 2 * page);
    report::SiteFigures source = sites.Sum("do_mremap_source");
    CHECK(source.mmap_calls == 1);
    CHECK(source.mapped_bytes == page);
    CHECK(source.mapped_live_bytes == 0);
    report::SiteFigures grown = sites.Sum("do_mremap");
    CHECK(grown.mapped_bytes == 8 * page);
    CHECK(grown.mapped_live_bytes == 8 * page);
    CHECK(model.totals.mapped_live_bytes == (3 + 1 + 2 + 8) * page);
    for (const char* none :
         {"do_mmap_fail", "do_munmap", "do_munmap_fail", "do_munmap_round", "do_mremap_fail"}) {
      INFO("site " << none);
      CHECK(sites.Of(none).empty());
    }
  }

  SECTION("failures: call, errno and the calling function") {
    const FailureCase expected[] = {
        {Call::kCalloc, ENOMEM, -1, "do_calloc_fail"},
        {Call::kRealloc, ENOMEM, -1, "do_realloc_fail"},
        {Call::kReallocArray, ENOMEM, -1, "do_reallocarray_fail"},
        {Call::kPosixMemalign, EINVAL, EINVAL, "do_posix_memalign_fail"},
        {Call::kAlignedAlloc, EINVAL, -1, "do_aligned_alloc_fail"},
        {Call::kMunmap, EINVAL, -1, "do_munmap_fail"},
        {Call::kMmap, EINVAL, -1, "do_mmap_fail"},
        {Call::kMremap, EINVAL, -1, "do_mremap_fail"},
    };
    REQUIRE(model.failures.size() == std::size(expected));
    for (size_t i = 0; i < std::size(expected); ++i) {
      const report::Failure& f = model.failures[i];
      const FailureCase& e = expected[i];
      std::vector<report::DisplayFrame> frames = sites.Frames(f.stack);
      INFO("failure " << i << " (" << report::CallName(f.call) << ", errno " << f.error
                      << ") frames:\n"
                      << DescribeFrames(frames));
      CHECK(f.call == e.call);
      CHECK(f.error == e.error);
      CHECK(f.result == e.result);
      CHECK(f.tid == model.pid);
      CHECK(HasFunction(frames, e.function));
      CHECK(HasFunction(frames, "main"));
    }
    // Arguments as the program passed them.
    CHECK(model.failures[0].args[0] == SIZE_MAX);  // calloc(SIZE_MAX, 2)
    CHECK(model.failures[0].args[1] == 2);
    CHECK(model.failures[1].args[1] == SIZE_MAX / 2);  // realloc(r, SIZE_MAX/2)
    CHECK(model.failures[2].args[1] == SIZE_MAX);      // reallocarray(ra, SIZE_MAX, 2)
    CHECK(model.failures[2].args[2] == 2);
    CHECK(model.failures[3].args[1] == 3);  // posix_memalign(out, 3, 16)
    CHECK(model.failures[3].args[2] == 16);
    CHECK(model.failures[4].args[0] == SIZE_MAX / 2 + 2);  // aligned_alloc(bad, 16)
    CHECK(model.failures[4].args[1] == 16);
    CHECK(model.failures[5].args[1] == static_cast<uint64_t>(page));       // munmap(m + 1, page)
    CHECK(model.failures[6].args[1] == 0);                                 // mmap(NULL, 0, ...)
    CHECK(model.failures[7].args[2] == static_cast<uint64_t>(16 * page));  // mremap(.., 16p, 0x7f0)
    CHECK(model.failures[7].args[3] == 0x7f0);
  }

  SECTION("raw records carry the call that made each event") {
    RawRecording raw = ReadRecords(files[0]);
    REQUIRE(raw.clean_end);
    std::map<Call, int> allocs, restored, mmaps;
    int frees = 0, realloc_frees = 0, munmaps = 0, mremaps = 0;
    for (const report::RawRecord& r : raw.records) {
      switch (r.type) {
        case format::RecordType::kAlloc: {
          auto a = As<format::AllocRecord>(r);
          auto& counts = (r.flags & format::kAllocFlagRestored) != 0 ? restored : allocs;
          counts[static_cast<Call>(a.call)] += 1;
          break;
        }
        case format::RecordType::kFree:
          ((r.flags & format::kFreeFlagRealloc) != 0 ? realloc_frees : frees) += 1;
          break;
        case format::RecordType::kMmap:
          mmaps[static_cast<Call>(As<format::MmapRecord>(r).call)] += 1;
          break;
        case format::RecordType::kMunmap:
          munmaps += 1;
          break;
        case format::RecordType::kMremap:
          mremaps += 1;
          break;
        default:
          break;
      }
    }
    // malloc: do_malloc, do_realloc_source, do_realloc_zero_source and the stdout buffer.
    CHECK(Counts(allocs) ==
          "malloc=4 calloc=1 realloc=2 reallocarray=2 posix_memalign=1 aligned_alloc=1 "
          "memalign=1 valloc=1 pvalloc=1");
    // In exact mode a failed realloc or reallocarray writes nothing: its block stays as it was.
    CHECK(Counts(restored).empty());
    CHECK(frees == 1);  // pvalloc's block; free(NULL) records nothing
    // realloc 50->3000, realloc(p, 0), reallocarray 200->600.
    CHECK(realloc_frees == 3);
    CHECK(Counts(mmaps) == "mmap=3 mmap64=1");
    // do_munmap and do_munmap_round; the failed munmap is not recorded.
    CHECK(munmaps == 2);
    CHECK(mremaps == 1);

    std::map<Call, int> live_heap, live_maps;
    for (const format::LiveEntry& e : LiveEntries(raw)) {
      (e.kind == format::kLiveKindHeap ? live_heap : live_maps)[static_cast<Call>(e.call)] += 1;
    }
    // Exact mode lists no heap blocks at exit: the reader derives them from the events.
    CHECK(Counts(live_heap).empty());
    // do_mmap's two pieces, do_mmap_round's first page, do_mmap64's mapping, do_mremap's.
    // do_munmap_round leaves one piece, not a stray 1-byte-short fragment.
    CHECK(Counts(live_maps) == "mmap=3 mmap64=1 mremap=1");
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
