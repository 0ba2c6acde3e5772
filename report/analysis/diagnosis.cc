// report/analysis/diagnosis.cc: see diagnosis.h. The predicates follow the kernel checks:
// may_expand_vm (RLIMIT_AS, RLIMIT_DATA), the map_count tests of do_mmap/split_vma,
// __vm_enough_memory (overcommit modes 0 and 2), mlock_future_ok (RLIMIT_MEMLOCK),
// hugetlb_acct_memory, and the unmapped-area search; and glibc's size checks made before any system
// call.
#include "report/analysis/diagnosis.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "report/analysis/failed_call.h"
#include "report/analysis/number_format.h"

namespace allocwatch::report {
namespace {

using format::Call;
constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;
constexpr uint64_t kPtrdiffMax = static_cast<uint64_t>(PTRDIFF_MAX);
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
// glibc asks the kernel for a little more than the request (chunk header, top pad of 128 KiB,
// page rounding): a limit counts as the cause when the request plus this much exceeds it.
constexpr uint64_t kMallocSlack = 256 * kKiB;
// Below this much free address space, even a small malloc fails: glibc's fallback mmap when
// the heap cannot grow is at least 1 MiB (MMAP_AS_MORECORE_SIZE).
constexpr uint64_t kMallocMinMapping = 1 * kMiB;
constexpr uint64_t kUserAddressSpace = uint64_t{1} << 47;  // x86-64 and arm64 48-bit VA
constexpr int kCapIpcLock = 14;
constexpr int kCapSysAdmin = 21;

bool Known(uint64_t v) { return v != kUnknown; }
bool Limited(uint64_t v) { return v != kUnknown && v != kUnlimited; }
std::string B(uint64_t v) { return FormatBytes(static_cast<double>(v)); }
std::string Kb(uint64_t kb) { return Known(kb) ? B(kb * kKiB) : "unknown"; }
uint64_t Sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

bool IsMallocFamily(Call c) {
  return c != Call::kMmap && c != Call::kMmap64 && c != Call::kMunmap && c != Call::kMremap &&
         c != Call::kFree;
}
bool IsMmap(Call c) { return c == Call::kMmap || c == Call::kMmap64; }

bool HasCap(const format::HeadroomRecord& r, int cap) {
  return Known(r.cap_eff) && (r.cap_eff >> cap) & 1;
}

// glibc's own refusals, made before any system call.
bool GlibcPrecheck(const Failure& f, uint64_t page, std::string* why) {
  uint64_t product = 0;
  switch (f.call) {
    case Call::kCalloc:
    case Call::kReallocArray: {
      uint64_t a = f.call == Call::kCalloc ? f.args[0] : f.args[1];
      uint64_t b = f.call == Call::kCalloc ? f.args[1] : f.args[2];
      if (__builtin_mul_overflow(a, b, &product)) {
        *why = std::to_string(a) + " x " + std::to_string(b) +
               " overflows 64 bits: glibc returns ENOMEM before any system call";
        return true;
      }
      break;
    }
    case Call::kPosixMemalign:
    case Call::kAlignedAlloc:
    case Call::kMemalign: {
      uint64_t align = f.call == Call::kPosixMemalign ? f.args[1] : f.args[0];
      bool power_of_two = align != 0 && (align & (align - 1)) == 0;
      if (f.error == EINVAL) {
        if (f.call == Call::kPosixMemalign && (!power_of_two || align % sizeof(void*) != 0)) {
          *why = "alignment " + std::to_string(align) +
                 " is not a power of two multiple of sizeof(void*): rejected (EINVAL) before "
                 "any system call";
          return true;
        }
        if (align > UINT64_MAX / 2 + 1 || !power_of_two) {
          *why = "alignment " + std::to_string(align) +
                 (align > UINT64_MAX / 2 + 1 ? " is larger than SIZE_MAX/2+1"
                                             : " is not a power of two") +
                 ": rejected (EINVAL) before any system call";
          return true;
        }
      }
      uint64_t size = FailureSize(f);
      if (Sat(size, align) > kPtrdiffMax) {
        *why = "size " + std::to_string(size) + " + alignment " + std::to_string(align) +
               " exceeds PTRDIFF_MAX: glibc returns ENOMEM before any system call";
        return true;
      }
      return false;
    }
    case Call::kPvalloc:
      if (f.args[0] > UINT64_MAX - page) {
        *why = "rounding " + std::to_string(f.args[0]) +
               " up to a page overflows: glibc returns ENOMEM before any system call";
        return true;
      }
      break;
    default:
      break;
  }
  if (!IsMallocFamily(f.call)) return false;
  uint64_t size = FailureSize(f);
  if (size > kPtrdiffMax) {
    *why = "size " + std::to_string(size) +
           " exceeds PTRDIFF_MAX (2^63-1): glibc returns ENOMEM before any system call";
    return true;
  }
  return false;
}

bool InvalidArguments(const Failure& f, std::string* why) {
  if (IsMallocFamily(f.call)) return false;
  switch (f.error) {
    case EINVAL:
    case EBADF:
    case EACCES:
    case ENODEV:
    case EEXIST:
    case EFAULT:
    case EOVERFLOW:
    case ETXTBSY:
      *why = "the kernel rejected the arguments with " + ErrnoName(f.error) +
             " (address, length, flags or descriptor), not for lack of memory";
      return true;
    case EPERM:
      if (IsMmap(f.call) && (f.args[3] & MAP_HUGETLB) != 0) return false;  // see hugetlb
      *why = "EPERM: the operation is not permitted (e.g. a sealed or protected mapping)";
      return true;
  }
  return false;
}

struct Request {
  uint64_t bytes = 0;        // page-rounded request
  uint64_t need = 0;         // what the limit checks must have had room for
  bool accountable = false;  // counts against the commit limit and RLIMIT_DATA
  bool noreserve = false;
};

Request RequestOf(const Failure& f, uint64_t page) {
  Request q;
  uint64_t size = FailureSize(f);
  q.bytes = Sat(size, page - 1) / page * page;
  if (IsMallocFamily(f.call)) {
    q.need = Sat(q.bytes, kMallocSlack);
    q.accountable = true;
  } else if (IsMmap(f.call)) {
    int prot = static_cast<int>(f.args[2]), flags = static_cast<int>(f.args[3]);
    q.need = q.bytes;
    q.accountable = (prot & PROT_WRITE) && (flags & MAP_PRIVATE) && !(flags & MAP_HUGETLB);
    q.noreserve = (flags & MAP_NORESERVE) != 0;
  } else if (f.call == Call::kMremap) {
    q.bytes = f.args[2] > f.args[1] ? Sat(f.args[2] - f.args[1], page - 1) / page * page : 0;
    q.need = q.bytes;
    q.accountable = true;
  }
  return q;
}

void Add(Diagnosis& d, bool& found, Cause c, std::string evidence) {
  if (!found) {
    d.primary = {c, std::move(evidence)};
    found = true;
  } else {
    d.others.push_back({c, std::move(evidence)});
  }
}

void KernelPredicates(const Failure& f, const Headroom& h, const Request& q, Diagnosis& d,
                      bool& found) {
  const format::HeadroomRecord& r = h.record;
  bool mmap = IsMmap(f.call);
  int flags = mmap ? static_cast<int>(f.args[3]) : 0;
  if (q.bytes > kUserAddressSpace) {
    Add(d, found, Cause::kAddressSpace,
        "request " + B(q.bytes) + " is larger than the whole 128 TiB user address space");
  }
  if ((flags & MAP_LOCKED || f.error == EAGAIN) && !HasCap(r, kCapIpcLock) &&
      Limited(r.rlimit_memlock_cur) && Known(r.vm_lck_kb) &&
      Sat(r.vm_lck_kb * kKiB, q.bytes) > r.rlimit_memlock_cur) {
    Add(d, found, Cause::kMemlock,
        "VmLck " + Kb(r.vm_lck_kb) + " + request " + B(q.bytes) + " > RLIMIT_MEMLOCK " +
            B(r.rlimit_memlock_cur) + " (no CAP_IPC_LOCK)");
  }
  if (flags & MAP_HUGETLB && r.huge_page_kb != 0 && Known(r.huge_free) && Known(r.huge_rsvd)) {
    uint64_t page = r.huge_page_kb * kKiB;
    uint64_t pages = (q.bytes + page - 1) / page;
    uint64_t over =
        Known(r.huge_overcommit) && Known(r.huge_surplus) && r.huge_overcommit > r.huge_surplus
            ? r.huge_overcommit - r.huge_surplus
            : 0;
    uint64_t avail = (r.huge_free > r.huge_rsvd ? r.huge_free - r.huge_rsvd : 0) + over;
    if (avail < pages) {
      Add(d, found, Cause::kHugetlb,
          "needs " + std::to_string(pages) + " huge pages of " + Kb(r.huge_page_kb) + "; " +
              std::to_string(avail) + " available (free " + std::to_string(r.huge_free) +
              " - reserved " + std::to_string(r.huge_rsvd) + " + overcommit headroom " +
              std::to_string(over) + ", pool total " + std::to_string(r.huge_total) + ")");
    }
  }
  if (Limited(r.rlimit_as_cur) && Known(r.vm_size_kb) &&
      Sat(r.vm_size_kb * kKiB, q.need) > r.rlimit_as_cur) {
    Add(d, found, Cause::kRlimitAs,
        "VmSize " + Kb(r.vm_size_kb) + " + request " + B(q.bytes) + " > RLIMIT_AS " +
            B(r.rlimit_as_cur));
  }
  if (q.accountable && Limited(r.rlimit_data_cur) && Known(r.vm_data_kb) &&
      Sat(r.vm_data_kb * kKiB, q.need) > r.rlimit_data_cur) {
    Add(d, found, Cause::kRlimitData,
        "VmData " + Kb(r.vm_data_kb) + " + request " + B(q.bytes) + " > RLIMIT_DATA " +
            B(r.rlimit_data_cur));
  }
  if (Known(r.map_count) && Known(r.max_map_count) && r.map_count + 6 >= r.max_map_count) {
    Add(d, found, Cause::kMaxMapCount,
        std::to_string(r.map_count) + " mappings, vm.max_map_count " +
            std::to_string(r.max_map_count));
  }
  if (r.overcommit_memory == 2 && q.accountable && Known(r.commit_limit_kb) &&
      Known(r.committed_as_kb)) {
    uint64_t allowed = r.commit_limit_kb;
    uint64_t admin = HasCap(r, kCapSysAdmin) || !Known(r.admin_reserve_kb) ? 0 : r.admin_reserve_kb;
    uint64_t user = Known(r.vm_size_kb) && Known(r.user_reserve_kb)
                        ? std::min(r.vm_size_kb / 32, r.user_reserve_kb)
                        : 0;
    allowed = allowed > admin + user ? allowed - admin - user : 0;
    uint64_t req_kb = q.bytes / kKiB;
    // The kernel compares an approximate per-cpu counter: allow 1% below the threshold.
    if (Sat(r.committed_as_kb, req_kb) + allowed / 100 >= allowed) {
      Add(d, found, Cause::kStrictOvercommit,
          "overcommit mode 2: Committed_AS " + Kb(r.committed_as_kb) + " + request " + B(q.bytes) +
              " >= CommitLimit " + Kb(r.commit_limit_kb) + " - reserves " + Kb(admin + user));
    }
  }
  if (r.overcommit_memory == 0 && q.accountable && !q.noreserve && Known(r.mem_total_kb) &&
      Known(r.swap_total_kb) && q.bytes > (r.mem_total_kb + r.swap_total_kb) * kKiB) {
    Add(d, found, Cause::kHeuristicOvercommit,
        "overcommit mode 0: one request of " + B(q.bytes) + " > MemTotal " + Kb(r.mem_total_kb) +
            " + SwapTotal " + Kb(r.swap_total_kb));
  }
  uint64_t gap_need =
      IsMallocFamily(f.call) ? std::max(Sat(q.bytes, 4096), kMallocMinMapping) : q.bytes;
  bool fixed = mmap && (flags & MAP_FIXED);
  if (!fixed && Known(r.largest_gap_bytes) && r.largest_gap_bytes < gap_need &&
      q.bytes <= kUserAddressSpace) {
    Add(d, found, Cause::kAddressSpace,
        "largest free range of the address space " + B(r.largest_gap_bytes) + " < " + B(gap_need) +
            " needed (VmSize " + Kb(r.vm_size_kb) + ")");
  }
  if (f.call == Call::kMremap && f.error == ENOMEM && (f.args[3] & MREMAP_MAYMOVE) == 0 &&
      f.args[2] > f.args[1]) {
    Add(d, found, Cause::kMremapInPlace,
        "growing " + B(f.args[1]) + " to " + B(f.args[2]) +
            " in place is blocked by the next mapping and MREMAP_MAYMOVE was not given");
  }
  bool v1_stuck =
      r.cgroup_flags & (format::kCgroupFlagOomKillDisable | format::kCgroupFlagUnderOom);
  if (r.cgroup_version != format::kCgroupNone &&
      ((Limited(r.cgroup_headroom) && r.cgroup_headroom < Sat(q.bytes, kMiB)) || v1_stuck)) {
    std::string level =
        r.cgroup_binding_level == UINT32_MAX
            ? ""
            : " at level " + std::to_string(r.cgroup_binding_level) + " above " + h.cgroup_path;
    Add(d, found, Cause::kCgroup,
        "cgroup headroom " + LimitText(r.cgroup_headroom) + " (limit " +
            LimitText(r.cgroup_effective_limit) + level + ")" +
            (v1_stuck ? ", v1 oom_kill_disable/under_oom set" : "") +
            "; a cgroup limit usually ends in an OOM kill, ENOMEM only for kernel allocations "
            "inside system calls");
  }
}

std::string RawNumbers(const Headroom& h) {
  std::string out = "no predicate matched; raw figures: ";
  std::vector<std::string> lines = DescribeHeadroom(h);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "; ";
    out += lines[i];
  }
  return out;
}

}  // namespace

