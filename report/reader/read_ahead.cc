// report/reader/read_ahead.cc: see read_ahead.h.
#include "report/reader/read_ahead.h"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace allocwatch::report {
namespace {

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ReadAhead::ReadAhead(RecordingReader& reader) : reader_(reader) {
  for (Chunk& c : chunks_) {
    c.events.resize(kChunkEvents);
    c.items.reserve(kChunkItems);
  }
  thread_ = std::thread([this] { Produce(); });
}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  emptied_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ReadAhead::Worthwhile() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return false;
  return CPU_COUNT(&cpus) >= 2;
}

void ReadAhead::Fill(Chunk& c) {
  c.items.clear();
  c.record_count = 0;
  c.end = false;
  c.error = nullptr;
  size_t used = 0;
  try {
    while (used < kChunkEvents && c.items.size() < kChunkItems) {
      uint64_t offset = 0;
      // Decoded into a small buffer that stays in this CPU's cache, then copied whole: decoding
      // straight into the chunk, whose lines the consumer's CPU read last, stalled on every
      // line (each field stored on its own needs the line back first).
      size_t room = std::min(kChunkEvents - used, stage_.size());
      if (size_t n = reader_.NextEvents(stage_.data(), room, &offset)) {
        std::memcpy(c.events.data() + used, stage_.data(), n * sizeof(format::Event));
        c.items.push_back(Item{static_cast<uint32_t>(used), static_cast<uint32_t>(n), offset});
        used += n;
        continue;
      }
      const RawRecord* r = reader_.NextView();
      if (r == nullptr) {
        c.end = true;
        return;
      }
      if (c.record_count == c.records.size()) c.records.emplace_back();
      RawRecord& copy = c.records[c.record_count];
      copy = *r;  // into the buffer `copy` already has, when it is large enough
      c.items.push_back(Item{static_cast<uint32_t>(c.record_count), 0, r->offset});
      ++c.record_count;
    }
  } catch (...) {
    c.error = std::current_exception();
    c.end = true;
  }
}

void ReadAhead::Produce() {
  for (;;) {
    size_t index;
    {
      // A short spin first: a chunk is a few hundred microseconds of work for either side, and
      // being put to sleep and woken costs tens of microseconds here.
      for (int spin = 0;
           spin < kSpins && produced_.load() - consumed_.load() >= kChunks && !stop_.load();
           ++spin) {
        Pause();
      }
      std::unique_lock<std::mutex> lock(mutex_);
      emptied_.wait(lock,
                    [this] { return stop_ || produced_.load() - consumed_.load() < kChunks; });
      if (stop_) return;
      index = produced_.load() % kChunks;
    }
    Chunk& c = chunks_[index];
    Fill(c);  // outside the lock: the consumer reads only chunks already produced
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++produced_;
    }
    filled_.notify_one();
    if (c.end) return;
  }
}

void ReadAhead::ReleaseCurrent() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++consumed_;
  }
  emptied_.notify_one();
  reading_ = false;
}

bool ReadAhead::Next(const format::Event** events, size_t* n, uint64_t* offset,
                     const RawRecord** record) {
  for (;;) {
    if (finished_) return false;
    if (!reading_) {
      for (int spin = 0; spin < kSpins && produced_.load() == consumed_.load(); ++spin) Pause();
      if (produced_.load() == consumed_.load()) {
        std::unique_lock<std::mutex> lock(mutex_);
        filled_.wait(lock, [this] { return produced_.load() > consumed_.load(); });
      }
      reading_ = true;
      item_ = 0;
    }
    Chunk& c = chunks_[consumed_.load() % kChunks];
    if (item_ < c.items.size()) {
      const Item& it = c.items[item_++];
      *offset = it.offset;
      if (it.count > 0) {
        *events = c.events.data() + it.first;
        *n = it.count;
        *record = nullptr;
      } else {
        *events = nullptr;
        *n = 0;
        *record = &c.records[it.first];
        // The records were written on the reader thread's CPU: start fetching the next ones
        // while this one is replayed.
        for (uint32_t k = it.first + 1; k < c.record_count && k <= it.first + 2; ++k) {
          const std::vector<uint8_t>& next = c.records[k].bytes;
          for (size_t at = 0; at < next.size() && at < 512; at += 64) {
            __builtin_prefetch(next.data() + at);
          }
        }
      }
      return true;
    }
    if (c.end) {
      finished_ = true;
      if (c.error) std::rethrow_exception(c.error);
      return false;
    }
    ReleaseCurrent();
  }
}

}  // namespace allocwatch::report
