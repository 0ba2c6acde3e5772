// preload/base/raw_io.cc: see raw_io.h.
#include "preload/base/raw_io.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace allocwatch::preload {

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

long ReadSmallFile(const char* path, char* buf, size_t size, int* error) {
  *error = EINVAL;
  if (size == 0) return -1;
  buf[0] = '\0';  // what a failure leaves
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  size_t total = 0;
  while (total + 1 < size) {
    ssize_t n = read(fd, buf + total, size - 1 - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = errno;
      close(fd);
      buf[0] = '\0';
      return -1;
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  close(fd);
  buf[total] = '\0';
  *error = 0;
  return static_cast<long>(total);
}

long ReadSmallFile(const char* path, char* buf, size_t size) {
  int error = 0;
  return ReadSmallFile(path, buf, size, &error);
}

void RawLog2(const char* message, const char* detail) {
  char line[512];
  size_t n = 0;
  auto append = [&](const char* s) {
    while (s != nullptr && *s != '\0' && n < sizeof(line) - 1) line[n++] = *s++;
  };
  append("allocwatch: ");
  append(message);
  append(detail);
  line[n++] = '\n';
  WriteAll(STDERR_FILENO, line, n);
}

void RawLog(const char* message) { RawLog2(message, nullptr); }

uint64_t ParseDecimal(const char*& p) {
  uint64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + static_cast<uint64_t>(*p++ - '0');
  return v;
}

size_t FormatDecimal(uint64_t v, char* buf) {
  char tmp[21];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return n;
}

static uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }
uint64_t CoarseMonotonicNs() { return ClockNs(CLOCK_MONOTONIC_COARSE); }
uint64_t RealtimeNs() { return ClockNs(CLOCK_REALTIME); }

uint32_t CurrentTid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

}  // namespace allocwatch::preload
