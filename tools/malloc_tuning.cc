// tools/malloc_tuning.cc: see malloc_tuning.h.
#include "tools/malloc_tuning.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tools/commands.h"

namespace allocwatch::tools {
namespace {

constexpr char kTunables[] = "GLIBC_TUNABLES";
constexpr char kHugePages[] = "glibc.malloc.hugetlb=1";
// Set in the environment of the allocwatch that ExecWithHugePages starts: "1" when
// GLIBC_TUNABLES was set before (its old value is in kTunablesBefore), "0" when it was not.
constexpr char kTuned[] = "ALLOCWATCH_MALLOC_TUNED";
constexpr char kTunablesBefore[] = "ALLOCWATCH_GLIBC_TUNABLES_BEFORE";

bool KernelHugePagesOnRequest() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  return std::getline(in, line) && line.find("[madvise]") != std::string::npos;
}

}  // namespace

void ExecWithHugePages(char** argv) {
  const char* before = std::getenv(kTunables);
  if (before != nullptr && std::strstr(before, "glibc.malloc.hugetlb") != nullptr) return;
  if (!KernelHugePagesOnRequest()) return;
  std::string tunables = kHugePages;
  if (before != nullptr && before[0] != '\0') tunables = std::string(before) + ":" + kHugePages;
  if (before != nullptr) setenv(kTunablesBefore, before, 1);
  setenv(kTuned, before != nullptr ? "1" : "0", 1);
  setenv(kTunables, tunables.c_str(), 1);
  // The file itself, not /proc/self/exe: the process's name (ps, top) is taken from the path.
  std::string self = ProgramPath();
  if (!self.empty()) execv(self.c_str(), argv);
  RestoreEnvironment();  // the exec failed: carry on as we are
}

bool RestoreEnvironment() {
  const char* tuned = std::getenv(kTuned);
  if (tuned == nullptr) return false;
  if (std::strcmp(tuned, "1") == 0) {
    const char* before = std::getenv(kTunablesBefore);
    setenv(kTunables, before != nullptr ? before : "", 1);
  } else {
    unsetenv(kTunables);
  }
  unsetenv(kTunablesBefore);
  unsetenv(kTuned);
  return true;
}

}  // namespace allocwatch::tools
