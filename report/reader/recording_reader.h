// report/reader/recording_reader.h: reads an allocwatch recording record by record.
//
// Offline. Not thread-safe (one reader per thread). Validates framing only: every record handed
// out has a known-good size (at least its fixed part for known types). Reading stops at the
// first damaged or truncated record, with a warning that names its offset; everything before
// it is still usable. A file that is not a recording at all is an error (ReadError).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "preload/format/event_codec.h"
#include "preload/format/record_format.h"
#include "report/reader/held_events.h"

namespace allocwatch::report {

class ReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RawRecord {
  format::RecordType type;
  uint16_t flags;
  uint64_t offset;             // of the record in the file
  std::vector<uint8_t> bytes;  // the whole record, header included (see event)
  // A heap event of an Events record, handed out as type kAlloc or kFree with the flags of
  // the AllocRecord or FreeRecord it stands for, its time in nanoseconds. From NextView()
  // bytes is then empty; Next() also writes the AllocRecord or FreeRecord into bytes (whose
  // sample_bytes is clamped to 32 bits; the event has all 64).
  std::optional<format::Event> event;
};

class RecordingReader {
 public:
  // Opens and checks the file header. Throws ReadError for a missing, unreadable or foreign file.
  explicit RecordingReader(const std::string& path);
  ~RecordingReader();
  RecordingReader(const RecordingReader&) = delete;
  RecordingReader& operator=(const RecordingReader&) = delete;

  // The next record, or nullopt at the end of the data (clean or not: see warning()).
  // Records of unknown types are skipped. An EventsRecord is handed out as the heap events it
  // holds (RawRecord::event, each with the EventsRecord's offset), never as itself: its events
  // are held until the ClockRecord that follows them, then handed out in time order with
  // times in nanoseconds (ClockRecords themselves are not handed out). Other records come in
  // file order as they are read.
  std::optional<RawRecord> Next();
  // The same, without a copy: the record stays valid until the next call (nullptr at the end).
  // A heap event comes without its wire record (bytes is empty).
  const RawRecord* NextView();
  // The heap events that go out next, in order (as NextView would hand them out one by one),
  // up to `max` of them, into out[] with their times in nanoseconds; returns how many. 0 when
  // a record comes next (or a heap event that NextView reads on its way): call NextView.
  // *offset: the Events record of the first.
  size_t NextEvents(format::Event* out, size_t max, uint64_t* offset);

  // Following a recording still being written: the end of the data read so far is not its
  // end. A record not yet written whole there is read again by a later call, which carries on
  // where the last one stopped (NextView returns nullptr in between: "nothing more for now"),
  // and held events wait for their Clock record. follow(false) says the writer is done: the
  // next calls read to the end of the data as a reader that never followed would.
  void follow(bool on) { follow_ = on; }

  // Set when reading stopped before the end of the file.
  const std::optional<std::string>& warning() const { return warning_; }
  // True when the file ended exactly on a record boundary.
  bool clean_end() const { return clean_end_; }
  const std::string& path() const { return path_; }
  uint64_t offset() const { return offset_; }

 private:
  bool ReadExactly(void* out, size_t size, size_t* got);
  // Following: the record at offset_ is not whole yet; it is read again from its start.
  const RawRecord* WaitForMore();
  // Makes current_ the heap event Next() put into it (its time into ns).
  const RawRecord* PopReady();
  // The held events with ticks <= up_to go out next, in time order, before another record
  // is read.
  void ReleaseEvents(uint64_t up_to);
  void SetClock(uint64_t ns, uint64_t ticks);
  // By the straight line through the last two ClockRecords (see SetClock).
  uint64_t TicksToNs(uint64_t ticks) const {
    if (!line_) return clock_ ? clock_->ns : 0;
    double ns = line_ns_ + (static_cast<double>(ticks) - line_ticks_) * slope_;
    if (ns < 0) return 0;
    if (ns > 1.8e19) return UINT64_MAX;
    return static_cast<uint64_t>(ns);
  }
  // Reading stops, with a warning naming the offset of the damage (offset_ by default).
  void Stop(const std::string& why);
  void StopAt(const std::string& why, uint64_t offset);
  // After events were handed out: stops at a record marked in order that was found damaged
  // on the way (HeldEvents::TakeDamage).
  void CheckDamage();

  std::string path_;
  FILE* file_ = nullptr;
  uint64_t offset_ = 0;
  bool done_ = false;
  bool follow_ = false;
  bool clean_end_ = false;
  std::optional<uint64_t> damaged_at_;  // the first damaged record CheckDamage stopped at
  std::optional<std::string> warning_;
  HeldEvents held_;                      // heap events waiting for their ClockRecord
  uint32_t version_ = format::kVersion;  // of the file (heap events are encoded by version)
  bool releasing_ = false;               // held events up to release_up_to_ go out first
  uint64_t release_up_to_ = 0;
  RawRecord current_{};  // what NextView returns
  struct ClockPoint {
    uint64_t ns;
    uint64_t ticks;
  };
  std::optional<ClockPoint> clock_;       // the last ClockRecord
  std::optional<ClockPoint> prev_clock_;  // the one before it
  // The line through them, when they make one: ns = line_ns_ + (ticks - line_ticks_) * slope_.
  bool line_ = false;
  double line_ns_ = 0, line_ticks_ = 0, slope_ = 0;
};

// Minimum size of each known record type's fixed part (0 for unknown types).
uint32_t FixedRecordSize(format::RecordType type);

}  // namespace allocwatch::report
