// tests/symbolize/testdata/testprog.cc: PIE program whose return addresses the tests symbolize.
//
// Prints one line per recorded return address: tag, module path, and the address in the
// module's own ELF address space (runtime address minus the module's load bias), tab-separated.
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include "inline_helper.h"
#include "record.h"
#include "testlib.h"

namespace testprog {
namespace {

struct Entry {
  const char* tag;
  void* address;
};

Entry g_entries[16];
int g_entry_count = 0;

void PrintEntry(const Entry& entry) {
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(entry.address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
      map == nullptr) {
    std::printf("%s\t?\t0\n", entry.tag);
    return;
  }
  char self[4096] = {};
  const char* path = map->l_name;
  if (path == nullptr || path[0] == '\0') {
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    path = length > 0 ? self : "?";
  }
  uintptr_t elf_address = reinterpret_cast<uintptr_t>(entry.address) - map->l_addr;
  std::printf("%s\t%s\t%jx\n", entry.tag, path, static_cast<uintmax_t>(elf_address));
}

}  // namespace

__attribute__((noipa)) void Record(const char* tag) {
  if (g_entry_count < 16) g_entries[g_entry_count++] = {tag, __builtin_return_address(0)};
}

__attribute__((noipa)) void Plain() {  // @plain_entry
  Record("plain");                     // @plain_body
}

__attribute__((noipa)) void CallsInline() {
  InlineHelper(3);  // @inline_call
}

__attribute__((noipa)) void WithLambda() {
  auto record_tag = [](const char* tag) {
    Record(tag);  // @lambda_body
  };
  record_tag("lambda");  // @lambda_call
}

}  // namespace testprog

int main() {
  testprog::Plain();
  testprog::CallsInline();
  testprog::WithLambda();
  testlib::Entry(&testprog::Record);
  // Not a return address: the first instruction of Plain().
  if (testprog::g_entry_count < 16) {
    testprog::g_entries[testprog::g_entry_count++] = {"plain_entry",
                                                      reinterpret_cast<void*>(&testprog::Plain)};
  }
  for (int i = 0; i < testprog::g_entry_count; ++i) testprog::PrintEntry(testprog::g_entries[i]);
  return 0;
}
