// preload/hooks/record_writer.cc: see record_writer.h.
#include "preload/hooks/record_writer.h"

#include <unistd.h>

#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/format/record_format.h"
#include "preload/hooks/recording_file.h"

namespace allocwatch::preload {

void RecordWriter::Open(int fd) {
  SpinlockHolder hold(lock_);
  fd_ = fd;
  used_ = 0;
  records_in_buffer_ = 0;
}

void RecordWriter::FlushLocked() {
  if (used_ == 0) return;
  uint64_t start = MonotonicNs();
  if (!WriteRecording(&fd_, buffer_, used_)) lost_records_ += records_in_buffer_;
  write_ns_.fetch_add(MonotonicNs() - start, std::memory_order_relaxed);
  used_ = 0;
  records_in_buffer_ = 0;
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
    for (int i = 0; i < count && ok; ++i) ok = WriteRecording(&fd_, chunks[i].data, chunks[i].size);
    if (!ok) lost_records_ += 1;
    return;
  }
  for (int i = 0; i < count; ++i) {
    std::memcpy(buffer_ + used_, chunks[i].data, chunks[i].size);
    used_ += chunks[i].size;
  }
  records_in_buffer_ += 1;
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
}

namespace {
constinit RecordWriter g_writer;  // constant-initialised: usable before any constructor runs
}  // namespace

RecordWriter& Writer() { return g_writer; }

}  // namespace allocwatch::preload
