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
#include "tools/followed_recordings.h"

namespace allocwatch::tools {

// Files named on the command line, with directories expanded to the .awtrace files inside.
// Sets *ok to false (after logging) for a directory without recordings.
std::vector<std::string> ExpandRecordings(const std::vector<std::string>& inputs, bool* ok);

// Recordings in `dir` whose process record carries `session_id`, the process `first_pid` first.
std::vector<std::string> FindSessionRecordings(const std::string& dir, uint64_t session_id,
                                               uint32_t first_pid);

// Merges the tail file a killed process left beside `recording` into it (report/reader/
// tail_merge.h); warns of what could not be merged. When records were added, `followed` (when
// given) is told where (FollowedRecordings::Merged).
void MergeTailOf(const std::string& recording, FollowedRecordings* followed = nullptr);

// Readies `followed` to symbolize ahead (FollowedRecordings::PrepareNewStacks) for the reports
// RenderRecordings will make of them with `options`: gives it the symbolizer they will use.
// Returns whether those reports show every stack whole (whole_stacks for PrepareNewStacks).
bool PrepareSymbolsFor(const ReportCommandOptions& options, FollowedRecordings& followed);

// Renders the given recordings as `allocwatch report` would; returns its exit status. With
// `followed`, the recordings it follows are not read again from their start. `inspect`, when
// given, is called with the reports once they are built; with `render` false nothing is
// written to `out` (the reports are built for `inspect` alone).
using InspectReports = std::function<void(const std::vector<report::ProcessReport>&)>;
int RenderRecordings(const std::vector<std::string>& files, const ReportCommandOptions& options,
                     std::ostream& out, FollowedRecordings* followed = nullptr,
                     const InspectReports& inspect = {}, bool render = true);

}  // namespace allocwatch::tools
