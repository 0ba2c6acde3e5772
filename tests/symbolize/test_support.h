// tests/symbolize/test_support.h: helpers shared by the symbolizer tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace allocwatch::symbolize::testing {

// One return address printed by the test program.
struct Recording {
  std::string tag;
  std::string module;  // path of the ELF file the address belongs to
  uint64_t elf_address = 0;
};

// Runs the test program once (cached) and returns what it printed.
const std::vector<Recording>& Recordings();

// The recording with `tag`; fails the current test when absent.
const Recording& RecordingFor(const std::string& tag);

// Line number of the line carrying the comment "// @<marker>" in testdata/<file>.
int MarkerLine(const std::string& file, const std::string& marker);

// Lower-case hex GNU build-id of the ELF file at `path`; empty when none.
std::string ReadBuildId(const std::string& path);

// ELF e_type of the file at `path`; -1 when unreadable.
int ReadElfType(const std::string& path);

std::string Basename(const std::string& path);

// Runs a shell command; true when it exited with status 0.
bool RunCommand(const std::string& command);

// Quotes `text` for a POSIX shell.
std::string ShellQuote(const std::string& text);

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace allocwatch::symbolize::testing
