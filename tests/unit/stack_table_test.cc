// tests/unit/stack_table_test.cc: stack deduplication.
#include "preload/hooks/stack_table.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

using allocwatch::preload::StackTable;

TEST_CASE("stack table gives one id per distinct stack", "[stack_table]") {
  auto table = std::make_unique<StackTable>();  // large: on the heap, not the stack
  std::vector<uint64_t> a = {0x1000, 0x2000, 0x3000};
  std::vector<uint64_t> b = {0x1000, 0x2000, 0x3001};
  std::vector<uint64_t> prefix = {0x1000, 0x2000};
  bool is_new = false;
  uint32_t id_a = table->Intern(a.data(), 3, &is_new);
  CHECK(is_new);
  CHECK(id_a == 1);
  CHECK(table->Intern(a.data(), 3, &is_new) == id_a);
  CHECK_FALSE(is_new);
  uint32_t id_b = table->Intern(b.data(), 3, &is_new);
  CHECK(is_new);
  CHECK(id_b != id_a);
  uint32_t id_p = table->Intern(prefix.data(), 2, &is_new);
  CHECK(is_new);
  CHECK(id_p != id_a);
  uint32_t id_empty = table->Intern(nullptr, 0, &is_new);
  CHECK(is_new);
  CHECK(table->Intern(nullptr, 0, &is_new) == id_empty);
  CHECK(table->size() == 4);
}

TEST_CASE("stack table keeps stacks apart when their hashes collide", "[stack_table]") {
  // Many stacks: with 64-bit hashes a collision is unlikely, so check the probing path directly
  // through the invariant that each distinct stack keeps its own id across lookups.
  auto table = std::make_unique<StackTable>();  // large: on the heap, not the stack
  std::vector<uint32_t> ids;
  bool is_new = false;
  for (uint64_t i = 0; i < 20000; ++i) {
    uint64_t frames[2] = {i, i * 7 + 1};
    ids.push_back(table->Intern(frames, 2, &is_new));
    REQUIRE(is_new);
  }
  for (uint64_t i = 0; i < 20000; ++i) {
    uint64_t frames[2] = {i, i * 7 + 1};
    REQUIRE(table->Intern(frames, 2, &is_new) == ids[i]);
    REQUIRE_FALSE(is_new);
  }
  CHECK(table->size() == 20000);
}

TEST_CASE("reset in a fork child forgets every stack", "[stack_table]") {
  auto table = std::make_unique<StackTable>();  // large: on the heap, not the stack
  uint64_t frames[1] = {42};
  bool is_new = false;
  table->Intern(frames, 1, &is_new);
  table->ResetInChild();
  CHECK(table->Intern(frames, 1, &is_new) == 1);
  CHECK(is_new);
}
