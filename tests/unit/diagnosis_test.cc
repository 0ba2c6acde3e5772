// tests/unit/diagnosis_test.cc: the cause of a failure from constructed calls and snapshots:
// every predicate, the order between them, the glibc checks made before any system call, and
// "unknown" with the raw figures.
#include "report/analysis/diagnosis.h"

#include <sys/mman.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>

namespace fmt = allocwatch::format;
using allocwatch::report::Cause;
using allocwatch::report::Diagnose;
using allocwatch::report::Diagnosis;
using allocwatch::report::Failure;
using allocwatch::report::Headroom;

namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kUnknown = fmt::kHeadroomUnknown;
constexpr uint64_t kUnlimited = fmt::kHeadroomUnlimited;

// A roomy machine: nothing is near a limit.
Headroom Roomy() {
  Headroom h;
  fmt::HeadroomRecord& r = h.record;
  r.rlimit_as_cur = r.rlimit_as_max = kUnlimited;
  r.rlimit_data_cur = r.rlimit_data_max = kUnlimited;
  r.rlimit_memlock_cur = r.rlimit_memlock_max = 8 * kMiB;
  r.vm_size_kb = 100 * 1024;
  r.vm_data_kb = 20 * 1024;
  r.vm_lck_kb = 0;
  r.vm_rss_kb = 10 * 1024;
  r.threads = 1;
  r.cap_eff = 0;
  r.map_count = 100;
  r.largest_gap_bytes = uint64_t{100} << 40;
  r.max_map_count = 65530;
  r.overcommit_memory = 0;
  r.overcommit_ratio = 50;
  r.overcommit_kbytes = 0;
  r.admin_reserve_kb = 8192;
  r.user_reserve_kb = 131072;
  r.mem_total_kb = 16 * 1024 * 1024;
  r.mem_available_kb = 12 * 1024 * 1024;
  r.swap_total_kb = r.swap_free_kb = 0;
  r.commit_limit_kb = 8 * 1024 * 1024;
  r.committed_as_kb = 1024 * 1024;
  r.huge_page_kb = 0;
  r.huge_total = r.huge_free = r.huge_rsvd = r.huge_surplus = r.huge_overcommit = kUnknown;
  r.vmstat_oom_kill = 0;
  r.cgroup_headroom = r.cgroup_effective_limit = kUnlimited;
  r.cgroup_binding_level = UINT32_MAX;
  r.cgroup_version = fmt::kCgroupNone;
  r.psi_some_avg10_x100 = r.psi_full_avg10_x100 = r.psi_full_total_us = kUnknown;
  return h;
}

Failure Malloc(uint64_t size, const Headroom& h, int error = ENOMEM) {
  Failure f;
  f.call = fmt::Call::kMalloc;
  f.args[0] = size;
  f.error = error;
  f.result = -1;
  f.headroom = h;
  return f;
}

Failure Mmap(uint64_t length, int prot, int flags, const Headroom& h, int error = ENOMEM) {
  Failure f;
  f.call = fmt::Call::kMmap;
  f.args[1] = length;
  f.args[2] = static_cast<uint64_t>(prot);
  f.args[3] = static_cast<uint64_t>(flags);
  f.error = error;
  f.result = -1;
  f.headroom = h;
  return f;
}

Cause CauseOf(const Failure& f) {
  Diagnosis d = Diagnose(f, 4096);
  INFO(allocwatch::report::CauseName(d.primary.cause) << ": " << d.primary.evidence);
  CHECK(!d.primary.evidence.empty());
  return d.primary.cause;
}

bool Also(const Diagnosis& d, Cause c) {
  for (const auto& o : d.others) {
    if (o.cause == c) return true;
  }
  return false;
}

constexpr int kPrivRw[] = {PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS};

}  // namespace

TEST_CASE("glibc refusals before any system call need no snapshot", "[diagnosis]") {
  Failure f;
  f.error = ENOMEM;
  f.call = fmt::Call::kMalloc;
  f.args[0] = uint64_t{PTRDIFF_MAX} + 1;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.call = fmt::Call::kCalloc;
  f.args[0] = SIZE_MAX / 2;
  f.args[1] = 4;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.call = fmt::Call::kPosixMemalign;
  f.args[1] = 3;  // alignment
  f.args[2] = 10;
  f.error = EINVAL;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.args[1] = 4;  // a power of two but not a multiple of sizeof(void*)
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.call = fmt::Call::kMemalign;
  f.args[0] = SIZE_MAX / 2 + 2;
  f.args[1] = 10;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.call = fmt::Call::kPvalloc;
  f.args[0] = SIZE_MAX - 100;
  f.error = ENOMEM;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
  f.call = fmt::Call::kReallocArray;
  f.args[1] = uint64_t{1} << 40;
  f.args[2] = uint64_t{1} << 40;
  CHECK(CauseOf(f) == Cause::kGlibcPrecheck);
}

