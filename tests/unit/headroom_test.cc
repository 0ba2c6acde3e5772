// tests/unit/headroom_test.cc: the /proc parsers (status and meminfo fields, maps count and
// largest gap, pressure) and a whole headroom snapshot taken from a fake tree.
#include "preload/procfs/headroom.h"

#include <sys/mman.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "fake_tree.h"
#include "preload/procfs/proc_text.h"

using allocwatch::test::FakeTree;
namespace fmt = allocwatch::format;
namespace pl = allocwatch::preload;

namespace {
constexpr uint64_t kUnknown = fmt::kHeadroomUnknown;
constexpr uint64_t kUnlimited = fmt::kHeadroomUnlimited;

uint64_t Scan(const std::string& maps, size_t chunk, uint64_t* gap, bool* vsyscall) {
  pl::MapsScanner s;
  for (size_t i = 0; i < maps.size(); i += chunk) {
    s.Feed(maps.data() + i, std::min(chunk, maps.size() - i));
  }
  s.Finish();
  *gap = s.largest_gap();
  *vsyscall = s.has_vsyscall();
  return s.map_count();
}
}  // namespace

TEST_CASE("FindKeyValue reads status, meminfo and vmstat fields by whole key", "[proc]") {
  const char* status = "Name:\tx\nVmPeak:\t  2000 kB\nVmSize:\t  1500 kB\nVmData:\t 300 kB\n";
  CHECK(pl::FindKeyValue(status, "VmSize") == 1500);
  CHECK(pl::FindKeyValue(status, "VmData") == 300);
  CHECK(pl::FindKeyValue(status, "Vm") == kUnknown);
  CHECK(pl::FindKeyValue(status, "VmLck") == kUnknown);
  CHECK(pl::FindKeyValue("pgfault 5\noom_kill 3", "oom_kill") == 3);  // no trailing newline
  CHECK(pl::FindKeyValue("oom_kill_disable 1\noom_kill 4\n", "oom_kill") == 4);
  CHECK(pl::FindKeyValue("Key: x\n", "Key") == kUnknown);
}

TEST_CASE("cgroup values: max, v1 sentinels, garbage", "[proc]") {
  CHECK(pl::ParseCgroupValue("max\n") == kUnlimited);
  CHECK(pl::ParseCgroupValue("1024\n") == 1024);
  CHECK(pl::ParseCgroupValue("1024") == 1024);
  CHECK(pl::ParseCgroupValue("9223372036854771712\n") == kUnlimited);
  CHECK(pl::ParseCgroupValue("") == kUnknown);
  CHECK(pl::ParseCgroupValue("12abc") == kUnknown);
  CHECK(pl::ParseCgroupValue("-1") == kUnknown);
}

TEST_CASE("maps: count without [vsyscall], largest gap, the stack guard gap", "[proc]") {
  std::string maps =
      "00400000-00500000 r-xp 00000000 08:01 1 /bin/x\n"
      "00600000-00700000 rw-p 00000000 00:00 0 [heap]\n"  // gap 1 MiB
      "10700000-10800000 rw-p 00000000 00:00 0\n"         // gap 256 MiB
      "7fff00000000-7fff00021000 rw-p 00000000 00:00 0\n"
      "7fff10021000-7fff10042000 rw-p 00000000 00:00 0 [stack]\n"  // 256 MiB - 1 MiB guard
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}}) {
    uint64_t gap = 0;
    bool vsyscall = false;
    CHECK(Scan(maps, chunk, &gap, &vsyscall) == 5);
    CHECK(vsyscall);
    // 0x10800000 .. 0x7fff00000000 is the largest.
    CHECK(gap == 0x7fff00000000ull - 0x10800000ull);
  }
  uint64_t gap = 0;
  bool vsyscall = true;
  CHECK(Scan("00010000-00020000 r--p 0 0:0 0\n00030000-00040000 r--p 0 0:0 0\n", 64, &gap,
             &vsyscall) == 2);
  CHECK(!vsyscall);
  CHECK(gap == 0x10000);
  // A gap below [stack] loses the guard gap.
  CHECK(Scan("00010000-00020000 r--p 0 0:0 0\n00220000-00240000 rw-p 0 0:0 0 [stack]\n", 64, &gap,
             &vsyscall) == 2);
  CHECK(gap == 0x200000 - 0x100000);
}

