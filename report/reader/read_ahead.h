// report/reader/read_ahead.h: a recording reader run on a second thread, ahead of its consumer.
//
// Offline. One consumer thread. While the consumer replays what the reader handed out, the
// reader thread reads the file, checks and merges the Events records and decodes their events
// (about 45 % of a report's replay time on exact recordings) into chunks of a few thousand
// events and records. The consumer sees exactly what RecordingReader::NextEvents and NextView
// would have handed it, in the same order: only batch boundaries differ. The reader runs until
// NextView says there is nothing more (the end, or for a followed recording nothing more for
// now), until the consumer stops early (destroying this object), or until it throws: the
// exception is rethrown to the consumer where it happened.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "preload/format/event_codec.h"
#include "report/reader/recording_reader.h"

namespace allocwatch::report {

class ReadAhead {
 public:
  // Starts reading `reader` on a new thread. `reader` must outlive this object and is not
  // touched by anyone else until it is destroyed.
  explicit ReadAhead(RecordingReader& reader);
  // Stops the reader thread (after the record it is reading) and joins it.
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // What comes next: heap events (*events, n > 0, their Events record's *offset) or a record
  // (*record; n == 0), valid until the next call. Returns false at the end (nothing more from
  // the reader for now). Rethrows what the reader threw.
  bool Next(const format::Event** events, size_t* n, uint64_t* offset, const RawRecord** record);

  // Whether reading ahead can pay: the process may run on two CPUs or more.
  static bool Worthwhile();

 private:
  struct Item {
    uint32_t first;  // events: index of the first in Chunk::events; record: index in records
    uint32_t count;  // events; 0 for a record
    uint64_t offset;
  };
  struct Chunk {
    std::vector<format::Event> events;
    std::vector<RawRecord> records;  // [0, record_count) used; kept for their buffers
    size_t record_count = 0;
    std::vector<Item> items;
    bool end = false;  // the reader had nothing more after these
    std::exception_ptr error;
  };
  static constexpr size_t kChunks = 4;
  static constexpr size_t kChunkEvents = 4096;
  static constexpr size_t kChunkItems = 512;
  static constexpr int kSpins = 1000;  // pauses before a side waits on its condition

  void Produce();
  void Fill(Chunk& c);
  // The consumer is done with the chunk it read last: it goes back to the reader thread.
  void ReleaseCurrent();

  RecordingReader& reader_;
  std::vector<format::Event> stage_ = std::vector<format::Event>(256);  // the reader thread's
  Chunk chunks_[kChunks];
  std::mutex mutex_;
  std::condition_variable filled_;   // the consumer waits on it
  std::condition_variable emptied_;  // the reader thread waits on it
  // Changed under mutex_ (so that a waiter cannot miss the change), read without it by the
  // other side's spin.
  std::atomic<size_t> produced_{0};  // chunks filled (the next to fill: produced_ % kChunks)
  std::atomic<size_t> consumed_{0};  // chunks the consumer has finished with
  std::atomic<bool> stop_{false};    // the consumer is gone: the reader thread ends
  // The consumer's place: the chunk it reads (consumed_ % kChunks) and its next item.
  bool reading_ = false;
  size_t item_ = 0;
  bool finished_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace allocwatch::report