TEST_CASE("a malloc of a sane size with no matching limit is unknown, with the raw figures",
          "[diagnosis]") {
  Diagnosis d = Diagnose(Malloc(64 * kMiB, Roomy()), 4096);
  CHECK(d.primary.cause == Cause::kUnknown);
  CHECK(d.primary.evidence.find("RLIMIT_AS unlimited") != std::string::npos);
  CHECK(d.primary.evidence.find("overcommit mode 0") != std::string::npos);
  CHECK(d.primary.evidence.find("MemAvailable 12.00 GiB") != std::string::npos);
  Failure bare = Malloc(64 * kMiB, Roomy());
  bare.headroom.reset();
  CHECK(CauseOf(bare) == Cause::kUnknown);
  // An errno the kernel uses for bad arguments is not a memory shortage.
  CHECK(CauseOf(Mmap(0, PROT_READ, MAP_PRIVATE, Roomy(), EINVAL)) == Cause::kInvalidArguments);
}

TEST_CASE("RLIMIT_AS and RLIMIT_DATA compare VmSize and VmData plus the request", "[diagnosis]") {
  Headroom h = Roomy();
  h.record.rlimit_as_cur = 164 * kMiB;  // VmSize 100 MiB
  CHECK(CauseOf(Malloc(256 * kMiB, h)) == Cause::kRlimitAs);
  CHECK(CauseOf(Malloc(32 * kMiB, h)) == Cause::kUnknown);
  // Even a PROT_NONE reservation counts against RLIMIT_AS.
  CHECK(CauseOf(Mmap(256 * kMiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, h)) ==
        Cause::kRlimitAs);
  h = Roomy();
  h.record.rlimit_data_cur = 52 * kMiB;  // VmData 20 MiB
  CHECK(CauseOf(Malloc(64 * kMiB, h)) == Cause::kRlimitData);
  CHECK(CauseOf(Mmap(64 * kMiB, kPrivRw[0], kPrivRw[1], h)) == Cause::kRlimitData);
  // Shared and PROT_NONE mappings are not data.
  CHECK(CauseOf(Mmap(64 * kMiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, h)) ==
        Cause::kUnknown);
}

TEST_CASE("vm.max_map_count: at or near the limit", "[diagnosis]") {
  Headroom h = Roomy();
  h.record.map_count = 65531;
  CHECK(CauseOf(Mmap(4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, h)) == Cause::kMaxMapCount);
  Failure munmap;
  munmap.call = fmt::Call::kMunmap;
  munmap.args[1] = 4096;
  munmap.error = ENOMEM;
  munmap.headroom = h;
  CHECK(CauseOf(munmap) == Cause::kMaxMapCount);
  h.record.map_count = 60000;
  CHECK(CauseOf(Mmap(4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, h)) == Cause::kUnknown);
}

TEST_CASE("overcommit mode 2: the commit limit less the reserves, CAP_SYS_ADMIN aside",
          "[diagnosis]") {
  Headroom h = Roomy();
  fmt::HeadroomRecord& r = h.record;
  r.overcommit_memory = 2;
  r.commit_limit_kb = 1000000;
  r.vm_size_kb = 3200000;  // user reserve: min(VmSize/32 = 100000, 131072)
  r.committed_as_kb = 880000;
  // Without CAP_SYS_ADMIN: allowed = 1000000 - 8192 - 100000 = 891808 kB; 880000 + 4096 (+1%) >=.
  CHECK(CauseOf(Malloc(4 * kMiB, h)) == Cause::kStrictOvercommit);
  // With it, the admin reserve is not taken off: allowed = 900000 kB.
  r.cap_eff = uint64_t{1} << 21;
  CHECK(CauseOf(Malloc(4 * kMiB, h)) == Cause::kUnknown);
  r.cap_eff = 0;
  // A PROT_NONE reservation is not charged; in mode 2 MAP_NORESERVE is ignored.
  CHECK(CauseOf(Mmap(4 * kMiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, h)) == Cause::kUnknown);
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], kPrivRw[1] | MAP_NORESERVE, h)) ==
        Cause::kStrictOvercommit);
}

TEST_CASE("overcommit mode 0: one request larger than RAM + swap", "[diagnosis]") {
  Headroom h = Roomy();  // 16 GiB RAM, no swap
  CHECK(CauseOf(Malloc(17 * kGiB, h)) == Cause::kHeuristicOvercommit);
  CHECK(CauseOf(Malloc(15 * kGiB, h)) == Cause::kUnknown);
  // MAP_NORESERVE is honoured in mode 0, and mode 1 never refuses.
  CHECK(CauseOf(Mmap(17 * kGiB, kPrivRw[0], kPrivRw[1] | MAP_NORESERVE, h)) == Cause::kUnknown);
  h.record.overcommit_memory = 1;
  CHECK(CauseOf(Malloc(17 * kGiB, h)) == Cause::kUnknown);
}

