// tools/profile_store.cc: see profile_store.h.
#include "tools/profile_store.h"

#include <signal.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "report/reader/recording_reader.h"
#include "report/render/render.h"
#include "report/symbols/stack_symbolizer.h"
#include "symbolize/symbolizer.h"

namespace allocwatch::tools {

namespace fs = std::filesystem;

struct ProfileStore::Entry {
  std::mutex mu;  // guards everything below
  std::string path;
  uint32_t file_pid = 0;  // from the file's name, for a recording that cannot be read
  std::unique_ptr<report::FollowedRecording> rec;  // null: not (yet) readable
  std::string error;                               // why it cannot be read
  FollowedInfo info;
};

namespace {

bool Digits(const std::string& s) {
  return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// PROGRAM.PID.awtrace or PROGRAM.PID.N.awtrace: the pid (for a recording that cannot be read),
// or 0.
uint32_t PidOfName(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1) {
    parts.push_back(name.substr(start, dot - start));
  }
  // parts: PROGRAM..., PID, [N] (the last part, "awtrace", is not in it)
  if (parts.size() >= 3 && Digits(parts[parts.size() - 1]) && Digits(parts[parts.size() - 2])) {
    return static_cast<uint32_t>(std::stoul(parts[parts.size() - 2]));
  }
  if (parts.size() >= 2 && Digits(parts.back()))
    return static_cast<uint32_t>(std::stoul(parts.back()));
  return 0;
}

void Refresh(FollowedInfo& info, const report::FollowedRecording& rec) {
  const report::ProcessModel& m = rec.progress();
  info.pid = m.pid;
  info.program = m.exe;
  info.exact = m.exact;
  info.sample_bytes = m.sample_bytes;
  info.start_realtime_ns = m.start_realtime_ns;
  if (m.ending != report::Ending::kCutShort) {
    info.state = "ended";
  } else if (m.pid != 0 && kill(static_cast<pid_t>(m.pid), 0) == 0) {
    info.state = "running";
  } else {
    info.state = "cut short (killed, or ended without its last records)";
  }
}

// Subtracts the figures of `before` from the stacks of `r` (a delta profile).
void Subtract(report::ProcessReport& r, const StackFigures& before) {
  for (report::StackEntry& e : r.stacks) {
    auto it = before.stacks.find(e.id.value);
    if (it == before.stacks.end()) continue;
    const report::SiteFigures& b = it->second;
    report::SiteFigures& f = e.figures;
    f.alloc_count -= b.alloc_count, f.alloc_bytes -= b.alloc_bytes;
    f.mapped_bytes -= b.mapped_bytes;
    f.mmap_calls = f.mmap_calls > b.mmap_calls ? f.mmap_calls - b.mmap_calls : 0;
    f.live_count -= b.live_count, f.live_bytes -= b.live_bytes;
    f.mapped_live_bytes -= b.mapped_live_bytes;
  }
}

}  // namespace

ProfileStore::ProfileStore(std::vector<std::string> dirs, size_t max_recordings)
    : dirs_(std::move(dirs)),
      max_recordings_(max_recordings),
      symbols_(std::make_unique<report::StackSymbolizer>(symbolize::Options{}, true)) {}

ProfileStore::~ProfileStore() = default;

void ProfileStore::Update() {
  std::vector<std::string> found;
  for (const std::string& dir : dirs_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".awtrace") found.push_back(entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard<std::mutex> hold(mu_);
    for (const std::string& path : found) {
      if (entries_.size() >= max_recordings_) break;
      bool known = std::any_of(entries_.begin(), entries_.end(),
                               [&](const auto& e) { return e->path == path; });
      if (known) continue;
      auto e = std::make_shared<Entry>();
      e->path = path;
      e->file_pid = PidOfName(fs::path(path).filename().string());
      e->info.pid = e->file_pid;
      e->info.path = path;
      e->info.state = "not read yet";
      entries_.push_back(e);
    }
    entries = entries_;
  }
  for (const std::shared_ptr<Entry>& e : entries) {
    std::lock_guard<std::mutex> hold(e->mu);
    try {
      if (e->rec == nullptr) {
        e->rec = std::make_unique<report::FollowedRecording>(e->path);
      }
      if (e->info.state != "ended") e->rec->Update();
      e->error.clear();
      Refresh(e->info, *e->rec);
    } catch (const std::exception& ex) {
      e->rec.reset();  // read again from the start next time (it may be damaged for good)
      e->error = ex.what();
      e->info.state = "unreadable: " + e->error;
    }
  }
}

std::vector<FollowedInfo> ProfileStore::List() const {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard<std::mutex> hold(mu_);
    entries = entries_;
  }
  std::vector<FollowedInfo> out;
  for (const auto& e : entries) {
    std::lock_guard<std::mutex> hold(e->mu);
    out.push_back(e->info);
  }
  return out;
}

