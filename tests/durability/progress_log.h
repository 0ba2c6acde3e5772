// tests/durability/progress_log.h: the subject's progress lines (subject.cc), each timed when
// it arrived, and what they say was allocated up to an instant.
//
// Not thread-safe. A line's arrival time is after the subject's write(2), so a step whose
// `done` line arrived by an instant had made its allocations by then.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allocwatch::durability_test {

struct Amount {
  uint64_t calls = 0;
  uint64_t bytes = 0;
  void Add(const Amount& o) { calls += o.calls, bytes += o.bytes; }
};

// What one thread logged for one site.
struct SiteLedger {
  Amount done_by_cutoff;  // steps whose `done` line arrived at or before the cutoff
  Amount done;            // every `done` line
  Amount begun;           // every `begin` line: at most this much was allocated
};

using ThreadLedger = std::map<std::string, SiteLedger>;  // by site function name

class ProgressLog {
 public:
  // Adds bytes read at now_ns (NowNs()); each complete line is parsed. Returns false (and
  // error() says why) at the first line that is not in the subject's format.
  bool Feed(std::string_view bytes, int64_t now_ns);

  std::optional<pid_t> pid() const { return pid_; }
  int64_t pid_time_ns() const { return pid_time_ns_; }
  // Arrival of the first `idle` line.
  std::optional<int64_t> idle_time_ns() const { return idle_time_ns_; }
  bool any_finished() const { return finished_; }
  const std::string& error() const { return error_; }

  // Per thread id (tids that logged a step), per site, with the given cutoff.
  std::map<long, ThreadLedger> Ledger(int64_t cutoff_ns) const;
  // Every line with its arrival in ms after the pid line, for a kept failure.
  std::string Transcript() const;

 private:
  struct StepLine {
    int64_t time_ns;
    bool done;  // `done`, else `begin`
    long tid;
    std::string site;
    Amount amount;
  };
  bool ParseLine(const std::string& line, int64_t now_ns);

  std::string partial_;
  std::vector<StepLine> steps_;
  std::vector<std::pair<int64_t, std::string>> lines_;
  std::optional<pid_t> pid_;
  int64_t pid_time_ns_ = 0;
  std::optional<int64_t> idle_time_ns_;
  bool finished_ = false;
  std::string error_;
};

}  // namespace allocwatch::durability_test
