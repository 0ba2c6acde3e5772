// tools/followed_recordings.h: recordings replayed while they are written, and the
// symbolizer of their reports, kept from one report to the next.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "report/replay/model.h"
#include "report/symbols/stack_symbolizer.h"

namespace allocwatch::tools {

// Recordings followed while they are written (report::FollowedRecording), so that a report
// reads only what was appended since the last one. Not thread-safe.
class FollowedRecordings {
 public:
  explicit FollowedRecordings(const report::LoadOptions& load = {}) : load_(load) {}
  // Replays what was appended to `file` since the last call (opening it the first time).
  // Throws report::ReadError as report::LoadProcess does. `cancel` and `max_bytes`: see
  // report::FollowedRecording::Update, and so is what it returns.
  bool Update(const std::string& file, const std::atomic<bool>* cancel = nullptr,
              uint64_t max_bytes = UINT64_MAX);
  // From now on the replays read ahead on a second thread (report/reader/read_ahead.h): for
  // when the programs are done and a second CPU is free.
  void set_read_ahead(bool on) { read_ahead_ = on; }
  // The model of `file` (updated first): the final one once its process ended (its end or
  // exec record was read, or it no longer runs), else the one of what was read so far. A final
  // model is shared with the later calls, not copied (a real program's takes a good part of a
  // second to copy): it is not to be changed.
  std::shared_ptr<report::ProcessModel> Model(const std::string& file);
  // Reads `file` anew next time.
  void Forget(const std::string& file) { entries_.erase(file); }
  // Records were merged into `file` from a tail file, from offset `appended_at` on, after the
  // file was cut back to it when `cut_back`. A replay that read no further and whose file was
  // not cut goes on from where it is: it reads the new records next, as a first read would.
  // Any other (one that ended, read past that offset, or may hold the cut bytes in its read
  // buffer) reads the file anew next time.
  void Merged(const std::string& file, uint64_t appended_at, bool cut_back);
  // Whether `file` is followed already.
  bool Has(const std::string& file) const { return entries_.count(file) != 0; }
  // Recordings followed and still open (their process has not ended yet).
  size_t open() const;

  // The symbolizer for the reports of these recordings, kept from one report to the next, so
  // that each (module, address) is looked up once, however often they are rendered again
  // (`allocwatch report --follow`). Made on the first call, and again when `options` or
  // `enabled` differ from the last call's.
  report::StackSymbolizer& Symbols(const symbolize::Options& options, bool enabled);
  // True the first time it is called for `table_path` with the current symbolizer: the
  // symbol table there is to be added to it.
  bool FirstUseOfTable(const std::string& table_path) {
    return tables_added_.insert(table_path).second;
  }
  // Looks up the frames of the stacks the recordings met since the last call (in the
  // symbolizer of the last Symbols() call; none yet: does nothing), so that their report finds
  // them done: every frame with `whole_stacks` (the report shows every stack whole), else
  // those up to each stack's site (StackSymbolizer::Prepare). `allocwatch run`'s background
  // replay calls it while the program runs. Returns early when `cancel` becomes true; the
  // next call goes on.
  void PrepareNewStacks(bool whole_stacks, const std::atomic<bool>* cancel = nullptr);

 private:
  struct Entry {
    std::unique_ptr<report::FollowedRecording> followed;
    std::shared_ptr<report::ProcessModel> final;
    size_t prepared = 0;  // stacks of its model's stack_order prepared by PrepareNewStacks
  };
  report::LoadOptions load_;
  std::map<std::string, Entry> entries_;
  bool read_ahead_ = false;
  std::unique_ptr<report::StackSymbolizer> symbols_;
  symbolize::Options symbols_options_;
  bool symbols_enabled_ = false;
  std::set<std::string> tables_added_;  // to symbols_
};

}  // namespace allocwatch::tools
