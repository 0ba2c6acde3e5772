// tests/symbolize/debug_file_test.cc: stripped binaries with separate debug files, sysroot.
//
// Copies of the test program are made in a temp dir with objcopy/strip: the debug part is
// placed either under <debug-dir>/.build-id/xx/rest.debug or found through .gnu_debuglink.
#include <catch2/catch.hpp>
#include <filesystem>

#include "symbolize/symbolizer.h"
#include "test_support.h"

namespace allocwatch::symbolize {
namespace {

namespace fs = std::filesystem;
using testing::MarkerLine;
using testing::Recording;
using testing::RecordingFor;
using testing::RunCommand;
using testing::ShellQuote;

// Writes the debug-only part of `binary` to `debug_file` and a stripped copy to `stripped`.
void SplitDebugInfo(const std::string& binary, const std::string& debug_file,
                    const std::string& stripped) {
  fs::create_directories(fs::path(debug_file).parent_path());
  REQUIRE(RunCommand(std::string(SYMBOLIZE_OBJCOPY) + " --only-keep-debug " + ShellQuote(binary) +
                     " " + ShellQuote(debug_file)));
  REQUIRE(RunCommand(std::string(SYMBOLIZE_STRIP) + " --strip-all -o " + ShellQuote(stripped) +
                     " " + ShellQuote(binary)));
}

// Checks that the "plain" and "inline" recordings resolve in `module` to the golden values.
void ExpectGolden(Symbolizer& symbolizer, const ModuleRef& module) {
  std::vector<Frame> plain = symbolizer.Symbolize(module, RecordingFor("plain").elf_address, true);
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].function == "testprog::Plain()");
  CHECK(testing::Basename(plain[0].file) == "testprog.cc");
  CHECK(plain[0].line == MarkerLine("testprog.cc", "plain_body"));
  std::vector<Frame> inlined =
      symbolizer.Symbolize(module, RecordingFor("inline").elf_address, true);
  REQUIRE(inlined.size() == 2);
  CHECK(inlined[0].line == MarkerLine("inline_helper.h", "inline_body"));
  CHECK(inlined[1].function == "testprog::CallsInline()");
  CHECK(inlined[1].line == MarkerLine("testprog.cc", "inline_call"));
  CHECK(symbolizer.Warnings().empty());
}

std::string BuildIdPath(const std::string& root, const std::string& build_id) {
  return root + "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
}

TEST_CASE("symbolize: stripped binary + .build-id debug file under a debug dir", "[debuginfo]") {
  testing::TempDir temp;
  const std::string program = SYMBOLIZE_TESTPROG;
  const std::string build_id = testing::ReadBuildId(program);
  REQUIRE(build_id.size() > 2);
  const std::string root = temp.path() + "/debug-root";
  const std::string stripped = temp.path() + "/stripped";
  SplitDebugInfo(program, BuildIdPath(root, build_id), stripped);
  REQUIRE(testing::ReadBuildId(stripped) == build_id);

  SECTION("without the debug dir there is no file:line") {
    Symbolizer symbolizer;
    for (const Frame& frame :
         symbolizer.Symbolize({stripped, build_id}, RecordingFor("plain").elf_address, true)) {
      CHECK(frame.line == 0);
      CHECK(frame.function != "testprog::Plain()");
    }
  }
  SECTION("with the debug dir the stripped file resolves") {
    Symbolizer symbolizer(Options{"", {root}});
    ExpectGolden(symbolizer, {stripped, build_id});
  }
  SECTION("a missing binary resolves from the .build-id debug file alone") {
    Symbolizer symbolizer(Options{"", {root}});
    ExpectGolden(symbolizer, {"/nonexistent/allocwatch/testprog", build_id});
  }
}

