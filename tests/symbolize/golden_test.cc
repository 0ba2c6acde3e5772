// tests/symbolize/golden_test.cc: names and lines for a PIE program and a shared library.
//
// The test program records return addresses (already converted to ELF addresses); expected
// lines come from "// @marker" comments in the test program sources.
#include <elf.h>

#include <catch2/catch.hpp>
#include <cctype>

#include "symbolize/dwarf_names.h"
#include "symbolize/symbolizer.h"
#include "test_support.h"

namespace allocwatch::symbolize {
namespace {

using testing::Basename;
using testing::MarkerLine;
using testing::Recording;
using testing::RecordingFor;

std::vector<Frame> SymbolizeRecording(Symbolizer& symbolizer, const std::string& tag) {
  const Recording& recording = RecordingFor(tag);
  ModuleRef module{recording.module, testing::ReadBuildId(recording.module)};
  REQUIRE_FALSE(module.build_id.empty());
  return symbolizer.Symbolize(module, recording.elf_address, /*is_return_address=*/true);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("symbolize: test program is a PIE", "[golden]") {
  const Recording& recording = RecordingFor("plain");
  CHECK(recording.module == std::string(SYMBOLIZE_TESTPROG));
  CHECK(testing::ReadElfType(recording.module) == ET_DYN);
}

TEST_CASE("symbolize: plain function in the main program", "[golden]") {
  Symbolizer symbolizer;
  std::vector<Frame> frames = SymbolizeRecording(symbolizer, "plain");
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].function == "testprog::Plain()");
  CHECK(Basename(frames[0].file) == "testprog.cc");
  CHECK(frames[0].line == MarkerLine("testprog.cc", "plain_body"));
  CHECK(frames[0].column > 0);
  CHECK_FALSE(frames[0].inlined);
  CHECK(symbolizer.Warnings().empty());
}

TEST_CASE("symbolize: always_inline helper expands to two frames", "[golden]") {
  Symbolizer symbolizer;
  std::vector<Frame> frames = SymbolizeRecording(symbolizer, "inline");
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].function == "testprog::InlineHelper(int)");
  CHECK(Basename(frames[0].file) == "inline_helper.h");
  CHECK(frames[0].line == MarkerLine("inline_helper.h", "inline_body"));
  CHECK(frames[0].inlined);
  CHECK(frames[1].function == "testprog::CallsInline()");
  CHECK(Basename(frames[1].file) == "testprog.cc");
  CHECK(frames[1].line == MarkerLine("testprog.cc", "inline_call"));
  CHECK_FALSE(frames[1].inlined);
}

TEST_CASE("symbolize: lambda body", "[golden]") {
  Symbolizer symbolizer;
  std::vector<Frame> frames = SymbolizeRecording(symbolizer, "lambda");
  REQUIRE_FALSE(frames.empty());
  // Demangled "...::{lambda(char const*)#1}::operator()(...) const" when out of line; rebuilt
  // from DWARF scopes as "...::{lambda}::operator()" when GCC kept no linkage name.
  CHECK(Contains(frames[0].function, "testprog::WithLambda()::{lambda"));
  CHECK(Contains(frames[0].function, "::operator()"));
  CHECK(Basename(frames[0].file) == "testprog.cc");
  CHECK(frames[0].line == MarkerLine("testprog.cc", "lambda_body"));
  CHECK(Contains(frames.back().function, "WithLambda"));
  CHECK_FALSE(frames.back().inlined);
  if (frames.size() == 2) {  // the lambda was inlined into its caller
    CHECK(frames[0].inlined);
    CHECK(frames[1].function == "testprog::WithLambda()");
    CHECK(frames[1].line == MarkerLine("testprog.cc", "lambda_call"));
  }
}

TEST_CASE("symbolize: template instantiation in a shared library", "[golden]") {
  const Recording& recording = RecordingFor("template");
  CHECK(Basename(recording.module) == Basename(SYMBOLIZE_TESTLIB));
  Symbolizer symbolizer;
  std::vector<Frame> frames = SymbolizeRecording(symbolizer, "template");
  REQUIRE(frames.size() == 1);
  CHECK(Contains(frames[0].function, "testlib::Twice<int>(int, "));
  CHECK(Basename(frames[0].file) == "testlib.cc");
  CHECK(frames[0].line == MarkerLine("testlib.cc", "template_body"));
}

