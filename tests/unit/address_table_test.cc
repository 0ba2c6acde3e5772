// tests/unit/address_table_test.cc: live heap blocks and mappings inside the preload.
#include "preload/hooks/address_table.h"

#include <catch2/catch.hpp>
#include <memory>
#include <tuple>
#include <vector>

using namespace allocwatch::preload;  // NOLINT: the mapping kinds and classes
using allocwatch::preload::HeapTable;
using allocwatch::preload::LiveBlock;
using allocwatch::preload::MappingTable;

TEST_CASE("heap table inserts, finds once and forgets", "[address_table]") {
  auto heap = std::make_unique<HeapTable>();  // large: on the heap, not the stack
  heap->Insert(0x1000, LiveBlock{10, 1, 1});
  heap->Insert(0x2000, LiveBlock{20, 2, 1});
  CHECK(HeapTable::MayContain(0x1000));
  LiveBlock b{};
  CHECK(heap->Remove(0x1000, &b));
  CHECK(b.size == 10);
  CHECK(b.stack_id == 1);
  CHECK_FALSE(heap->Remove(0x1000, &b));
  CHECK_FALSE(heap->Remove(0x3000, &b));
  size_t n = 0;
  heap->ForEach([&](uint64_t a, const LiveBlock& block) {
    CHECK(a == 0x2000);
    CHECK(block.size == 20);
    ++n;
  });
  CHECK(n == 1);
}

TEST_CASE("mapping table splits partial unmaps like the kernel", "[address_table]") {
  auto maps = std::make_unique<MappingTable>();  // large: on the heap, not the stack
  maps->Insert(0x10000, 0x4000, 7, 11);
  CHECK(maps->live_bytes() == 0x4000);
  // Punch a hole in the middle: two pieces remain with the same stack.
  CHECK(maps->Remove(0x11000, 0x1000) == 0x1000);
  CHECK(maps->live_bytes() == 0x3000);
  std::vector<std::pair<uint64_t, uint64_t>> pieces;
  maps->ForEach([&](uint64_t a, const LiveBlock& m) {
    pieces.emplace_back(a, m.size);
    CHECK(m.stack_id == 7);
  });
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0] == std::make_pair<uint64_t, uint64_t>(0x10000, 0x1000));
  CHECK(pieces[1] == std::make_pair<uint64_t, uint64_t>(0x12000, 0x2000));
  // An unmap across both pieces and beyond removes only what was mapped.
  CHECK(maps->Remove(0xF000, 0x10000) == 0x3000);
  CHECK(maps->live_bytes() == 0);
  // Unmapping what was never mapped changes nothing.
  CHECK(maps->Remove(0x50000, 0x1000) == 0);
}

TEST_CASE("MAP_FIXED over a recorded mapping replaces the overlap", "[address_table]") {
  auto maps = std::make_unique<MappingTable>();  // large: on the heap, not the stack
  maps->Insert(0x10000, 0x3000, 1, 11);
  maps->Insert(0x11000, 0x1000, 2, 11);
  CHECK(maps->live_bytes() == 0x3000);
  std::vector<uint32_t> stacks;
  maps->ForEach([&](uint64_t, const LiveBlock& m) { stacks.push_back(m.stack_id); });
  CHECK(stacks == std::vector<uint32_t>{1, 2, 1});
}

TEST_CASE("mprotect splits a reservation into reserved and committed pieces", "[address_table]") {
  auto maps = std::make_unique<MappingTable>();  // large: on the heap, not the stack
  // A 64 KiB PROT_NONE reservation by stack 1.
  maps->Insert(0x100000, 0x10000, 1, 11, kMappingReserved);
  CHECK(maps->live_bytes() == 0);
  CHECK(maps->bytes(kMappedReserved) == 0x10000);
  // Nothing in it is accessible yet; a call that keeps it inaccessible changes nothing.
  CHECK(maps->Unlike(0x100000, 0x10000, /*accessible=*/true) == 0x10000);
  CHECK(maps->Unlike(0x100000, 0x10000, /*accessible=*/false) == 0);
  CHECK(maps->Protect(0x100000, 0x10000, /*accessible=*/false, 9) == 0);
  // Commit 8 KiB in the middle (and past the end of nothing): charged to stack 2.
  CHECK(maps->Protect(0x104000, 0x2000, /*accessible=*/true, 2) == 0x2000);
  CHECK(maps->live_bytes() == 0x2000);
  CHECK(maps->bytes(kMappedAnon) == 0x2000);
  CHECK(maps->bytes(kMappedReserved) == 0xE000);
  std::vector<std::tuple<uint64_t, uint64_t, uint32_t, bool>> pieces;
  maps->ForEach([&](uint64_t a, const LiveBlock& m) {
    pieces.emplace_back(a, m.size, m.stack_id, (m.kind & kMappingReserved) != 0);
  });
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0] == std::make_tuple(uint64_t{0x100000}, uint64_t{0x4000}, 1u, true));
  CHECK(pieces[1] == std::make_tuple(uint64_t{0x104000}, uint64_t{0x2000}, 2u, false));
  CHECK(pieces[2] == std::make_tuple(uint64_t{0x106000}, uint64_t{0xA000}, 1u, true));
  // Committing it again changes nothing; making all of it inaccessible returns the 8 KiB.
  CHECK(maps->Unlike(0x104000, 0x2000, /*accessible=*/true) == 0);
  CHECK(maps->Protect(0x100000, 0x10000, /*accessible=*/false, 0) == 0x2000);
  CHECK(maps->live_bytes() == 0);
  CHECK(maps->bytes(kMappedReserved) == 0x10000);
  // An unmap of the whole range removes every piece, whatever its state.
  CHECK(maps->Remove(0x100000, 0x10000) == 0x10000);
  CHECK(maps->bytes(kMappedReserved) == 0);
}

TEST_CASE("mappings are weighed by kind; mremap keeps the kind", "[address_table]") {
  auto maps = std::make_unique<MappingTable>();  // large: on the heap, not the stack
  maps->Insert(0x10000, 0x1000, 1, 11, kMappingFile);
  maps->Insert(0x20000, 0x2000, 1, 11, kMappingShared);
  maps->Insert(0x30000, 0x3000, 1, 11, 0);
  CHECK(maps->bytes(kMappedFile) == 0x1000);
  CHECK(maps->bytes(kMappedShared) == 0x2000);
  CHECK(maps->bytes(kMappedAnon) == 0x3000);
  CHECK(maps->live_bytes() == 0x6000);
  uint16_t kind = 0xFFFF;
  CHECK(maps->Remove(0x20000, 0x2000, &kind) == 0x2000);
  CHECK(kind == kMappingShared);
  kind = 0xFFFF;
  CHECK(maps->Remove(0x90000, 0x1000, &kind) == 0);
  CHECK(kind == 0xFFFF);  // nothing there: unchanged
}
