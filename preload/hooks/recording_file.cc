// preload/hooks/recording_file.cc: see recording_file.h.
#include "preload/hooks/recording_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload/base/errno_saver.h"
#include "preload/base/raw_io.h"
#include "preload/format/record_format.h"
#include "preload/hooks/recorder_state.h"

namespace allocwatch::preload {
namespace {

constinit char g_file_path[1200] = {};
constinit dev_t g_dev = 0;
constinit ino_t g_ino = 0;
constinit bool g_known = false;
constinit uint64_t g_good_size = 0;  // bytes of whole records in the file
constinit uint64_t g_reopens = 0;

// Cuts a partly written record off the end so later records start on a boundary.
void CutToGoodSize(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return;
  if (static_cast<uint64_t>(st.st_size) != g_good_size) {
    if (ftruncate(fd, static_cast<off_t>(g_good_size)) != 0) return;
  }
  lseek(fd, static_cast<off_t>(g_good_size), SEEK_SET);
}

}  // namespace

void RememberRecordingFile(int fd, const char* path) {
  struct stat st {};
  g_known = fstat(fd, &st) == 0;
  g_dev = st.st_dev;
  g_ino = st.st_ino;
  g_good_size = g_known ? static_cast<uint64_t>(st.st_size) : 0;
  g_reopens = 0;
  size_t n = strnlen(path, sizeof(g_file_path) - 1);
  std::memcpy(g_file_path, path, n);
  g_file_path[n] = '\0';
}

bool RecordingDescriptorIsOurs(int fd) {
  if (fd < 0) return false;
  if (!g_known) return true;  // nothing to compare with (fstat failed at open): trust it
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return st.st_dev == g_dev && st.st_ino == g_ino;
}

int ReopenRecording() {
  if (!g_known || g_file_path[0] != '/') return -1;
  int fd = open(g_file_path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_dev != g_dev || st.st_ino != g_ino) {
    close(fd);  // the path now names another file: never write into it
    return -1;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  CutToGoodSize(fd);
  ++g_reopens;
  return fd;
}

bool WriteRecording(int* fd, const void* data, size_t size) {
  ErrnoSaver keep_errno;
  if (*fd < 0) return false;
  bool reopened = false;
  if (!RecordingDescriptorIsOurs(*fd)) {
    *fd = ReopenRecording();
    if (*fd < 0) return false;
    reopened = true;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (reopened) {
      format::LostRecord lost{};
      lost.header =
          format::MakeHeader(format::RecordType::kLost, sizeof(lost), format::kLostFlagReopened);
      lost.time_ns = NowNs();
      lost.events = 0;
      if (WriteAll(*fd, &lost, sizeof(lost))) g_good_size += sizeof(lost);
      reopened = false;
    }
    if (WriteAll(*fd, data, size)) {
      g_good_size += size;
      return true;
    }
    if (RecordingDescriptorIsOurs(*fd)) {
      CutToGoodSize(*fd);  // disk full, file too large, I/O error: keep the file readable
      return false;
    }
    // The descriptor went away between the check and the write (another thread closed it).
    *fd = ReopenRecording();
    if (*fd < 0) return false;
    reopened = true;
  }
  return false;
}

uint64_t RecordingReopenCount() { return g_reopens; }

uint64_t RecordingGoodSize() { return g_good_size; }

}  // namespace allocwatch::preload