TEST_CASE("RLIMIT_MEMLOCK only without CAP_IPC_LOCK", "[diagnosis]") {
  Headroom h = Roomy();
  h.record.rlimit_memlock_cur = kMiB;
  int locked = MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED;
  CHECK(CauseOf(Mmap(16 * kMiB, kPrivRw[0], locked, h, EAGAIN)) == Cause::kMemlock);
  h.record.cap_eff = uint64_t{1} << 14;
  CHECK(CauseOf(Mmap(16 * kMiB, kPrivRw[0], locked, h, EAGAIN)) == Cause::kUnknown);
}

TEST_CASE("hugetlb: free - reserved + overcommit headroom against the pages asked", "[diagnosis]") {
  Headroom h = Roomy();
  fmt::HeadroomRecord& r = h.record;
  r.huge_page_kb = 2048;
  r.huge_total = 4, r.huge_free = 3, r.huge_rsvd = 2, r.huge_surplus = 0, r.huge_overcommit = 0;
  int huge = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], huge, h)) == Cause::kHugetlb);  // 2 pages, 1 left
  CHECK(CauseOf(Mmap(2 * kMiB, kPrivRw[0], huge, h)) == Cause::kUnknown);
  r.huge_overcommit = 1;
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], huge, h)) == Cause::kUnknown);
  r.huge_overcommit = 0;
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], huge, h, EPERM)) == Cause::kHugetlb);
}

TEST_CASE("address space: no free range large enough, or a request beyond it", "[diagnosis]") {
  Headroom h = Roomy();
  h.record.largest_gap_bytes = 60 * 1024;
  // Below 1 MiB of free range even malloc(100) fails (glibc's fallback mapping is 1 MiB).
  CHECK(CauseOf(Malloc(100, h)) == Cause::kAddressSpace);
  CHECK(CauseOf(Mmap(64 * 1024, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, h)) ==
        Cause::kAddressSpace);
  CHECK(CauseOf(Mmap(32 * 1024, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, h)) == Cause::kUnknown);
  Diagnosis d = Diagnose(Malloc(SIZE_MAX / 2, Roomy()), 4096);
  CHECK(d.primary.cause == Cause::kAddressSpace);
  CHECK(Also(d, Cause::kHeuristicOvercommit));
}

TEST_CASE("memory cgroup: headroom below the request, or v1 OOM killing disabled", "[diagnosis]") {
  Headroom h = Roomy();
  fmt::HeadroomRecord& r = h.record;
  r.cgroup_version = fmt::kCgroupV2;
  r.cgroup_headroom = 512 * 1024;
  r.cgroup_effective_limit = 64 * kMiB;
  r.cgroup_binding_level = 1;
  h.cgroup_path = "/a/b";
  Diagnosis d = Diagnose(Mmap(4 * kMiB, kPrivRw[0], kPrivRw[1], h), 4096);
  CHECK(d.primary.cause == Cause::kCgroup);
  CHECK(d.primary.evidence.find("level 1") != std::string::npos);
  r.cgroup_headroom = 512 * kMiB;
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], kPrivRw[1], h)) == Cause::kUnknown);
  r.cgroup_version = fmt::kCgroupV1;
  r.cgroup_flags = fmt::kCgroupFlagOomKillDisable;
  CHECK(CauseOf(Mmap(4 * kMiB, kPrivRw[0], kPrivRw[1], h)) == Cause::kCgroup);
}

TEST_CASE("several predicates: the first in order is the cause, the others are listed",
          "[diagnosis]") {
  Headroom h = Roomy();
  h.record.rlimit_as_cur = 200 * kMiB;
  h.record.rlimit_data_cur = 100 * kMiB;
  h.record.map_count = 65530;
  Diagnosis d = Diagnose(Malloc(256 * kMiB, h), 4096);
  CHECK(d.primary.cause == Cause::kRlimitAs);
  CHECK(Also(d, Cause::kRlimitData));
  CHECK(Also(d, Cause::kMaxMapCount));
}

TEST_CASE("mremap that cannot grow in place without MREMAP_MAYMOVE", "[diagnosis]") {
  Failure f;
  f.call = fmt::Call::kMremap;
  f.args[1] = kMiB;
  f.args[2] = 2 * kMiB;
  f.args[3] = 0;
  f.error = ENOMEM;
  f.headroom = Roomy();
  CHECK(CauseOf(f) == Cause::kMremapInPlace);
  f.error = EFAULT;
  CHECK(CauseOf(f) == Cause::kInvalidArguments);
}