TEST_CASE("symbolize: return vs exact address and cached repeats agree", "[golden]") {
  const Recording& recording = RecordingFor("plain");
  ModuleRef module{recording.module, testing::ReadBuildId(recording.module)};
  Symbolizer symbolizer;
  std::vector<Frame> first = symbolizer.Symbolize(module, recording.elf_address, true);
  std::vector<Frame> again = symbolizer.Symbolize(module, recording.elf_address, true);
  std::vector<Frame> exact = symbolizer.Symbolize(module, recording.elf_address - 1, false);
  REQUIRE(first.size() == 1);
  REQUIRE(again.size() == 1);
  REQUIRE(exact.size() == 1);
  CHECK(again[0].function == first[0].function);
  CHECK(again[0].line == first[0].line);
  CHECK(exact[0].function == first[0].function);
  CHECK(exact[0].line == first[0].line);
}

TEST_CASE("symbolize: a first frame is looked up at its own address", "[golden]") {
  // The entry of Plain() as an interrupted instruction is Plain() at its opening line; taken
  // as a return address it would be looked up one byte earlier, outside Plain().
  const Recording& recording = RecordingFor("plain_entry");
  ModuleRef module{recording.module, testing::ReadBuildId(recording.module)};
  Symbolizer symbolizer;
  std::vector<Frame> own = symbolizer.Symbolize(module, recording.elf_address, false);
  REQUIRE(own.size() == 1);
  CHECK(own[0].function == "testprog::Plain()");
  CHECK(Basename(own[0].file) == "testprog.cc");
  CHECK(own[0].line == MarkerLine("testprog.cc", "plain_entry"));
  std::vector<Frame> before = symbolizer.Symbolize(module, recording.elf_address, true);
  CHECK((before.empty() || before.back().function != "testprog::Plain()"));
}

TEST_CASE("symbolize: each distinct address is looked up once", "[golden]") {
  const Recording& plain = RecordingFor("plain");
  const Recording& inlined = RecordingFor("inline");
  REQUIRE(plain.module == inlined.module);
  ModuleRef module{plain.module, testing::ReadBuildId(plain.module)};
  Symbolizer symbolizer;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(symbolizer.Symbolize(module, plain.elf_address, true).size() == 1);
    REQUIRE(symbolizer.Symbolize(module, inlined.elf_address, true).size() == 2);
  }
  // The same instruction asked for as a return address and as its own address: one lookup.
  REQUIRE(symbolizer.Symbolize(module, plain.elf_address - 1, false).size() == 1);
  CHECK(symbolizer.stats().requests == 201);
  CHECK(symbolizer.stats().dwarf_lookups == 2);
  CHECK(symbolizer.stats().modules_opened == 1);
}

TEST_CASE("symbolize: module without build-id in the recording is not checked", "[golden]") {
  const Recording& recording = RecordingFor("plain");
  Symbolizer symbolizer;
  std::vector<Frame> frames =
      symbolizer.Symbolize({recording.module, ""}, recording.elf_address, true);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].function == "testprog::Plain()");
  CHECK(symbolizer.Warnings().empty());
}

TEST_CASE("symbolize: upper-case build-id hex is accepted", "[golden]") {
  const Recording& recording = RecordingFor("plain");
  std::string build_id = testing::ReadBuildId(recording.module);
  for (char& c : build_id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Symbolizer symbolizer;
  std::vector<Frame> frames =
      symbolizer.Symbolize({recording.module, build_id}, recording.elf_address, true);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].function == "testprog::Plain()");
  CHECK(symbolizer.Warnings().empty());
}

}  // namespace
}  // namespace allocwatch::symbolize

namespace allocwatch::symbolize {

TEST_CASE("symbolize: C++ and Rust (legacy and v0) names are demangled", "[golden]") {
  using internal::Demangle;
  CHECK(Demangle("_ZNSt6vectorIiSaIiEE9push_backERKi") ==
        "std::vector<int, std::allocator<int> >::push_back(int const&)");
  CHECK(Demangle("_ZN3foo3barE") == "foo::bar");
  // Rust's legacy names end in a hash, left out; v0 names start with _R.
  CHECK(Demangle("_ZN4leak4main17h68d97aefc12db3cbE") == "leak::main");
  CHECK(Demangle("_RINvMNtCsgEmfK2I1SDS_4core3stre18trim_start_matchesReECsgY6Mt91CT9J_"
                 "14rustc_demangle") == "<str>::trim_start_matches::<&str>");
  CHECK(Demangle("_RNvCs1234_4leak4main") == "leak::main");
  CHECK(Demangle("main") == "main");
  CHECK(Demangle("_Rnot_a_name") == "_Rnot_a_name");
}

}  // namespace allocwatch::symbolize
