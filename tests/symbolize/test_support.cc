// tests/symbolize/test_support.cc: running the test program, reading markers and build-ids.
#include "test_support.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace allocwatch::symbolize::testing {
namespace {

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, '\t')) fields.push_back(field);
  return fields;
}

std::vector<Recording> RunTestProgram() {
  std::vector<Recording> recordings;
  FILE* pipe = popen(ShellQuote(SYMBOLIZE_TESTPROG).c_str(), "r");
  if (pipe == nullptr) return recordings;
  char buffer[8192];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    std::string line(buffer);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    std::vector<std::string> fields = SplitTabs(line);
    if (fields.size() != 3) continue;
    recordings.push_back({fields[0], fields[1], std::stoull(fields[2], nullptr, 16)});
  }
  pclose(pipe);
  return recordings;
}

// Runs `use` on a libelf handle for `path`; returns `fallback` when the file is unreadable.
template <typename Result, typename Use>
Result WithElf(const std::string& path, Result fallback, Use use) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fallback;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  Result result = elf != nullptr ? use(elf) : fallback;
  elf_end(elf);
  close(fd);
  return result;
}

}  // namespace

const std::vector<Recording>& Recordings() {
  static const std::vector<Recording> recordings = RunTestProgram();
  return recordings;
}

const Recording& RecordingFor(const std::string& tag) {
  for (const Recording& recording : Recordings()) {
    if (recording.tag == tag) return recording;
  }
  FAIL("test program printed no recording tagged " << tag);
  static const Recording kNone;
  return kNone;
}

int MarkerLine(const std::string& file, const std::string& marker) {
  std::ifstream stream(std::string(SYMBOLIZE_TESTDATA_DIR) + "/" + file);
  const std::string needle = "// @" + marker;
  std::string line;
  for (int number = 1; std::getline(stream, line); ++number) {
    if (line.size() >= needle.size() &&
        line.compare(line.size() - needle.size(), needle.size(), needle) == 0) {
      return number;
    }
  }
  FAIL("marker " << marker << " not found in " << file);
  return -1;
}

std::string ReadBuildId(const std::string& path) {
  return WithElf(path, std::string(), [](Elf* elf) {
    const void* bits = nullptr;
    ssize_t length = dwelf_elf_gnu_build_id(elf, &bits);
    std::string hex;
    for (ssize_t i = 0; i < length; ++i) {
      char byte[3];
      std::snprintf(byte, sizeof(byte), "%02x", static_cast<const unsigned char*>(bits)[i]);
      hex += byte;
    }
    return hex;
  });
}

int ReadElfType(const std::string& path) {
  return WithElf(path, -1, [](Elf* elf) {
    GElf_Ehdr header;
    return gelf_getehdr(elf, &header) != nullptr ? static_cast<int>(header.e_type) : -1;
  });
}

std::string Basename(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

bool RunCommand(const std::string& command) { return std::system(command.c_str()) == 0; }

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "allocwatch_symbolize_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code error;
  if (!path_.empty()) std::filesystem::remove_all(path_, error);
}

}  // namespace allocwatch::symbolize::testing
