// preload/hooks/record_writer.h: appends records to the recording file.
//
// Hook-safe. Thread-safe: one spinlock around the buffer; a record (or a group of records given
// to one Append) is never split by another thread's. The buffer goes to the file with write(2)
// when full, on Flush(), and at exit. A failed write counts the records as lost.
// The buffer is the writer's region of the tail file when there is one (format/tail_format.h):
// each whole record appended is then in the page cache at once, and the tail's header says how
// many bytes of the region follow which bytes of the recording, so a killed process loses
// nothing. Without a tail file it is a static buffer.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "preload/base/spinlock.h"
#include "preload/format/tail_format.h"

namespace allocwatch::preload {

struct Chunk {
  const void* data;
  size_t size;
};

class RecordWriter {
 public:
  // Takes ownership of fd (or -1 for "not recording"). With `tail` (and its writer region of
  // format::kTailWriterBytes), records are buffered there.
  void Open(int fd, format::TailHeader* tail = nullptr, char* region = nullptr);
  bool IsOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Appends the chunks in order, as one unit. With flush, the data is in the file on return.
  void Append(const Chunk* chunks, int count, bool flush = false);
  void Append(const void* data, size_t size, bool flush = false) {
    Chunk c{data, size};
    Append(&c, 1, flush);
  }
  // Appends the chunks followed by zeros up to a multiple of 8 bytes, as one unit: for records
  // with a variable-length tail. At most 7 chunks.
  void AppendPadded(const Chunk* chunks, int count, bool flush = false);
  void Flush();

  uint64_t lost_records() const { return lost_records_; }
  // Counts events that were dropped before reaching the writer (no memory for allocwatch's
  // tables): they show in the snapshots' and the end record's lost counts.
  void CountLost(uint64_t n) {
    SpinlockHolder hold(lock_);
    lost_records_ += n;
  }
  // Nanoseconds spent in write(2) so far.
  uint64_t write_ns() const { return write_ns_.load(std::memory_order_relaxed); }

  // fork() support: the parent holds the lock across fork; the child drops the parent's
  // unwritten data and the parent's descriptor (which it must not write to).
  void LockForFork() { lock_.Lock(); }
  void UnlockAfterFork() { lock_.Unlock(); }
  void ResetInChild();

  Spinlock& lock() { return lock_; }

 private:
  void FlushLocked();
  // Tells the tail how the buffer stands against the recording (after the bytes themselves).
  void PublishUsed() {
    if (tail_ != nullptr) __atomic_store_n(&tail_->writer_used, used_, __ATOMIC_RELEASE);
  }
  void PublishWritten();

  static constexpr size_t kBufferSize = format::kTailWriterBytes;
  Spinlock lock_;
  int fd_ = -1;
  format::TailHeader* tail_ = nullptr;
  char* buffer_ = static_buffer_;
  size_t used_ = 0;
  size_t records_in_buffer_ = 0;
  uint64_t lost_records_ = 0;
  std::atomic<uint64_t> write_ns_{0};
  alignas(64) char static_buffer_[kBufferSize] = {};
};

RecordWriter& Writer();

}  // namespace allocwatch::preload