TEST_CASE("maps: the path of the file mapped at an address", "[proc]") {
  const std::string maps =
      "00400000-00401000 r--p 00000000 08:01 12 /opt/app/bin/app\n"
      "00600000-00700000 rw-p 00000000 00:00 0 [heap]\n"
      "7f0000000000-7f0000001000 r--p 00000000 08:01 34                 /tmp/dir with space/p.so\n"
      "7f0000001000-7f0000002000 r-xp 00001000 08:01 34                 /tmp/dir with space/p.so\n"
      "7f0000010000-7f0000011000 r--p 00000000 08:01 56 /tmp/gone.so (deleted)\n"
      "7f0000020000-7f0000021000 r--p 00000000 08:01 78 /tmp/new\\012line.so\n"
      "7f0000030000-7f0000031000 r--p 00000000 00:00 0\n"
      "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]";  // no final newline
  auto find = [&](uint64_t address, size_t chunk) {
    pl::MappedPathFinder finder;
    finder.Start(address);
    for (size_t i = 0; i < maps.size(); i += chunk) {
      finder.Feed(maps.data() + i, std::min(chunk, maps.size() - i));
    }
    finder.Finish();
    return std::string(finder.path());
  };
  for (size_t chunk : {size_t{1}, size_t{13}, size_t{4096}}) {
    INFO("chunks of " << chunk);
    CHECK(find(0x400000, chunk) == "/opt/app/bin/app");
    CHECK(find(0x400fff, chunk) == "/opt/app/bin/app");
    CHECK(find(0x401000, chunk).empty());  // the end is not in the range
    CHECK(find(0x650000, chunk).empty());  // [heap]
    CHECK(find(0x7f0000001800, chunk) == "/tmp/dir with space/p.so");
    CHECK(find(0x7f0000010000, chunk) == "/tmp/gone.so");
    CHECK(find(0x7f0000020000, chunk) == "/tmp/new\nline.so");
    CHECK(find(0x7f0000030000, chunk).empty());  // anonymous
    CHECK(find(0x7ffd00000000, chunk).empty());  // [vdso], last line without newline
    CHECK(find(0x10, chunk).empty());
  }
  // A line longer than the finder's buffer is skipped, not cut.
  pl::MappedPathFinder finder;
  finder.Start(0x1000);
  const std::string line =
      "00001000-00002000 r--p 00000000 08:01 9 /" + std::string(2000, 'x') + "\n";
  finder.Feed(line.data(), line.size());
  finder.Finish();
  CHECK(std::string(finder.path()).empty());
}

TEST_CASE("pressure lines", "[proc]") {
  auto p = pl::ParsePressure(
      "some avg10=4.93 avg60=1.00 avg300=0.10 total=1658890\n"
      "full avg10=0.50 avg60=0.00 avg300=0.00 total=77\n");
  CHECK(p.some_avg10_x100 == 493);
  CHECK(p.full_avg10_x100 == 50);
  CHECK(p.full_total_us == 77);
  CHECK(pl::ParsePressure(nullptr).some_avg10_x100 == kUnknown);
}

