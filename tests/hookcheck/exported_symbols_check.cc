// tests/hookcheck/exported_symbols_check.cc: liballocwatch.so, its version script and the list
// of hooked names (preload/format/hooked_symbols.h) agree.
//
// Usage: exported_symbols_check LIBRARY VERSION_SCRIPT. Compares three sets of names: the list,
// the `global:` names of the version script, and the functions the built library defines in
// its dynamic symbol table (`nm -D --defined-only`). Prints every difference; exit status 1
// when there is one, 2 when a file cannot be read.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "preload/format/environment.h"
#include "preload/format/hooked_symbols.h"

namespace {

std::set<std::string> ListedNames() {
  std::set<std::string> names;
#define ALLOCWATCH_NAME_OF_RESOLVED(name, member, need, ...) names.insert(#name);
#define ALLOCWATCH_NAME_OF_FORWARDED(name) names.insert(#name);
  ALLOCWATCH_RESOLVED_SYMBOLS(ALLOCWATCH_NAME_OF_RESOLVED)
  ALLOCWATCH_FORWARDED_SYMBOLS(ALLOCWATCH_NAME_OF_FORWARDED)
#undef ALLOCWATCH_NAME_OF_RESOLVED
#undef ALLOCWATCH_NAME_OF_FORWARDED
  names.insert(allocwatch::format::env::kAttachEntry);  // allocwatch attach's entry point
  return names;
}

// The names between "global:" and "local:", separated by ';' and white space.
bool VersionScriptNames(const std::string& path, std::set<std::string>* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  size_t begin = s.find("global:");
  size_t end = s.find("local:");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return false;
  std::string names = s.substr(begin + 7, end - begin - 7);
  for (char& c : names) {
    if (c == ';' || c == '\n' || c == '\t') c = ' ';
  }
  std::istringstream words(names);
  for (std::string w; words >> w;) out->insert(w);
  return true;
}

// Functions (type T or W, or i for an IFUNC) the library defines in its dynamic symbol table.
bool DefinedFunctions(const std::string& library, std::set<std::string>* out) {
  std::string command = "nm -D --defined-only '" + library + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[512];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::istringstream fields(line);
    std::string address, type, name;
    if (!(fields >> address >> type >> name)) continue;
    if (type == "T" || type == "W" || type == "i") out->insert(name.substr(0, name.find('@')));
  }
  return pclose(pipe) == 0;
}

int Compare(const char* what_a, const std::set<std::string>& a, const char* what_b,
            const std::set<std::string>& b) {
  int differences = 0;
  for (const std::string& n : a) {
    if (!b.count(n)) {
      std::cout << n << ": in " << what_a << ", not in " << what_b << "\n";
      ++differences;
    }
  }
  for (const std::string& n : b) {
    if (!a.count(n)) {
      std::cout << n << ": in " << what_b << ", not in " << what_a << "\n";
      ++differences;
    }
  }
  return differences;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: exported_symbols_check LIBRARY VERSION_SCRIPT\n";
    return 2;
  }
  std::set<std::string> listed = ListedNames(), script, defined;
  if (!VersionScriptNames(argv[2], &script)) {
    std::cerr << "cannot read the global: and local: sections of " << argv[2] << "\n";
    return 2;
  }
  if (!DefinedFunctions(argv[1], &defined)) {
    std::cerr << "cannot list the dynamic symbols of " << argv[1] << " with nm -D\n";
    return 2;
  }
  int differences = Compare("hooked_symbols.h", listed, "the version script", script) +
                    Compare("hooked_symbols.h", listed, "the library's dynamic symbols", defined);
  if (differences != 0) return 1;
  std::cout << listed.size() << " names: the list, the version script and the library agree\n";
  return 0;
}
