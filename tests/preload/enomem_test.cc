// tests/preload/enomem_test.cc: each cause of a failed allocation reproduced for real in a
// child process (programs/enomem_causes.c), recorded under the preload, and diagnosed from the
// recording: the call, its size, errno and the cause must all match.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "preload_support.h"
#include "report/analysis.h"
#include "report/diagnosis.h"

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

}  // namespace
}  // namespace allocwatch::preload_test
