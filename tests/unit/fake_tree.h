// tests/unit/fake_tree.h: a temporary directory laid out like / (proc, sys), for the readers
// that take a root prefix. Removed with its contents on destruction.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace allocwatch::test {

class FakeTree {
 public:
  FakeTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "allocwatch-fake.XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
  }
  ~FakeTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  // Writes root + path (path starts with '/'), creating its directories.
  void Write(const std::string& path, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(root_ + path).parent_path());
    std::ofstream(root_ + path, std::ios::binary) << text;
  }
  void Mkdir(const std::string& path) const { std::filesystem::create_directories(root_ + path); }
  void Chmod(const std::string& path, mode_t mode) const { chmod((root_ + path).c_str(), mode); }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace allocwatch::test