std::string LimitText(uint64_t v) {
  if (v == kUnknown) return "unknown";
  if (v == kUnlimited) return "unlimited";
  return B(v);
}

Diagnosis Diagnose(const Failure& f, uint64_t page_size) {
  Diagnosis d;
  bool found = false;
  if (page_size == 0) page_size = 4096;
  std::string why;
  if (GlibcPrecheck(f, page_size, &why)) Add(d, found, Cause::kGlibcPrecheck, why);
  if (!found && InvalidArguments(f, &why)) Add(d, found, Cause::kInvalidArguments, why);
  if (found) return d;  // nothing the kernel's memory checks saw
  if (!f.headroom) {
    d.primary = {Cause::kUnknown, "the recording holds no headroom snapshot for this failure"};
    return d;
  }
  KernelPredicates(f, *f.headroom, RequestOf(f, page_size), d, found);
  if (!found) d.primary = {Cause::kUnknown, RawNumbers(*f.headroom)};
  return d;
}

std::vector<std::string> DescribeHeadroom(const Headroom& h) {
  const format::HeadroomRecord& r = h.record;
  auto n = [](uint64_t v) { return Known(v) ? std::to_string(v) : std::string("unknown"); };
  std::vector<std::string> lines;
  lines.push_back("RLIMIT_AS " + LimitText(r.rlimit_as_cur) + " (VmSize " + Kb(r.vm_size_kb) +
                  "), RLIMIT_DATA " + LimitText(r.rlimit_data_cur) + " (VmData " +
                  Kb(r.vm_data_kb) + ")");
  lines.push_back("RLIMIT_MEMLOCK " + LimitText(r.rlimit_memlock_cur) + " (VmLck " +
                  Kb(r.vm_lck_kb) + "), VmRSS " + Kb(r.vm_rss_kb));
  lines.push_back("mappings " + n(r.map_count) + " of vm.max_map_count " + n(r.max_map_count) +
                  ", largest free address range " + LimitText(r.largest_gap_bytes));
  lines.push_back("overcommit mode " + n(r.overcommit_memory) + ", CommitLimit " +
                  Kb(r.commit_limit_kb) + ", Committed_AS " + Kb(r.committed_as_kb));
  lines.push_back("MemTotal " + Kb(r.mem_total_kb) + ", MemAvailable " + Kb(r.mem_available_kb) +
                  ", swap " + Kb(r.swap_free_kb) + " free of " + Kb(r.swap_total_kb));
  if (r.huge_page_kb != 0) {
    lines.push_back("huge pages of " + Kb(r.huge_page_kb) + ": total " + n(r.huge_total) +
                    ", free " + n(r.huge_free) + ", reserved " + n(r.huge_rsvd) + ", surplus " +
                    n(r.huge_surplus) + ", overcommit " + n(r.huge_overcommit));
  }
  if (r.cgroup_version == format::kCgroupNone) {
    lines.push_back("memory cgroup: none found");
  } else {
    std::string kind = r.cgroup_version == format::kCgroupV1 ? "v1" : "v2";
    if (r.cgroup_flags & format::kCgroupFlagHybrid) kind += " (hybrid host)";
    lines.push_back("memory cgroup " + kind + " " + h.cgroup_path);
    std::string line = "  headroom " + LimitText(r.cgroup_headroom) + ", effective limit " +
                       LimitText(r.cgroup_effective_limit);
    if (r.cgroup_binding_level != UINT32_MAX) {
      line += " (binding level " + std::to_string(r.cgroup_binding_level) + " up)";
    }
    lines.push_back(line);
    if (!h.levels.empty()) {
      const format::CgroupLevel& leaf = h.levels[0];
      line = "  own usage " + LimitText(leaf.usage) + ", limit " + LimitText(leaf.limit);
      if (Limited(leaf.high)) line += ", high " + B(leaf.high);
      if (Limited(leaf.swap_limit)) line += ", swap limit " + B(leaf.swap_limit);
      if (Known(leaf.events_oom_kill)) line += ", oom_kill " + std::to_string(leaf.events_oom_kill);
      lines.push_back(line);
    }
  }
  if (Known(r.psi_some_avg10_x100)) {
    char buf[96];
    std::snprintf(
        buf, sizeof(buf), "memory pressure avg10 some %.2f%% full %.2f%%",
        static_cast<double>(r.psi_some_avg10_x100) / 100,
        Known(r.psi_full_avg10_x100) ? static_cast<double>(r.psi_full_avg10_x100) / 100 : 0.0);
    lines.push_back(buf);
  }
  return lines;
}

