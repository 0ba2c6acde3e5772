// preload/hooks/tail_file.h: the recording's tail file (format/tail_format.h), shared memory
// that survives the process.
//
// Hook-safe: system calls (open, fallocate, mmap, unlink) and fixed buffers only. The writer's
// region is set up once per process (OpenTail) and the event buffers' slots one by one
// (MapTailSlot, under a lock). Everything degrades: without a tail file (no space, a file system
// that cannot map files shared) the buffers are private memory as before, and only the
// durability of a killed process's last records is lost.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/format/tail_format.h"

namespace allocwatch::preload {

// Creates the tail file for the recording at `recording_path` (its .awtrace suffix replaced by
// .awtail) and maps its header and the writer's region. False when it cannot (then there is no
// tail: TailHeaderOrNull() is null).
bool OpenTail(const char* recording_path, uint32_t pid, uint64_t start_realtime_ns);

format::TailHeader* TailHeaderOrNull();
char* TailWriterRegion();  // kTailWriterBytes, or null without a tail

// Maps a new slot of `bytes` (kTailSlotBytes) for an event buffer, at `fixed` when not null
// (MAP_FIXED over a buffer the process has already). Returns the address, or null when there
// is no tail or no room (the caller then uses private memory).
void* MapTailSlot(void* fixed);

// The End record (or the exec record, before the new image starts) is in the recording: marks
// the tail finished and removes the file. The mappings stay valid (private from then on in
// effect: nobody reads the file).
void RemoveTail();

// In a fork child, before anything is written: the parent's tail mappings are the parent's.
// Unmaps the header and the writer's region and forgets the parent's file; the event buffers
// are remapped by the caller (event_buffer.cc).
void ForgetTailInChild();

}  // namespace allocwatch::preload
