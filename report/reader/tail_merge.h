// report/reader/tail_merge.h: merges the tail file of a killed process into its recording.
//
// Offline. A recording NAME.PID.awtrace has a tail NAME.PID.awtail while its process runs
// (preload/format/tail_format.h): the records and heap events the process had not written to
// the recording yet, in shared memory that outlives a SIGKILL. Once the process is gone, the
// merge appends the whole records of the writer's region and each thread's buffered events (as
// Events records), then a Clock record and a RecoveredRecord (that one even when the tail adds
// nothing: the recording is then known whole up to the kill), and removes the tail. A record the
// kill cut short is dropped and counted; a tail that does not belong to the recording, or a
// recording shorter than the tail says, is left alone with a warning. Idempotent: a merged tail
// is gone, and a tail marked finished (the process ended normally) is only removed.
#pragma once

#include <cstdint>
#include <string>

namespace allocwatch::report {

// The tail file of a recording: its .awtrace suffix replaced by .awtail ("" for another name).
std::string TailPathFor(const std::string& recording);
// The other way: the recording of a tail file ("" for another name).
std::string RecordingPathForTail(const std::string& tail);

// Whether the process that wrote a recording may still be running: the same boot, and a
// process with that pid whose executable is `exe` (or any live process when exe is empty).
bool ProcessStillRunning(uint32_t pid, const std::string& exe, const std::string& boot_id);

struct TailMerge {
  enum class Outcome {
    kNoTail,        // nothing to do
    kMerged,        // records appended, tail removed
    kRemoved,       // the tail was finished: removed, the recording unchanged
    kStillRunning,  // the process runs: the tail is its own, left alone
    kLeft,          // not merged (see warning); the tail is kept for a later look
  };
  Outcome outcome = Outcome::kNoTail;
  std::string warning;  // set for kLeft, and for kMerged when something was dropped
  uint64_t writer_bytes = 0;
  uint64_t events = 0;
  uint32_t batches = 0;
  uint32_t duplicates = 0;
  uint64_t torn_bytes = 0;
  // kMerged: the offset the appended records start at. The recording was cut back to it first
  // when torn_bytes > 0; otherwise it is the recording's length before the merge.
  uint64_t appended_at = 0;
};

// Merges the tail of `recording` when its process is gone. Never throws.
TailMerge MergeTail(const std::string& recording);

}  // namespace allocwatch::report