const char* CauseName(Cause c) {
  switch (c) {
    case Cause::kGlibcPrecheck:
      return "glibc_precheck";
    case Cause::kInvalidArguments:
      return "invalid_arguments";
    case Cause::kMemlock:
      return "rlimit_memlock";
    case Cause::kHugetlb:
      return "hugetlb_pool";
    case Cause::kRlimitAs:
      return "rlimit_as";
    case Cause::kRlimitData:
      return "rlimit_data";
    case Cause::kMaxMapCount:
      return "max_map_count";
    case Cause::kStrictOvercommit:
      return "overcommit_strict";
    case Cause::kHeuristicOvercommit:
      return "overcommit_heuristic";
    case Cause::kAddressSpace:
      return "address_space";
    case Cause::kMremapInPlace:
      return "mremap_in_place";
    case Cause::kCgroup:
      return "memory_cgroup";
    case Cause::kUnknown:
      return "unknown";
  }
  return "unknown";
}

const char* CauseTitle(Cause c) {
  switch (c) {
    case Cause::kGlibcPrecheck:
      return "rejected by the C library before any system call";
    case Cause::kInvalidArguments:
      return "invalid arguments";
    case Cause::kMemlock:
      return "RLIMIT_MEMLOCK (locked-memory limit)";
    case Cause::kHugetlb:
      return "hugetlb pool exhausted";
    case Cause::kRlimitAs:
      return "RLIMIT_AS (address-space limit)";
    case Cause::kRlimitData:
      return "RLIMIT_DATA (data-segment limit)";
    case Cause::kMaxMapCount:
      return "vm.max_map_count (too many mappings)";
    case Cause::kStrictOvercommit:
      return "strict overcommit (mode 2) commit limit";
    case Cause::kHeuristicOvercommit:
      return "heuristic overcommit: one request larger than RAM+swap";
    case Cause::kAddressSpace:
      return "address space exhausted";
    case Cause::kMremapInPlace:
      return "mremap cannot grow in place";
    case Cause::kCgroup:
      return "memory cgroup limit";
    case Cause::kUnknown:
      return "unknown";
  }
  return "unknown";
}

