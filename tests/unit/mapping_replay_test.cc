// tests/unit/mapping_replay_test.cc: the replay of mappings: a PROT_NONE reservation is
// address space apart from memory, mprotect commits part of it (charged to its caller) and
// takes it back, madvise's given-back pages are counted apart until made anew, munmap removes
// every piece whatever its state.
#include <sys/mman.h>

#include <catch2/catch.hpp>

#include "recording_builder.h"
#include "report_test_support.h"

namespace allocwatch::unit_test {
namespace {

namespace fmt = allocwatch::format;
constexpr uint64_t kMiB = 1 << 20;

void Mmap(Builder& b, uint64_t time, uint64_t address, uint64_t length, int prot, uint32_t stack) {
  fmt::MmapRecord r{};
  r.header = fmt::MakeHeader(fmt::RecordType::kMmap, sizeof(r));
  r.time_ns = time;
  r.address = address;
  r.length = length;
  r.stack_id = stack;
  r.tid = 1;
  r.prot = prot;
  r.flags = MAP_PRIVATE | MAP_ANONYMOUS;
  r.fd = -1;
  r.call = static_cast<uint16_t>(fmt::Call::kMmap);
  b.Raw(&r, sizeof(r));
}

void Protect(Builder& b, uint64_t time, uint64_t address, uint64_t length, int prot,
             uint32_t stack) {
  fmt::ProtectRecord r{};
  r.header = fmt::MakeHeader(fmt::RecordType::kProtect, sizeof(r));
  r.time_ns = time;
  r.address = address;
  r.length = length;
  r.stack_id = stack;
  r.tid = 1;
  r.prot = prot;
  b.Raw(&r, sizeof(r));
}

void Advise(Builder& b, uint64_t time, uint64_t address, uint64_t length) {
  fmt::AdviseRecord r{};
  r.header = fmt::MakeHeader(fmt::RecordType::kAdvise, sizeof(r));
  r.time_ns = time;
  r.address = address;
  r.length = length;
  r.tid = 1;
  r.advice = MADV_DONTNEED;
  b.Raw(&r, sizeof(r));
}

void Munmap(Builder& b, uint64_t time, uint64_t address, uint64_t length) {
  fmt::MunmapRecord r{};
  r.header = fmt::MakeHeader(fmt::RecordType::kMunmap, sizeof(r));
  r.time_ns = time;
  r.address = address;
  r.length = length;
  r.tid = 1;
  b.Raw(&r, sizeof(r));
}

const report::SiteFigures& Of(const report::ProcessModel& m, uint32_t stack) {
  auto it = m.per_stack.find(report::StackId{stack});
  REQUIRE(it != m.per_stack.end());
  return it->second;
}

}  // namespace

TEST_CASE("mappings: reserved, committed by mprotect, given back by madvise", "[mappings]") {
  const uint64_t base = 0x7f0000000000;
  for (int cut = 0; cut < 5; ++cut) {
    Builder b;
    b.Stack(1, {0x1000});
    b.Stack(2, {0x2000});
    b.Stack(3, {0x3000});
    Mmap(b, 1000, base, 1024 * kMiB, PROT_NONE, 1);
    if (cut > 0) Protect(b, 2000, base + 16 * kMiB, 8 * kMiB, PROT_READ | PROT_WRITE, 2);
    if (cut > 1) Advise(b, 3000, base + 20 * kMiB, 2 * kMiB);
    if (cut > 2) Protect(b, 4000, base + 20 * kMiB, 1 * kMiB, PROT_READ | PROT_WRITE, 3);
    if (cut > 3) Munmap(b, 5000, base, 1024 * kMiB);
    b.End(6000);
    auto l = Load(b.Write());
    const report::ProcessModel& m = l->model;
    INFO("records up to " << cut);
    const double committed[] = {0, 8, 6, 7, 0};
    const double discarded[] = {0, 0, 2, 1, 0};
    const double reserved = cut == 0 ? 1024 * kMiB : cut > 3 ? 0 : 1016 * kMiB;
    CHECK(m.totals.mapped_live_bytes == committed[cut] * kMiB);
    CHECK(m.totals.discarded_live_bytes == discarded[cut] * kMiB);
    CHECK(m.totals.reserved_live_bytes == reserved);
    CHECK(Of(m, 1).reserved_live_bytes == reserved);
    CHECK(Of(m, 1).mapped_live_bytes == 0);
    if (cut > 0) {
      // Committed by stack 2 (mprotect's caller); a recommit of discarded pages keeps the owner.
      CHECK(Of(m, 2).mapped_live_bytes == committed[cut] * kMiB);
      CHECK(Of(m, 2).mapped_bytes == 8 * kMiB);
    }
    // Address space is never part of the peak; the 8 MiB commit is.
    CHECK(m.peak_live_bytes == (cut > 0 ? 8 * kMiB : 0));
  }
}

}  // namespace allocwatch::unit_test
