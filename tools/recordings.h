// tools/recordings.h: finding recordings on disk.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "report/replay/model.h"
#include "tools/commands.h"

namespace allocwatch::tools {

// Files named on the command line, with directories expanded to the .awtrace files inside.
// Sets *ok to false (after logging) for a directory without recordings.
std::vector<std::string> ExpandRecordings(const std::vector<std::string>& inputs, bool* ok);

// Recordings in `dir` whose process record carries `session_id`, the process `first_pid` first.
std::vector<std::string> FindSessionRecordings(const std::string& dir, uint64_t session_id,
                                               uint32_t first_pid);

// Merges the tail file a killed process left beside `recording` into it (report/reader/
// tail_merge.h); warns of what could not be merged. True when records were added.
bool MergeTailOf(const std::string& recording);

// Recordings followed while they are written (report::FollowedRecording), so that a report
// reads only what was appended since the last one. Not thread-safe.
class FollowedRecordings {
 public:
  explicit FollowedRecordings(const report::LoadOptions& load = {}) : load_(load) {}
  // Replays what was appended to `file` since the last call (opening it the first time).
  // Throws report::ReadError as report::LoadProcess does. `cancel`: see
  // report::FollowedRecording::Update.
  void Update(const std::string& file, const std::atomic<bool>* cancel = nullptr);
  // From now on the replays read ahead on a second thread (report/reader/read_ahead.h): for
  // when the programs are done and a second CPU is free.
  void set_read_ahead(bool on) { read_ahead_ = on; }
  // The model of `file` (updated first): the final one once its process ended (its end or
  // exec record was read, or it no longer runs), else the one of what was read so far. A final
  // model is shared with the later calls, not copied (a real program's takes a good part of a
  // second to copy): it is not to be changed.
  std::shared_ptr<report::ProcessModel> Model(const std::string& file);
  // Reads `file` anew next time (records were merged into it from a tail file).
  void Forget(const std::string& file) { entries_.erase(file); }
  // Whether `file` is followed already.
  bool Has(const std::string& file) const { return entries_.count(file) != 0; }
  // Recordings followed and still open (their process has not ended yet).
  size_t open() const;

 private:
  struct Entry {
    std::unique_ptr<report::FollowedRecording> followed;
    std::shared_ptr<report::ProcessModel> final;
  };
  report::LoadOptions load_;
  std::map<std::string, Entry> entries_;
  bool read_ahead_ = false;
};

// Renders the given recordings as `allocwatch report` would; returns its exit status. With
// `followed`, the recordings it follows are not read again from their start. `inspect`, when
// given, is called with the reports once they are built; with `render` false nothing is
// written to `out` (the reports are built for `inspect` alone).
using InspectReports = std::function<void(const std::vector<report::ProcessReport>&)>;
int RenderRecordings(const std::vector<std::string>& files, const ReportCommandOptions& options,
                     std::ostream& out, FollowedRecordings* followed = nullptr,
                     const InspectReports& inspect = {}, bool render = true);

}  // namespace allocwatch::tools