TEST_CASE("symbolize: stripped binary + debug file found through .gnu_debuglink", "[debuginfo]") {
  testing::TempDir temp;
  const std::string program = SYMBOLIZE_TESTPROG;
  const std::string debug_file = temp.path() + "/bin/.debug/testprog.debug";
  const std::string stripped = temp.path() + "/bin/testprog";
  SplitDebugInfo(program, debug_file, stripped);
  REQUIRE(RunCommand(std::string(SYMBOLIZE_OBJCOPY) + " --add-gnu-debuglink=" +
                     ShellQuote(debug_file) + " " + ShellQuote(stripped)));
  Symbolizer symbolizer;
  ExpectGolden(symbolizer, {stripped, testing::ReadBuildId(program)});
}

TEST_CASE("symbolize: a .gnu_debuglink file with the wrong CRC is not used", "[debuginfo]") {
  testing::TempDir temp;
  const std::string program = SYMBOLIZE_TESTPROG;
  const std::string debug_file = temp.path() + "/bin/testprog.debug";
  const std::string stripped = temp.path() + "/bin/testprog";
  SplitDebugInfo(program, debug_file, stripped);
  REQUIRE(RunCommand(std::string(SYMBOLIZE_OBJCOPY) + " --add-gnu-debuglink=" +
                     ShellQuote(debug_file) + " " + ShellQuote(stripped)));
  // Same name, other contents: the debug info of the shared library.
  REQUIRE(RunCommand(std::string(SYMBOLIZE_OBJCOPY) + " --only-keep-debug " +
                     ShellQuote(SYMBOLIZE_TESTLIB) + " " + ShellQuote(debug_file)));
  Symbolizer symbolizer;
  const ModuleRef module{stripped, testing::ReadBuildId(program)};
  for (const Recording& recording : testing::Recordings()) {
    if (recording.module != program) continue;
    for (const Frame& frame : symbolizer.Symbolize(module, recording.elf_address, true)) {
      CHECK(frame.line == 0);
      CHECK(frame.function.find("testlib") == std::string::npos);
    }
  }
}

TEST_CASE("symbolize: module paths are looked up under the sysroot", "[debuginfo]") {
  testing::TempDir temp;
  const std::string sysroot = temp.path() + "/sysroot";
  fs::create_directories(sysroot + "/opt/app");
  fs::copy_file(SYMBOLIZE_TESTPROG, sysroot + "/opt/app/testprog");
  Symbolizer symbolizer(Options{sysroot, {}});
  ExpectGolden(symbolizer, {"/opt/app/testprog", testing::ReadBuildId(SYMBOLIZE_TESTPROG)});
}

}  // namespace
}  // namespace allocwatch::symbolize

namespace allocwatch::symbolize {
namespace {

TEST_CASE("symbolize: without DWARF, names come from the ELF symbol covering the address",
          "[debuginfo]") {
  testing::TempDir temp;
  const std::string program = SYMBOLIZE_TESTPROG;
  const std::string no_dwarf = temp.path() + "/no-dwarf";
  REQUIRE(testing::RunCommand(std::string(SYMBOLIZE_STRIP) + " --strip-debug -o " +
                              testing::ShellQuote(no_dwarf) + " " + testing::ShellQuote(program)));
  // The debug roots must not offer the debug info back: none are given and a build-id
  // lookup under /usr/lib/debug finds nothing for a test program.
  ModuleRef module{no_dwarf, testing::ReadBuildId(no_dwarf)};
  Symbolizer symbolizer;
  std::vector<Frame> plain =
      symbolizer.Symbolize(module, testing::RecordingFor("plain").elf_address, true);
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].function == "testprog::Plain()");
  CHECK(plain[0].file.empty());
  CHECK(plain[0].line == 0);
  std::vector<Frame> entry =
      symbolizer.Symbolize(module, testing::RecordingFor("plain_entry").elf_address, false);
  REQUIRE(entry.size() == 1);
  CHECK(entry[0].function == "testprog::Plain()");
  // The inline helper's frame cannot be known without DWARF: the real function is named.
  std::vector<Frame> inlined =
      symbolizer.Symbolize(module, testing::RecordingFor("inline").elf_address, true);
  REQUIRE(inlined.size() == 1);
  CHECK(inlined[0].function == "testprog::CallsInline()");
  CHECK(symbolizer.Warnings().empty());
}

}  // namespace
}  // namespace allocwatch::symbolize