std::vector<std::shared_ptr<ProfileStore::Entry>> ProfileStore::Select(std::optional<uint32_t> pid,
                                                                       ProfileError* error) {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard<std::mutex> hold(mu_);
    all = entries_;
  }
  std::vector<std::shared_ptr<Entry>> out;
  for (const auto& e : all) {
    std::lock_guard<std::mutex> hold(e->mu);
    if (pid) {
      if (e->info.pid != *pid) continue;
      if (e->rec == nullptr) {
        *error = {422, "the recording of pid " + std::to_string(*pid) + " (" + e->path +
                           ") cannot be read: " + e->error};
        return {};
      }
      out.push_back(e);  // a pid's last recording (after an exec) comes last, and wins
    } else if (e->rec != nullptr && e->info.state == "running") {
      out.push_back(e);
    }
  }
  if (pid && out.size() > 1) out.erase(out.begin(), out.end() - 1);
  if (out.empty()) {
    *error = pid ? ProfileError{404, "no recording of pid " + std::to_string(*pid) +
                                         " in the directories served (see /debug/pprof/)"}
                 : ProfileError{404, "no recorded process is running (see /debug/pprof/)"};
  }
  return out;
}

std::map<uint32_t, StackFigures> ProfileStore::Figures(std::optional<uint32_t> pid,
                                                       ProfileError* error) {
  std::map<uint32_t, StackFigures> out;
  for (const auto& e : Select(pid, error)) {
    std::lock_guard<std::mutex> hold(e->mu);
    if (e->rec == nullptr) continue;
    report::ProcessModel m = e->rec->Current();
    StackFigures& figures = out[m.pid];
    figures.duration_ns = m.duration_ns;
    for (const auto& [id, f] : m.per_stack) figures.stacks[id.value] = f;
  }
  return out;
}

std::string ProfileStore::Profile(std::optional<uint32_t> pid, const std::string& default_type,
                                  const std::map<uint32_t, StackFigures>* since,
                                  ProfileError* error) {
  std::vector<std::shared_ptr<Entry>> selected = Select(pid, error);
  if (selected.empty()) return "";
  std::string offsets;
  for (const auto& e : selected) {
    std::lock_guard<std::mutex> hold(e->mu);
    offsets += e->path + ":" + std::to_string(e->rec ? e->rec->offset() : 0) + ";";
  }
  const auto key = std::make_pair(pid.value_or(0), default_type);
  if (since == nullptr) {
    std::lock_guard<std::mutex> hold(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.offsets == offsets) return it->second.profile;
  }
  std::deque<report::ProcessModel> models;  // the reports point into it
  std::vector<report::ProcessReport> reports;
  report::ReportOptions options;
  options.stacks = true;
  options.top = 0;
  for (const auto& e : selected) {
    std::lock_guard<std::mutex> hold(e->mu);
    if (e->rec == nullptr) continue;
    models.push_back(e->rec->Current());
    report::ProcessModel& m = models.back();
    const StackFigures* before = nullptr;
    if (since != nullptr) {
      auto it = since->find(m.pid);
      if (it != since->end()) before = &it->second;
    }
    {
      std::lock_guard<std::mutex> hold_symbols(symbols_mu_);
      reports.push_back(report::BuildReport(m, *symbols_, options));
    }
    if (before != nullptr) {
      Subtract(reports.back(), *before);
      if (m.duration_ns >= before->duration_ns) {
        // The profile covers the window: it starts where the first figures were taken.
        m.start_realtime_ns += before->duration_ns;
        m.duration_ns -= before->duration_ns;
      }
    }
  }
  if (reports.empty()) {
    *error = {404, "no readable recording for that request"};
    return "";
  }
  std::string profile = report::RenderPprof(reports, default_type);
  if (since == nullptr) {
    std::lock_guard<std::mutex> hold(cache_mu_);
    cache_[key] = Cached{offsets, profile};
  }
  return profile;
}

}  // namespace allocwatch::tools
