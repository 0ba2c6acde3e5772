// tools/followed_recordings.cc: see followed_recordings.h.
#include "tools/followed_recordings.h"

#include "report/reader/tail_merge.h"

namespace allocwatch::tools {

bool FollowedRecordings::Update(const std::string& file, const std::atomic<bool>* cancel,
                                uint64_t max_bytes) {
  Entry& e = entries_[file];
  if (e.final) return false;
  if (!e.followed) e.followed = std::make_unique<report::FollowedRecording>(file, load_);
  // Stopped early: the caller is stopping, or goes on next time, so the rest of a recording
  // that ended is read by the next call, not by Finish here.
  if (e.followed->Update(read_ahead_, cancel, max_bytes)) return true;
  if (cancel != nullptr && cancel->load()) return false;
  // Its end record was read: nothing more comes (after an exec record more may, should the
  // exec fail). The file is closed: a session of many processes keeps no descriptor for each.
  report::Ending ending = e.followed->progress().ending;
  if (ending == report::Ending::kExit || ending == report::Ending::kUnderscoreExit ||
      ending == report::Ending::kDetach) {
    e.final = std::make_shared<report::ProcessModel>(e.followed->Finish());
    e.followed.reset();
  }
  return false;
}

report::StackSymbolizer& FollowedRecordings::Symbols(const symbolize::Options& options,
                                                     bool enabled) {
  if (!symbols_ || enabled != symbols_enabled_ || options.sysroot != symbols_options_.sysroot ||
      options.debug_dirs != symbols_options_.debug_dirs) {
    symbols_ = std::make_unique<report::StackSymbolizer>(options, enabled);
    symbols_options_ = options;
    symbols_enabled_ = enabled;
    tables_added_.clear();
    for (auto& [file, e] : entries_) e.prepared = 0;
  }
  return *symbols_;
}

void FollowedRecordings::PrepareNewStacks(bool whole_stacks, const std::atomic<bool>* cancel) {
  if (!symbols_ || !symbols_enabled_) return;
  for (auto& [file, e] : entries_) {
    const report::ProcessModel* model = e.final      ? e.final.get()
                                        : e.followed ? &e.followed->progress()
                                                     : nullptr;
    if (model == nullptr) continue;
    // Stacks are only ever added, at the end of stack_order (and the final model is the
    // followed one, moved).
    for (; e.prepared < model->stack_order.size(); ++e.prepared) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return;
      symbols_->Prepare(*model, model->stack_order[e.prepared], whole_stacks);
    }
  }
}

void FollowedRecordings::Merged(const std::string& file, uint64_t appended_at, bool cut_back) {
  auto it = entries_.find(file);
  if (it == entries_.end()) return;
  const Entry& e = it->second;
  if (cut_back || e.final || !e.followed || e.followed->offset() > appended_at) {
    entries_.erase(it);
  }
}

size_t FollowedRecordings::open() const {
  size_t n = 0;
  for (const auto& [file, e] : entries_) n += e.followed != nullptr ? 1 : 0;
  return n;
}

std::shared_ptr<report::ProcessModel> FollowedRecordings::Model(const std::string& file) {
  Update(file);
  Entry& e = entries_[file];
  if (e.final) return e.final;
  const report::ProcessModel& now = e.followed->progress();
  bool running = now.ending == report::Ending::kCutShort &&
                 report::ProcessStillRunning(now.pid, now.exe, now.boot_id);
  if (running) return std::make_shared<report::ProcessModel>(e.followed->Current());
  e.final = std::make_shared<report::ProcessModel>(e.followed->Finish());
  e.followed.reset();
  return e.final;
}

}  // namespace allocwatch::tools
