// report/symbols/string_interner.h: strings stored once and referred to by their index (pprof's
// string table, the .awsym file's string pool).
//
// Offline. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace allocwatch::report {

template <typename Index>
class StringInterner {
 public:
  // The index of `s`, added at the end the first time.
  Index Intern(const std::string& s) {
    auto [it, inserted] = index_.try_emplace(s, static_cast<Index>(strings_.size()));
    if (inserted) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  absl::flat_hash_map<std::string, Index> index_;
  std::vector<std::string> strings_;
};

}  // namespace allocwatch::report
