// preload/base/raw_io.h: system-call level I/O that never allocates.
//
// Hook-safe. Thread-safe (each call is independent). Used for /proc reads, the recording file
// and allocwatch's own diagnostics on stderr (prefixed "allocwatch: ").
#pragma once
#include "preload/base/hook_safe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace allocwatch::preload {

// write(2) until done, retrying on EINTR. Returns false on any other error.
bool WriteAll(int fd, const void* data, size_t size);

// Reads up to size-1 bytes of `path` into buf and NUL-terminates. Returns the byte count or -1
// (buf then holds the empty string).
long ReadSmallFile(const char* path, char* buf, size_t size);
// The same, with the errno of a failure in *error (0 on success).
long ReadSmallFile(const char* path, char* buf, size_t size, int* error);

// Reads `path` with raw system calls, 2 KiB at a time, handing each chunk to
// sink.Feed(data, size), then calls sink.Finish(). False (nothing fed) when it cannot be opened.
template <typename Sink>
bool FeedFile(const char* path, Sink& sink) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char chunk[2048];
  for (;;) {
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    sink.Feed(chunk, static_cast<size_t>(got));
  }
  close(fd);
  sink.Finish();
  return true;
}

// Writes "allocwatch: " + message + "\n" to stderr with one write.
void RawLog(const char* message);
void RawLog2(const char* message, const char* detail);

// Parses a non-negative decimal at *p, advancing p; returns 0 if none.
uint64_t ParseDecimal(const char*& p);

// Formats v in decimal into buf (at least 21 bytes), returns the length.
size_t FormatDecimal(uint64_t v, char* buf);

// Current CLOCK_MONOTONIC time in nanoseconds.
uint64_t MonotonicNs();
// CLOCK_MONOTONIC_COARSE: clock-tick resolution (1-4 ms), a fraction of the cost; for events.
uint64_t CoarseMonotonicNs();
uint64_t RealtimeNs();

// Thread id without libc caching surprises.
uint32_t CurrentTid();

}  // namespace allocwatch::preload
