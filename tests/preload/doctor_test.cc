// tests/preload/doctor_test.cc: `allocwatch doctor` on fake trees (--root): each risk found
// with its fix, --pid, --json, and a clear error for a missing process.
#include <catch2/catch.hpp>

#include "../unit/fake_tree.h"
#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using test::FakeTree;

// A machine in trouble: little memory available, strict overcommit near its limit, a nested
// v2 cgroup whose parent is almost full, past OOM kills, many mappings, an RLIMIT_AS.
void Troubled(const FakeTree& t, const std::string& proc) {
  t.Write("/proc/meminfo",
          "MemTotal: 1048576 kB\nMemAvailable: 51200 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
          "CommitLimit: 524288 kB\nCommitted_AS: 520000 kB\n");
  t.Write("/proc/sys/vm/overcommit_memory", "2\n");
  t.Write("/proc/sys/vm/overcommit_ratio", "50\n");
  t.Write("/proc/sys/vm/overcommit_kbytes", "0\n");
  t.Write("/proc/sys/vm/max_map_count", "100\n");
  t.Write("/proc/vmstat", "oom_kill 5\n");
  t.Write(proc + "/status",
          "Name:\thog\nVmSize:\t 900000 kB\nVmData:\t 800000 kB\nVmRSS:\t 700000 kB\n");
  std::string maps;
  for (int i = 0; i < 80; ++i) maps += "00400000-00500000 r-xp 0 0:0 0\n";
  t.Write(proc + "/maps", maps);
  t.Write(proc + "/limits",
          "Limit                     Soft Limit           Hard Limit           Units\n"
          "Max data size             unlimited            unlimited            bytes\n"
          "Max locked memory         8388608              8388608              bytes\n"
          "Max address space         1073741824           unlimited            bytes\n");
  t.Write(proc + "/cgroup", "0::/app/worker\n");
  t.Write(proc + "/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  t.Write("/sys/fs/cgroup/app/memory.max", "268435456\n");
  t.Write("/sys/fs/cgroup/app/memory.current", "260046848\n");
  t.Write("/sys/fs/cgroup/app/worker/memory.max", "max\n");
  t.Write("/sys/fs/cgroup/app/worker/memory.current", "104857600\n");
  t.Write("/sys/fs/cgroup/app/worker/memory.events", "max 3\noom 2\noom_kill 2\n");
  t.Write("/proc/77/status", "Name:\tsmall\nVmRSS:\t 1000 kB\n");
}

TEST_CASE("doctor --json names every risk with its fix", "[doctor]") {
  FakeTree t;
  Troubled(t, "/proc/4321");
  RunResult run =
      Run({ALLOCWATCH_COMMAND, "doctor", "--root", t.root(), "--pid", "4321", "--json"});
  INFO(run.Describe() << "\n" << run.out);
  REQUIRE(run.ExitedWith(0));
  nlohmann::json j = nlohmann::json::parse(run.out);
  CHECK(j["schema"] == "allocwatch.doctor");
  CHECK(j["pid"] == 4321);
  CHECK(j["memory"]["mem_available_kb"] == 51200);
  CHECK(j["overcommit"]["mode"] == 2);
  CHECK(j["cgroup"]["version"] == 2);
  CHECK(j["cgroup"]["path"] == "/app/worker");
  CHECK(j["cgroup"]["headroom"] == 268435456 - 260046848);
  CHECK(j["cgroup"]["binding_level"] == 1);
  CHECK(j["cgroup"]["levels"][0]["limit"] == "unlimited");
  CHECK(j["oom_kills"]["vmstat_oom_kill"] == 5);
  CHECK(j["maps"]["count"] == 80);
  CHECK(j["rlimits"]["as"] == 1073741824);
  CHECK(j["rlimits"]["data"] == "unlimited");
  CHECK(j["rlimits"]["vm_size_kb"] == 900000);
  REQUIRE(j["top_processes"].size() == 2);
  CHECK(j["top_processes"][0]["name"] == "hog");
  std::string risks = j["risks"].dump();
  for (const char* expected :
       {"RAM is available", "strict overcommit", "memory cgroup /app has",
        "5 processes were OOM-killed since boot", "OOM kills in memory cgroup",
        "80 mappings of 100", "RLIMIT_AS is 1.00 GiB"}) {
    INFO(expected);
    CHECK(risks.find(expected) != std::string::npos);
  }
  for (const char* fix : {"vm.overcommit_ratio", "memory.max of cgroup /app",
                          "vm.max_map_count=262144", "ulimit -v unlimited"}) {
    INFO(fix);
    CHECK(risks.find(fix) != std::string::npos);
  }
}

TEST_CASE("doctor text on a healthy fake machine finds no risk", "[doctor]") {
  FakeTree t;
  t.Write("/proc/meminfo",
          "MemTotal: 1048576 kB\nMemAvailable: 900000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
          "CommitLimit: 524288 kB\nCommitted_AS: 1000 kB\n");
  t.Write("/proc/sys/vm/overcommit_memory", "0\n");
  t.Write("/proc/sys/vm/max_map_count", "65530\n");
  t.Write("/proc/vmstat", "oom_kill 0\n");
  t.Write("/proc/self/status", "Name:\tx\nVmSize:\t 1000 kB\nVmRSS:\t 100 kB\n");
  t.Write("/proc/self/maps", "00400000-00500000 r-xp 0 0:0 0\n");
  t.Write("/proc/self/limits",
          "Max address space         unlimited            unlimited            bytes\n");
  RunResult run = Run({ALLOCWATCH_COMMAND, "doctor", "--root", t.root()});
  INFO(run.Describe() << "\n" << run.out);
  REQUIRE(run.ExitedWith(0));
  CHECK(run.out.find("no memory cgroup found") != std::string::npos);
  CHECK(run.out.find("mode 0 (heuristic") != std::string::npos);
  CHECK(run.out.find("Verdict: no memory risk found") != std::string::npos);
}

TEST_CASE("doctor --pid of a missing process is an error", "[doctor]") {
  FakeTree t;
  RunResult run = Run({ALLOCWATCH_COMMAND, "doctor", "--root", t.root(), "--pid", "12345"});
  CHECK(run.ExitedWith(1));
  CHECK(run.err.find("12345: no such process") != std::string::npos);
}

}  // namespace

