// tests/unit/process_memory_test.cc: a running process's resident memory read from its smaps
// and status texts (allocwatch doctor --pid), on hand-made texts of each kind of mapping.
#include "report/analysis/process_memory.h"

#include <catch2/catch.hpp>
#include <string>

using allocwatch::report::ProcessMemory;
using allocwatch::report::ProcessMemoryFindings;
using allocwatch::report::ReadProcessMemory;

namespace {

// One smaps entry: the header line and the lines the reader looks at, with others around.
std::string Entry(const std::string& header, uint64_t rss_kb) {
  return header + "\nSize:               999 kB\nKernelPageSize:        4 kB\nRss:  " +
         std::to_string(rss_kb) + " kB\nPss:                  1 kB\nVmFlags: rd wr mr mw me ac\n";
}

const char kStatus[] =
    "Name:\tserver\nThreads:\t5\nVmRSS:\t  999 kB\nRssAnon:\t  300000 kB\nRssFile:\t  2000 kB\n"
    "RssShmem:\t  100 kB\nVmSwap:\t  0 kB\n";

}  // namespace

TEST_CASE("smaps mappings are weighed by what they are", "[process_memory]") {
  std::string smaps =
      Entry("55d4c0c00000-55d4c0c21000 r--p 00000000 fd:01 1234   /usr/bin/server", 100) +
      Entry("55d4c1000000-55d4c5000000 rw-p 00000000 00:00 0      [heap]", 40000) +
      // An arena heap: 8 MiB read-write at a 64 MiB boundary, the rest of the 64 MiB ---p.
      Entry("7f0000000000-7f0000800000 rw-p 00000000 00:00 0", 8000) +
      Entry("7f0000800000-7f0004000000 ---p 00000000 00:00 0", 0) +
      // A whole 64 MiB arena heap.
      Entry("7f0004000000-7f0008000000 rw-p 00000000 00:00 0", 65000) +
      // A thread stack: a 4 KiB guard, then 8 MiB.
      Entry("7f1000000000-7f1000001000 ---p 00000000 00:00 0", 0) +
      Entry("7f1000001000-7f1000801000 rw-p 00000000 00:00 0", 64) +
      // A big reservation and an anonymous mapping of the program's own.
      Entry("7f2000000000-7f3000000000 ---p 00000000 00:00 0", 0) +
      Entry("7f3000000000-7f3010000000 rw-p 00000000 00:00 0", 150000) +
      Entry("7f4000000000-7f4000100000 rw-s 00000000 00:01 77     /dev/zero (deleted)", 300) +
      Entry("7f5000000000-7f5000100000 r-xp 00000000 fd:01 999    /usr/lib/libjemalloc.so.2", 500) +
      Entry("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]", 36);
  ProcessMemory m = ReadProcessMemory(smaps, kStatus);
  CHECK(m.mappings == 12);
  CHECK(m.threads == 5);
  CHECK(m.rss_anon == 300000 * 1024ull);
  CHECK(m.rss_file == 2000 * 1024ull);
  CHECK(m.main_heap_rss == 40000 * 1024ull);
  CHECK(m.arena_heaps == 2);
  CHECK(m.arena_rss == (8000 + 65000) * 1024ull);
  CHECK(m.thread_stacks == 1);
  CHECK(m.stack_rss == (64 + 36) * 1024ull);
  CHECK(m.other_anon_rss == 150000 * 1024ull);
  CHECK(m.shared_rss == 300 * 1024ull);
  CHECK(m.file_rss == (100 + 500) * 1024ull);
  CHECK(m.reserved_bytes == 0x3800000ull + 0x1000ull + 0x1000000000ull);
  REQUIRE(m.own_heaps.size() == 1);
  CHECK(m.own_heaps[0] == "jemalloc");
  // 113 MiB in glibc's heap with arenas: named; 146 MiB elsewhere, more than glibc's heap,
  // with jemalloc loaded: named.
  auto findings = ProcessMemoryFindings(m);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].what.find("3 arenas (5 threads)") != std::string::npos);
  CHECK(findings[1].what.find("jemalloc") != std::string::npos);
}

TEST_CASE("a small process with one arena and no other heap has no finding", "[process_memory]") {
  std::string smaps = Entry("55d4c1000000-55d4c1100000 rw-p 00000000 00:00 0 [heap]", 1000) +
                      Entry("7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]", 36);
  ProcessMemory m = ReadProcessMemory(smaps, kStatus);
  CHECK(m.main_heap_rss == 1000 * 1024ull);
  CHECK(m.arena_heaps == 0);
  CHECK(ProcessMemoryFindings(m).empty());
}

TEST_CASE("texts that are not smaps give zeros, not errors", "[process_memory]") {
  ProcessMemory m = ReadProcessMemory("garbage\nRss: x\n-: :\nzz-yy rw-p 0 0 0\n", "");
  CHECK(m.mappings == 0);
  CHECK(m.rss_anon == 0);
  CHECK(ProcessMemoryFindings(m).empty());
}