const char* CauseRemedy(Cause c) {
  switch (c) {
    case Cause::kGlibcPrecheck:
      return "the size or alignment is a bug in the caller; check the arithmetic";
    case Cause::kInvalidArguments:
      return "check the address, length, flags and descriptor passed";
    case Cause::kMemlock:
      return "raise `ulimit -l` (LimitMEMLOCK= in systemd) or grant CAP_IPC_LOCK";
    case Cause::kHugetlb:
      return "reserve pages: sysctl vm.nr_hugepages=N (or nr_overcommit_hugepages)";
    case Cause::kRlimitAs:
      return "raise `ulimit -v` (LimitAS= in systemd); threads and malloc arenas reserve address "
             "space";
    case Cause::kRlimitData:
      return "raise `ulimit -d` (LimitDATA= in systemd)";
    case Cause::kMaxMapCount:
      return "sysctl vm.max_map_count=262144 (or fewer, larger mappings)";
    case Cause::kStrictOvercommit:
      return "raise vm.overcommit_ratio / add swap, or use vm.overcommit_memory=0";
    case Cause::kHeuristicOvercommit:
      return "ask for less at once, add swap, or MAP_NORESERVE for sparse mappings";
    case Cause::kAddressSpace:
      return "a request beyond the address space is a size bug; else free large reservations (a "
             "32-bit process needs a 64-bit build)";
    case Cause::kMremapInPlace:
      return "pass MREMAP_MAYMOVE";
    case Cause::kCgroup:
      return "raise memory.max (v2) / memory.limit_in_bytes (v1) at the binding level";
    case Cause::kUnknown:
      return "compare the raw figures with the limits above";
  }
  return "";
}

}  // namespace allocwatch::report
