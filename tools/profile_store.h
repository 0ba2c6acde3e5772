// tools/profile_store.h: the recordings `allocwatch serve` follows, each replayed incrementally
// (report::FollowedRecording: only the bytes appended since the last update are read), and the
// pprof profiles made from them on request.
//
// Thread-safe: Update() runs on one thread while requests call the rest from many; each
// recording has its own lock, held while it is updated or a profile is made from it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "report/analysis/analysis.h"
#include "report/replay/model.h"
#include "report/symbols/stack_symbolizer.h"

namespace allocwatch::tools {

// What the index lists of one recording.
struct FollowedInfo {
  uint32_t pid = 0;
  std::string program;  // the executable's path
  std::string path;     // the recording
  std::string state;    // running, ended, cut short, unreadable: ...
  bool exact = false;
  uint64_t sample_bytes = 0;
  uint64_t start_realtime_ns = 0;
};

// An HTTP-level failure: status and message.
struct ProfileError {
  int status;
  std::string message;
};

// Per-stack figures at one instant, for delta profiles (allocation figures only grow).
struct StackFigures {
  uint64_t duration_ns = 0;  // recording time of the instant
  std::map<uint64_t, report::SiteFigures> stacks;
};

class ProfileStore {
 public:
  // At most `max_recordings` recordings are followed (the first found); the rest are listed
  // as not followed.
  ProfileStore(std::vector<std::string> dirs, size_t max_recordings);
  ~ProfileStore();

  // Finds recordings new in the directories and replays what every followed one gained.
  void Update();
  std::vector<FollowedInfo> List() const;

  // A gzipped profile.proto of the process `pid` (every process still running when none), or
  // the error to answer. `since`: per-stack figures taken earlier (Figures()) to subtract, for
  // a delta profile.
  std::string Profile(std::optional<uint32_t> pid, const std::string& default_type,
                      const std::map<uint32_t, StackFigures>* since, ProfileError* error);
  // Every stack's figures now, per process (all running ones when `pid` is empty).
  std::map<uint32_t, StackFigures> Figures(std::optional<uint32_t> pid, ProfileError* error);

 private:
  struct Entry;
  std::vector<std::shared_ptr<Entry>> Select(std::optional<uint32_t> pid, ProfileError* error);

  std::vector<std::string> dirs_;
  size_t max_recordings_;
  mutable std::mutex mu_;  // guards entries_ (the list; each entry has its own lock)
  std::vector<std::shared_ptr<Entry>> entries_;
  // The last profile of each (pid or 0, sample type), with the recordings' read offsets it was
  // made at: served again while no recording it covers has gained a byte (a scraper's or a load
  // generator's repeated requests cost one replay a second at most).
  struct Cached {
    std::string offsets;
    std::string profile;
  };
  std::mutex cache_mu_;
  std::map<std::pair<uint32_t, std::string>, Cached> cache_;
  // One symbolizer for every recording (their processes share most binaries, whose debug
  // information is then read once); taken after an entry's lock.
  std::mutex symbols_mu_;
  std::unique_ptr<report::StackSymbolizer> symbols_;
};

}  // namespace allocwatch::tools
