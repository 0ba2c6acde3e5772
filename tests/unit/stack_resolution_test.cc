// tests/unit/stack_resolution_test.cc: each return address of a stack is given the module that
// covered it when the stack was recorded: not one unloaded before, not one loaded at the same
// place afterwards; a module whose record comes after the stack covers what no module did.
#include <catch2/catch.hpp>

#include "recording_builder.h"
#include "report/replay/model.h"

namespace allocwatch::unit_test {
namespace {

namespace fmt = allocwatch::format;

void Unload(Builder& b, uint32_t id) {
  fmt::ModuleUnloadRecord r{};
  r.header = fmt::MakeHeader(fmt::RecordType::kModuleUnload, sizeof(r));
  r.module_id = id;
  b.Raw(&r, sizeof(r));
}

// The path of the module frame `k` of stack `id` was given, or "" when none.
std::string ModuleOf(const report::ProcessModel& m, uint32_t id, size_t k) {
  const auto& frames = m.stacks.at(report::StackId{id});
  REQUIRE(k < frames.size());
  int module = frames[k].module;
  return module < 0 ? "" : m.modules.at(static_cast<size_t>(module)).path;
}

}  // namespace

TEST_CASE("stacks: each frame gets the module that covered it when the stack was recorded",
          "[stacks]") {
  Builder b;
  b.Module(1, "/lib/a.so", 0x10000, 0x20000);
  b.Module(2, "/lib/b.so", 0x30000, 0x40000);
  b.Module(3, "/lib/c.so", 0x20000, 0x30000);
  // Frames in a, b, c, in nothing yet (d's record comes later), in nothing ever.
  b.Stack(1, {0x10010, 0x30020, 0x2fff8, 0x50000, 0x90000});
  Unload(b, 1);
  b.Module(4, "/lib/a2.so", 0x10000, 0x20000);  // loaded where a was
  b.Stack(2, {0x10010, 0x30020});
  Unload(b, 4);
  b.Stack(3, {0x10010});  // nothing is loaded there now
  b.Module(5, "/lib/d.so", 0x50000, 0x60000);
  b.Alloc(10, 0x1000, 16, 1);
  b.Alloc(20, 0x2000, 16, 2);
  b.Alloc(30, 0x3000, 16, 3);
  b.End(40);
  report::ProcessModel m = report::LoadProcess(b.Write(), {});
  CHECK(ModuleOf(m, 1, 0) == "/lib/a.so");
  CHECK(ModuleOf(m, 1, 1) == "/lib/b.so");
  CHECK(ModuleOf(m, 1, 2) == "/lib/c.so");
  CHECK(ModuleOf(m, 1, 3) == "/lib/d.so");  // first written after the stack
  CHECK(ModuleOf(m, 1, 4).empty());
  CHECK(ModuleOf(m, 2, 0) == "/lib/a2.so");
  CHECK(ModuleOf(m, 2, 1) == "/lib/b.so");
  CHECK(ModuleOf(m, 3, 0).empty());
  const auto& frames = m.stacks.at(report::StackId{1});
  CHECK(frames[1].elf_address == 0x30020);  // load bias 0
}

}  // namespace allocwatch::unit_test
