// tests/durability/progress_log.cc: see progress_log.h.
#include "progress_log.h"

#include <cstdio>
#include <sstream>

namespace allocwatch::durability_test {

bool ProgressLog::Feed(std::string_view bytes, int64_t now_ns) {
  partial_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = partial_.substr(start, nl - start);
    lines_.emplace_back(now_ns, line);
    if (error_.empty() && !ParseLine(line, now_ns)) error_ = "unexpected progress line: " + line;
  }
  partial_.erase(0, start);
  return error_.empty();
}

bool ProgressLog::ParseLine(const std::string& line, int64_t now_ns) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word == "pid") {
    long pid = 0;
    if (!(in >> pid) || pid_ || pid <= 1) return false;
    pid_ = static_cast<pid_t>(pid);
    pid_time_ns_ = now_ns;
    return true;
  }
  long tid = 0;
  if (!(in >> tid)) return false;
  if (word == "idle") {
    if (!idle_time_ns_) idle_time_ns_ = now_ns;
    return true;
  }
  if (word == "finished") {
    finished_ = true;
    return true;
  }
  StepLine step{now_ns, word == "done", tid, "", {}};
  if ((word != "done" && word != "begin") ||
      !(in >> step.site >> step.amount.calls >> step.amount.bytes)) {
    return false;
  }
  steps_.push_back(step);
  return true;
}

std::map<long, ThreadLedger> ProgressLog::Ledger(int64_t cutoff_ns) const {
  std::map<long, ThreadLedger> out;
  for (const StepLine& s : steps_) {
    SiteLedger& site = out[s.tid][s.site];
    if (!s.done) {
      site.begun.Add(s.amount);
      continue;
    }
    site.done.Add(s.amount);
    if (s.time_ns <= cutoff_ns) site.done_by_cutoff.Add(s.amount);
  }
  return out;
}

std::string ProgressLog::Transcript() const {
  std::string out;
  for (const auto& [time_ns, line] : lines_) {
    char when[32];
    std::snprintf(when, sizeof(when), "%10.3f ms  ",
                  static_cast<double>(time_ns - pid_time_ns_) / 1e6);
    out += when + line + "\n";
  }
  if (!partial_.empty()) out += "(incomplete) " + partial_ + "\n";
  return out;
}

}  // namespace allocwatch::durability_test
