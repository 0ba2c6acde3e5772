// preload/hooks/record_writer.cc: see record_writer.h.
#include "preload/hooks/record_writer.h"

#include <unistd.h>

#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/format/record_format.h"
#include "preload/hooks/recording_file.h"

namespace allocwatch::preload {

void RecordWriter::Open(int fd, format::TailHeader* tail, char* region) {
  SpinlockHolder hold(lock_);
  fd_ = fd;
  used_ = 0;
  records_in_buffer_ = 0;
  tail_ = region != nullptr ? tail : nullptr;
  buffer_ = tail_ != nullptr ? region : static_buffer_;
  PublishWritten();
}

// The region's bytes are in the recording (or lost with a failed write): first the region is
// emptied, then the recording's length moves on. A kill between the two leaves a tail whose
// region is empty and a recording longer than writer_offset, whose extra bytes are whole.
void RecordWriter::PublishWritten() {
  if (tail_ == nullptr) return;
  __atomic_store_n(&tail_->writer_used, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&tail_->writer_offset, RecordingGoodSize(), __ATOMIC_RELEASE);
}

void RecordWriter::FlushLocked() {
  if (used_ == 0) return;
  uint64_t start = MonotonicNs();
  if (!WriteRecording(&fd_, buffer_, used_)) lost_records_ += records_in_buffer_;
  write_ns_.fetch_add(MonotonicNs() - start, std::memory_order_relaxed);
  used_ = 0;
  records_in_buffer_ = 0;
  PublishWritten();
}

void RecordWriter::Append(const Chunk* chunks, int count, bool flush) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += chunks[i].size;
  SpinlockHolder hold(lock_);
  if (fd_ < 0) {
    lost_records_ += 1;
    return;
  }
  if (used_ + total > kBufferSize) FlushLocked();
  if (total > kBufferSize) {
    // Larger than the whole buffer (a long module path list, say): write it directly.
    bool ok = true;
    if (tail_ != nullptr) __atomic_store_n(&tail_->direct_write, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < count && ok; ++i) ok = WriteRecording(&fd_, chunks[i].data, chunks[i].size);
    if (!ok) lost_records_ += 1;
    PublishWritten();
    if (tail_ != nullptr) __atomic_store_n(&tail_->direct_write, 0, __ATOMIC_RELEASE);
    return;
  }
  for (int i = 0; i < count; ++i) {
    std::memcpy(buffer_ + used_, chunks[i].data, chunks[i].size);
    used_ += chunks[i].size;
  }
  records_in_buffer_ += 1;
  PublishUsed();
  if (flush) FlushLocked();
}

void RecordWriter::AppendPadded(const Chunk* chunks, int count, bool flush) {
  static const char kZeros[8] = {};
  Chunk all[8];
  size_t total = 0;
  for (int i = 0; i < count && i < 7; ++i) {
    all[i] = chunks[i];
    total += chunks[i].size;
  }
  int n = count < 7 ? count : 7;
  all[n] = {kZeros, format::PaddedSize(total) - total};
  Append(all, n + 1, flush);
}

void RecordWriter::Flush() {
  SpinlockHolder hold(lock_);
  FlushLocked();
}

void RecordWriter::ResetInChild() {
  lock_.ResetAfterFork();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  used_ = 0;
  records_in_buffer_ = 0;
  tail_ = nullptr;  // the parent's: never written from here
  buffer_ = static_buffer_;
}

namespace {
constinit RecordWriter g_writer;  // constant-initialised: usable before any constructor runs
}  // namespace

RecordWriter& Writer() { return g_writer; }

}  // namespace allocwatch::preload
