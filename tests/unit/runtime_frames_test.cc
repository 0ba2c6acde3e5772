// tests/unit/runtime_frames_test.cc: which frames count as the runtime, skipped when a stack's
// call site is chosen: C++'s standard library and operator new, well-known allocation wrappers,
// and Rust's standard library and allocator shims; never the program's own functions. The
// names come from a symbol table, so no binary is read.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "report/replay/model.h"
#include "report/symbols/stack_symbolizer.h"
#include "report/symbols/symbol_table.h"

namespace allocwatch::unit_test {

TEST_CASE("runtime frames: the standard libraries of C++ and Rust, and allocation wrappers",
          "[symbols]") {
  // function name -> whether it is the runtime's
  const std::vector<std::pair<std::string, bool>> names = {
      {"operator new(unsigned long)", true},
      {"std::vector<int, std::allocator<int> >::push_back(int const&)", true},
      {"xmalloc", true},
      {"g_malloc0", true},
      {"os::malloc(unsigned long, MEMFLAGS, NativeCallStack const&)", true},
      {"AllocateHeap(unsigned long, MEMFLAGS, AllocFailStrategy::AllocFailEnum)", true},
      {"CHeapObj<(MEMFLAGS)5>::operator new(unsigned long)", true},
      {"G1CollectedHeap::G1CollectedHeap()", false},
      {"CRYPTO_zalloc", true},
      {"PyObject_Malloc", true},
      {"_PyObject_Malloc", true},
      {"pymalloc_alloc", true},
      {"allocate_from_new_pool", true},
      {"_PyObject_ArenaMmap", true},
      {"PyByteArray_Resize", false},
      {"llvm::allocate_buffer(unsigned long, unsigned long)", true},
      {"llvm::SmallVectorBase<unsigned int>::grow_pod(void*, unsigned long, unsigned long)", false},
      {"__rust_alloc", true},
      {"__rdl_alloc", true},
      {"alloc::raw_vec::finish_grow", true},
      {"<alloc::raw_vec::RawVecInner>::finish_grow", true},
      {"<alloc::vec::Vec<u8> as core::clone::Clone>::clone", true},
      {"core::ptr::drop_in_place<alloc::string::String>", true},
      {"<std::collections::hash::map::HashMap<u32, u64>>::insert", true},
      {"std::rt::lang_start_internal", true},
      {"<[u8]>::to_vec", true},
      {"<str as alloc::borrow::ToOwned>::to_owned", true},
      {"<str as mycrate::Shout>::shout", false},
      {"<mycrate::Cache as core::clone::Clone>::clone", false},
      {"leak::main", false},
      {"allocator_user(int)", false},
      {"main", false},
  };
  report::ProcessModel model;
  report::ModuleInfo mod;
  mod.path = "/usr/bin/prog";
  mod.build_id = "abcd";
  mod.start = 0x1000;
  mod.end = 0x100000;
  model.modules.push_back(mod);
  report::SymbolTable table;
  table.modules.push_back(report::SymbolTableModule{mod.path, mod.build_id, true, ""});
  std::vector<report::RawFrame> frames;
  for (size_t i = 0; i < names.size(); ++i) {
    uint64_t address = 0x2000 + 0x10 * i;
    frames.push_back(report::RawFrame{address, 0, address});
    symbolize::Frame f;
    f.function = names[i].first;
    table.entries[{0, address}] = {f};
  }
  model.stacks[report::StackId{1}] = frames;
  report::StackSymbolizer symbols(symbolize::Options{}, true);
  symbols.AddTable(table);
  std::vector<report::DisplayFrame> shown = symbols.Frames(model, report::StackId{1});
  REQUIRE(shown.size() == names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(names[i].first);
    CHECK(shown[i].function == names[i].first);
    CHECK(shown[i].runtime == names[i].second);
  }
}

}  // namespace allocwatch::unit_test
