// preload/hooks/tail_file.cc: see tail_file.h.
#include "preload/hooks/tail_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload/base/errno_saver.h"
#include "preload/base/spinlock.h"
#include "preload/hooks/real_functions.h"

namespace allocwatch::preload {
namespace {

constinit char g_tail_path[1200] = {};
constinit int g_tail_fd = -1;
constinit dev_t g_tail_dev = 0;
constinit ino_t g_tail_ino = 0;
constinit format::TailHeader* g_header = nullptr;  // the header page and the writer's region
constinit Spinlock g_tail_lock;

constexpr uint64_t kFrontBytes = format::kTailHeaderBytes + format::kTailWriterBytes;

// Reserves [offset, offset + length) of the file, so that no store into its mapping can meet a
// full disk (a SIGBUS in the program). fallocate where the file system has it, else zeros.
bool Reserve(int fd, uint64_t offset, uint64_t length) {
  if (fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)) == 0) return true;
  if (errno != EOPNOTSUPP) return false;
  static const char kZeros[4096] = {};
  for (uint64_t done = 0; done < length; done += sizeof(kZeros)) {
    ssize_t n = pwrite(fd, kZeros, sizeof(kZeros), static_cast<off_t>(offset + done));
    if (n != static_cast<ssize_t>(sizeof(kZeros))) return false;
  }
  return true;
}

// The tail's descriptor, opened again by its path when the program closed or replaced it.
int TailFd() {
  struct stat st {};
  if (g_tail_fd >= 0 && fstat(g_tail_fd, &st) == 0 && st.st_dev == g_tail_dev &&
      st.st_ino == g_tail_ino) {
    return g_tail_fd;
  }
  int fd = open(g_tail_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || st.st_dev != g_tail_dev || st.st_ino != g_tail_ino) {
    close(fd);  // the path names another file now: never map it
    return -1;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  g_tail_fd = fd;
  return fd;
}

}  // namespace

bool OpenTail(const char* recording_path, uint32_t pid, uint64_t start_realtime_ns) {
  ErrnoSaver saved;
  size_t n = strnlen(recording_path, sizeof(g_tail_path) - 1);
  static constexpr char kRecording[] = ".awtrace";
  static constexpr char kTail[] = ".awtail";
  constexpr size_t kRecordingLen = sizeof(kRecording) - 1;
  if (n < kRecordingLen ||
      std::memcmp(recording_path + n - kRecordingLen, kRecording, kRecordingLen) != 0) {
    return false;
  }
  std::memcpy(g_tail_path, recording_path, n - kRecordingLen);
  std::memcpy(g_tail_path + n - kRecordingLen, kTail, sizeof(kTail));
  int fd = open(g_tail_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  struct stat st {};
  void* p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && Reserve(fd, 0, kFrontBytes)) {
    p = Real().mmap(nullptr, kFrontBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (p == MAP_FAILED) {
    close(fd);
    unlink(g_tail_path);
    return false;
  }
  g_tail_fd = fd;
  g_tail_dev = st.st_dev;
  g_tail_ino = st.st_ino;
  g_header = static_cast<format::TailHeader*>(p);
  std::memcpy(g_header->magic, format::kTailMagic, sizeof(g_header->magic));
  g_header->version = format::kTailVersion;
  g_header->pid = pid;
  g_header->start_realtime_ns = start_realtime_ns;
  return true;
}

format::TailHeader* TailHeaderOrNull() { return g_header; }

char* TailWriterRegion() {
  return g_header == nullptr ? nullptr
                             : reinterpret_cast<char*>(g_header) + format::kTailHeaderBytes;
}

void* MapTailSlot(void* fixed) {
  if (g_header == nullptr) return nullptr;
  ErrnoSaver saved;
  SpinlockHolder hold(g_tail_lock);
  uint32_t slot = g_header->slot_count;
  if (slot >= format::kTailMaxSlots) return nullptr;
  int fd = TailFd();
  if (fd < 0 || !Reserve(fd, format::TailSlotOffset(slot), format::kTailSlotBytes)) {
    return nullptr;
  }
  void* p = Real().mmap(fixed, format::kTailSlotBytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | (fixed != nullptr ? MAP_FIXED : 0), fd,
                        static_cast<off_t>(format::TailSlotOffset(slot)));
  if (p == MAP_FAILED) return nullptr;
  __atomic_store_n(&g_header->slot_count, slot + 1, __ATOMIC_RELEASE);
  return p;
}

void RemoveTail() {
  if (g_header == nullptr) return;
  ErrnoSaver saved;
  __atomic_store_n(&g_header->finished, 1, __ATOMIC_RELEASE);
  unlink(g_tail_path);
  if (g_tail_fd >= 0) close(g_tail_fd);
  g_tail_fd = -1;
}

void ForgetTailInChild() {
  g_tail_lock.ResetAfterFork();
  if (g_header != nullptr) Real().munmap(g_header, kFrontBytes);
  g_header = nullptr;
  if (g_tail_fd >= 0) close(g_tail_fd);
  g_tail_fd = -1;
  g_tail_path[0] = '\0';
}

}  // namespace allocwatch::preload