TEST_CASE("a headroom snapshot from a fake tree", "[proc]") {
  FakeTree t;
  t.Write("/proc/self/status",
          "Name:\tx\nVmSize:\t  204800 kB\nVmLck:\t 0 kB\nVmRSS:\t 1000 kB\nVmData:\t 10240 kB\n"
          "Threads:\t3\nCapEff:\t0000000000204000\n");
  t.Write("/proc/self/maps",
          "00400000-00500000 r-xp 0 0:0 0\n7f0000000000-7f0000001000 rw-p 0 0:0 0\n");
  t.Write("/proc/meminfo",
          "MemTotal:  1000 kB\nMemAvailable: 600 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
          "CommitLimit: 500 kB\nCommitted_AS: 450 kB\nHugePages_Total: 4\nHugePages_Free: 2\n"
          "HugePages_Rsvd: 1\nHugePages_Surp: 0\nHugepagesize: 2048 kB\n");
  t.Write("/proc/sys/vm/overcommit_memory", "2\n");
  t.Write("/proc/sys/vm/overcommit_ratio", "50\n");
  t.Write("/proc/sys/vm/overcommit_kbytes", "0\n");
  t.Write("/proc/sys/vm/admin_reserve_kbytes", "8192\n");
  t.Write("/proc/sys/vm/user_reserve_kbytes", "131072\n");
  t.Write("/proc/sys/vm/max_map_count", "65530\n");
  t.Write("/proc/sys/vm/nr_overcommit_hugepages", "3\n");
  t.Write("/proc/vmstat", "nr_free_pages 1\noom_kill 9\n");
  t.Write("/proc/pressure/memory", "some avg10=1.25 avg60=0 avg300=0 total=5\n");
  auto s = std::make_unique<pl::HeadroomSnapshot>();
  uint64_t huge_kb = pl::HugePageKbForFlags(t.root().c_str(), MAP_HUGETLB);
  CHECK(huge_kb == 2048);
  CHECK(pl::HugePageKbForFlags(t.root().c_str(), MAP_HUGETLB | (30 << MAP_HUGE_SHIFT)) ==
        1024 * 1024);
  CHECK(pl::HugePageKbForFlags(t.root().c_str(), 0) == 0);
  pl::TakeHeadroom(t.root().c_str(), huge_kb, true, s.get());
  const fmt::HeadroomRecord& r = s->record;
  CHECK(r.vm_size_kb == 204800);
  CHECK(r.vm_data_kb == 10240);
  CHECK(r.vm_lck_kb == 0);
  CHECK(r.threads == 3);
  CHECK(r.cap_eff == 0x204000);  // CAP_IPC_LOCK and CAP_SYS_ADMIN
  CHECK(r.map_count == 2);
  CHECK(r.max_map_count == 65530);
  CHECK(r.overcommit_memory == 2);
  CHECK(r.admin_reserve_kb == 8192);
  CHECK(r.commit_limit_kb == 500);
  CHECK(r.committed_as_kb == 450);
  CHECK(r.mem_available_kb == 600);
  CHECK(r.huge_page_kb == 2048);
  CHECK(r.huge_free == 2);  // no sysfs pool directory: meminfo's default-size figures
  CHECK(r.huge_rsvd == 1);
  CHECK(r.huge_overcommit == 3);
  CHECK(r.vmstat_oom_kill == 9);
  CHECK(r.psi_some_avg10_x100 == 125);
  CHECK(r.cgroup_version == fmt::kCgroupNone);
  // The limits come from getrlimit, not from the tree.
  CHECK(r.rlimit_as_cur != kUnknown);

  // With the sysfs pool of the asked size, its figures are used.
  t.Write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "8\n");
  t.Write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "5\n");
  t.Write("/sys/kernel/mm/hugepages/hugepages-2048kB/resv_hugepages", "4\n");
  t.Write("/sys/kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages", "0\n");
  t.Write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages", "0\n");
  pl::TakeHeadroom(t.root().c_str(), huge_kb, false, s.get());
  CHECK(s->record.huge_total == 8);
  CHECK(s->record.huge_free == 5);
  CHECK(s->record.huge_rsvd == 4);
  CHECK(s->record.map_count == kUnknown);  // not scanned
}
