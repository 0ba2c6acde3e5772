// tests/preload/enomem_test.cc: each cause of a failed allocation reproduced for real in a
// child process (programs/enomem_causes.c), recorded under the preload, and diagnosed from the
// recording: the call, its size, errno and the cause must all match.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <sstream>

#include "../unit/fake_tree.h"
#include "preload_support.h"
#include "report/analysis/analysis.h"
#include "report/analysis/diagnosis.h"
#include "report/analysis/failed_call.h"

namespace allocwatch::preload_test {
namespace {

using report::Cause;

struct Reported {
  std::string call;
  uint64_t size = 0;
  int error = 0;
};

Reported ParseLine(const std::string& out) {
  Reported r;
  size_t at = out.find("call=");
  REQUIRE(at != std::string::npos);
  std::istringstream in(out.substr(at));
  std::string call, size, err;
  in >> call >> size >> err;
  r.call = call.substr(5);
  r.size = std::stoull(size.substr(5));
  r.error = std::stoi(err.substr(6));
  return r;
}

// Runs one scenario and checks the recorded failure against what the program saw, the errno
// the kernel or glibc documents (`errnos`) and the diagnosed cause. A scenario this machine
// cannot reproduce is reported as skipped (with the program's reason).
void CheckCause(const std::string& scenario, Cause expected, std::vector<int> errnos = {ENOMEM}) {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({PROGRAM_ENOMEM_CAUSES, scenario}, Exact(out_dir));
  INFO(scenario << ": " << run.Describe() << "\nstdout: " << run.out);
  if (run.ExitedWith(77)) {
    WARN(scenario << " skipped: " << run.out);
    return;
  }
  REQUIRE(run.ExitedWith(0));
  Reported expect = ParseLine(run.out);
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.warnings.empty());
  REQUIRE(!model.failures.empty());
  const report::Failure& f = model.failures.back();
  CHECK(std::string(report::CallName(f.call)) == expect.call);
  CHECK(report::FailureSize(f) == expect.size);
  CHECK(f.error == expect.error);
  CHECK(std::find(errnos.begin(), errnos.end(), f.error) != errnos.end());
  CHECK(f.headroom.has_value());
  report::Diagnosis d = report::Diagnose(f, model.page_size);
  INFO("diagnosed " << report::CauseName(d.primary.cause) << ": " << d.primary.evidence);
  CHECK(d.primary.cause == expected);
  CHECK(!d.primary.evidence.empty());
}

TEST_CASE("RLIMIT_AS: malloc over the address-space limit", "[enomem]") {
  CheckCause("rlimit_as", Cause::kRlimitAs);
}

TEST_CASE("RLIMIT_DATA: malloc over the data limit", "[enomem]") {
  CheckCause("rlimit_data", Cause::kRlimitData);
}

TEST_CASE("vm.max_map_count: mmap once every mapping slot is used", "[enomem]") {
  CheckCause("max_map_count", Cause::kMaxMapCount);
}

TEST_CASE("overcommit mode 0: one malloc larger than RAM + swap", "[enomem]") {
  CheckCause("overcommit_heuristic", Cause::kHeuristicOvercommit);
}

TEST_CASE("address space exhausted by PROT_NONE|MAP_NORESERVE reservations", "[enomem]") {
  CheckCause("address_space", Cause::kAddressSpace);
}

TEST_CASE("MAP_HUGETLB beyond the huge page pool", "[enomem]") {
  CheckCause("hugetlb", Cause::kHugetlb, {ENOMEM, EPERM});
}

TEST_CASE("MAP_LOCKED over RLIMIT_MEMLOCK without CAP_IPC_LOCK", "[enomem]") {
  CheckCause("memlock", Cause::kMemlock, {EAGAIN});
}

TEST_CASE("rejected by glibc before any system call", "[enomem]") {
  CheckCause("posix_memalign", Cause::kGlibcPrecheck, {EINVAL});
  CheckCause("aligned_alloc", Cause::kGlibcPrecheck, {EINVAL});
  CheckCause("calloc_overflow", Cause::kGlibcPrecheck);
  CheckCause("malloc_size_max", Cause::kGlibcPrecheck);
}

TEST_CASE("ALLOCWATCH_FS_ROOT points the headroom snapshot at a fake tree", "[enomem]") {
  test::FakeTree t;
  t.Write("/proc/self/status", "Name:\tx\nVmSize:\t 1000 kB\nVmData:\t 500 kB\n");
  t.Write("/proc/self/maps", "00400000-00500000 r-xp 0 0:0 0\n");
  t.Write("/proc/meminfo", "MemTotal: 4096 kB\nMemAvailable: 1024 kB\nSwapTotal: 0 kB\n");
  t.Write("/proc/sys/vm/overcommit_memory", "2\n");
  t.Write("/proc/self/cgroup", "0::/job/step\n");
  t.Write("/proc/self/mountinfo", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  t.Write("/sys/fs/cgroup/cgroup.controllers", "memory\n");
  t.Write("/sys/fs/cgroup/job/memory.max", "1048576\n");
  t.Write("/sys/fs/cgroup/job/memory.current", "1000000\n");
  t.Write("/sys/fs/cgroup/job/step/memory.max", "max\n");
  t.Write("/sys/fs/cgroup/job/step/memory.current", "4096\n");
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.extra_env.push_back("ALLOCWATCH_FS_ROOT=" + t.root());
  RunResult run = Run({PROGRAM_FAILING_MALLOC}, options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  REQUIRE(model.failures.size() == 1);
  REQUIRE(model.failures[0].headroom.has_value());
  const report::Headroom& h = *model.failures[0].headroom;
  CHECK(h.record.mem_total_kb == 4096);
  CHECK(h.record.vm_size_kb == 1000);
  CHECK(h.record.map_count == 1);
  CHECK(h.record.overcommit_memory == 2);
  CHECK(h.record.cgroup_version == format::kCgroupV2);
  CHECK(h.cgroup_path == "/job/step");
  CHECK(h.record.cgroup_headroom == 48576);
  CHECK(h.record.cgroup_binding_level == 1);
  REQUIRE(h.levels.size() == 3);
  CHECK(h.levels[1].limit == 1048576);
  // The periodic snapshots read the same tree.
  REQUIRE(!model.headrooms.empty());
  CHECK(model.headrooms[0].periodic);
  CHECK(model.headrooms[0].record.mem_total_kb == 4096);
}

}  // namespace
}  // namespace allocwatch::preload_test
