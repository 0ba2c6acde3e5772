// preload/hooks/recording_file.h: keeps the recording's descriptor honest.
//
// Programs close descriptors they do not know about (closefrom(3), a loop closing every fd above
// 2) or dup2 their own files over them. The recording's descriptor must then neither be lost
// silently nor, worse, be written to while it names one of the program's files. The writer
// sends every buffer through WriteRecording, which checks (fstat: device and inode) that the
// descriptor still names the recording before writing, reopens the file by its absolute path
// when it does not, and keeps the file cut at a record boundary when a write fails (disk full).
//
// Hook-safe: system calls and fixed buffers only. Not thread-safe: callers serialise (the
// writer calls it under its lock; OpenRecording runs single-threaded).
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <cstdint>

namespace allocwatch::preload {

// Remembers the file just created at `path` (absolute) and open as `fd`; bytes already there
// count as written.
void RememberRecordingFile(int fd, const char* path);

// True when `fd` is open and names the recording file (same device and inode).
bool RecordingDescriptorIsOurs(int fd);

// Opens the remembered recording again (no O_CREAT, O_NOFOLLOW, must be the same inode), cuts
// any partly written record off its end and moves the descriptor above 500. The old descriptor
// is not closed: it is gone or belongs to the program now. Returns the new descriptor or -1.
int ReopenRecording();

// Writes `size` bytes (whole records) to the recording at *fd, reopening it first if *fd no
// longer names it (and then writing a LostRecord with flag kLostFlagReopened). On failure
// (disk full, file gone) the file is cut back to the last whole record and false is returned;
// *fd is -1 when the file could not be reopened.
bool WriteRecording(int* fd, const void* data, size_t size);

// How many times the recording was reopened in this process.
uint64_t RecordingReopenCount();

// Bytes of whole records in the recording (written, or there when it was remembered).
uint64_t RecordingGoodSize();

}  // namespace allocwatch::preload
