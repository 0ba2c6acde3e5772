// tests/symbolize/failure_test.cc: missing and mismatched modules give nothing and one warning.
#include <catch2/catch.hpp>

#include "symbolize/symbolizer.h"
#include "test_support.h"

namespace allocwatch::symbolize {
namespace {

using testing::Recording;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Symbolizes every recording of the test program as `module`, both ways, expecting nothing.
void ExpectNothingFor(Symbolizer& symbolizer, const ModuleRef& module) {
  for (const Recording& recording : testing::Recordings()) {
    for (bool is_return : {true, false}) {
      std::vector<Frame> frames = symbolizer.Symbolize(module, recording.elf_address, is_return);
      CHECK(frames.empty());
      for (const Frame& frame : frames) {
        INFO("unexpected name for " << recording.tag << ": " << frame.function);
        CHECK(frame.function.empty());
      }
    }
  }
}

TEST_CASE("symbolize: wrong build-id gives no frames and exactly one warning", "[mismatch]") {
  REQUIRE(testing::Recordings().size() >= 4);
  const std::string wrong_id = "0123456789abcdef0123456789abcdef01234567";
  const ModuleRef module{SYMBOLIZE_TESTPROG, wrong_id};
  REQUIRE(testing::ReadBuildId(module.path) != wrong_id);
  Symbolizer symbolizer;
  ExpectNothingFor(symbolizer, module);
  ExpectNothingFor(symbolizer, module);
  REQUIRE(symbolizer.Warnings().size() == 1);
  CHECK(Contains(symbolizer.Warnings()[0], module.path));
  CHECK(Contains(symbolizer.Warnings()[0], wrong_id));
  CHECK(Contains(symbolizer.Warnings()[0], "mismatch"));

  // The right build-id for the same path is a different module and still works.
  const Recording& plain = testing::RecordingFor("plain");
  std::vector<Frame> frames = symbolizer.Symbolize({module.path, testing::ReadBuildId(module.path)},
                                                   plain.elf_address, true);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].function == "testprog::Plain()");
  CHECK(symbolizer.Warnings().size() == 1);
}

TEST_CASE("symbolize: missing file gives no frames and one warning per module", "[mismatch]") {
  Symbolizer symbolizer;
  const ModuleRef gone{"/nonexistent/allocwatch/libgone.so", ""};
  const ModuleRef gone_with_id{"/nonexistent/allocwatch/libgone2.so", "abcdef0123"};
  ExpectNothingFor(symbolizer, gone);
  ExpectNothingFor(symbolizer, gone_with_id);
  REQUIRE(symbolizer.Warnings().size() == 2);
  CHECK(Contains(symbolizer.Warnings()[0], gone.path));
  CHECK(Contains(symbolizer.Warnings()[0], "none"));
  CHECK(Contains(symbolizer.Warnings()[1], gone_with_id.path));
  CHECK(Contains(symbolizer.Warnings()[1], gone_with_id.build_id));
}

TEST_CASE("symbolize: a file that is not ELF is rejected with one warning", "[mismatch]") {
  Symbolizer symbolizer;
  const ModuleRef source{std::string(SYMBOLIZE_TESTDATA_DIR) + "/testprog.cc", ""};
  ExpectNothingFor(symbolizer, source);
  CHECK(symbolizer.Warnings().size() == 1);
}

TEST_CASE("symbolize: address outside the module gives nothing and no warning", "[mismatch]") {
  Symbolizer symbolizer;
  const ModuleRef module{SYMBOLIZE_TESTPROG, testing::ReadBuildId(SYMBOLIZE_TESTPROG)};
  CHECK(symbolizer.Symbolize(module, 0x7fff00000000ull, false).empty());
  CHECK(symbolizer.Symbolize(module, 0, true).empty());
  CHECK(symbolizer.Warnings().empty());
}

}  // namespace
}  // namespace allocwatch::symbolize