TEST_CASE("doctor --pid weighs the process's resident memory by kind of mapping", "[doctor]") {
  FakeTree t;
  Troubled(t, "/proc/4321");
  t.Write("/proc/4321/status",
          "Name:\thog\nThreads:\t9\nVmSize:\t 900000 kB\nVmRSS:\t 700000 kB\n"
          "RssAnon:\t 600000 kB\nRssFile:\t 90000 kB\nRssShmem:\t 10000 kB\nVmSwap:\t 0 kB\n");
  auto entry = [](const std::string& header, int rss_kb) {
    return header + "\nSize:  1 kB\nRss:   " + std::to_string(rss_kb) + " kB\nVmFlags: rd wr\n";
  };
  // The main arena, two arena heaps (64 MiB-aligned), a thread stack above its guard, 256 GiB
  // reserved, and 400 MB of anonymous memory beside libjvm.so.
  t.Write(
      "/proc/4321/smaps",
      entry("55d4c1000000-55d4c5000000 rw-p 00000000 00:00 0 [heap]", 60000) +
          entry("7f0000000000-7f0004000000 rw-p 00000000 00:00 0", 65536) +
          entry("7f0004000000-7f0006000000 rw-p 00000000 00:00 0", 30000) +
          entry("7f0006000000-7f0008000000 ---p 00000000 00:00 0", 0) +
          entry("7f1000000000-7f1000001000 ---p 00000000 00:00 0", 0) +
          entry("7f1000001000-7f1000801000 rw-p 00000000 00:00 0", 100) +
          entry("7f2000000000-7f6000000000 ---p 00000000 00:00 0", 0) +
          entry("7f6000000000-7f6020000000 rw-p 00000000 00:00 0", 400000) +
          entry(
              "7f7000000000-7f7001000000 r-xp 00000000 fd:01 99 /usr/lib/jvm/lib/server/libjvm.so",
              20000));
  RunResult run =
      Run({ALLOCWATCH_COMMAND, "doctor", "--root", t.root(), "--pid", "4321", "--json"});
  INFO(run.Describe() << "\n" << run.out);
  REQUIRE(run.ExitedWith(0));
  nlohmann::json j = nlohmann::json::parse(run.out);
  const nlohmann::json& r = j["resident"];
  CHECK(r["rss_anon_bytes"] == 600000ull * 1024);
  CHECK(r["threads"] == 9);
  CHECK(r["main_heap_bytes"] == 60000ull * 1024);
  CHECK(r["arena_heaps"] == 2);
  CHECK(r["arena_heaps_bytes"] == (65536ull + 30000) * 1024);
  CHECK(r["thread_stacks"] == 1);
  CHECK(r["other_anon_bytes"] == 400000ull * 1024);
  CHECK(r["reserved_bytes"] == 0x2000000ull + 0x1000 + 0x4000000000ull);
  CHECK(r["own_heaps"][0] == "the JVM (its Java heap and metaspace)");
  std::string risks = j["risks"].dump();
  CHECK(risks.find("in 3 arenas (9 threads)") != std::string::npos);
  CHECK(risks.find("MALLOC_ARENA_MAX=2") != std::string::npos);
  CHECK(risks.find("outside glibc's heap") != std::string::npos);
  CHECK(risks.find("NativeMemoryTracking") != std::string::npos);
  // The text form says the same.
  RunResult text = Run({ALLOCWATCH_COMMAND, "doctor", "--root", t.root(), "--pid", "4321"});
  CHECK(text.out.find("reserved address space 256.03 GiB") != std::string::npos);
}

}  // namespace allocwatch::preload_test
