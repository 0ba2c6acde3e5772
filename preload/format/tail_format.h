// preload/format/tail_format.h: the tail file, what a recording has not written yet.
//
// Hook-safe: constants and structs only. Next to each recording NAME.PID.awtrace the library
// keeps NAME.PID.awtail, mapped MAP_SHARED into the process: the writer's buffer of whole
// records and every thread's buffer of compact heap events live in it, so each completed store
// is in the page cache at once and outlives the process if it is killed (SIGKILL, the OOM
// killer), with no system call on the recording path. A process that ends normally removes its
// tail file after its End record. `allocwatch run` and `allocwatch report` merge the tail of a
// process that was killed into its recording and remove it (FORMAT.md, "Durability").
//
// Layout: TailHeader at offset 0 (kTailHeaderBytes), the writer's region (kTailWriterBytes),
// then slots of kTailSlotBytes, one per event buffer: a TailSlotHeader, and the event data at
// kTailSlotDataOffset. The file is allocated (fallocate) before a region is used, so a store
// into it never meets a full disk.
#pragma once
#include <cstdint>

namespace allocwatch::format {

inline constexpr char kTailMagic[8] = {'A', 'W', 'T', 'A', 'I', 'L', '\0', '\0'};
inline constexpr uint32_t kTailVersion = 1;
inline constexpr uint64_t kTailHeaderBytes = 4096;
inline constexpr uint64_t kTailWriterBytes = 256 * 1024;
inline constexpr uint64_t kTailSlotBytes = 64 * 1024;
inline constexpr uint64_t kTailSlotDataOffset = 128;
inline constexpr uint64_t kTailSlotDataBytes = kTailSlotBytes - kTailSlotDataOffset;
inline constexpr uint32_t kTailMaxSlots = 4097;  // the event buffers and the overflow buffer

inline constexpr uint64_t TailSlotOffset(uint32_t slot) {
  return kTailHeaderBytes + kTailWriterBytes + uint64_t{slot} * kTailSlotBytes;
}

struct TailHeader {
  char magic[8];  // kTailMagic
  uint32_t version;
  uint32_t pid;                // the recording's ProcessRecord::pid
  uint64_t start_realtime_ns;  // the recording's ProcessRecord::start_realtime_ns
  // The writer's region holds `writer_used` bytes of whole records that follow the first
  // `writer_offset` bytes of the recording. While the region is being written out, the
  // recording grows from writer_offset towards writer_offset + writer_used; writer_used is set
  // to 0 once that write has returned, and writer_offset moved on after it.
  uint64_t writer_offset;
  uint64_t writer_used;
  // Non-zero while a record too large for the region is written straight to the recording:
  // bytes past writer_offset may then be a torn record.
  uint32_t direct_write;
  uint32_t slot_count;   // slots allocated in the file
  uint32_t finished;     // 1: the End record is in the recording; nothing to merge
  uint32_t tick_source;  // kTickSource*: the clock of the heap events' ticks (ClockRecord)
};

// The control block of `allocwatch ctl`, at kTailControlOffset of the header page: the command
// channel of a running process (no signal, no thread; README "allocwatch ctl"). `allocwatch ctl`
// writes `command`, then `request_seq` + 1 (release); the library, at its next recorded call
// or timer tick, carries the command out, then sets `recording`, `done_*` and last
// `done_seq` = request_seq (release). Written by the library: magic (when it serves commands),
// recording, done_*.
inline constexpr uint64_t kTailControlOffset = 2048;
inline constexpr char kControlMagic[8] = {'A', 'W', 'C', 'T', 'L', '\0', '\0', '\0'};
inline constexpr uint32_t kControlStart = 1;     // record (again)
inline constexpr uint32_t kControlStop = 2;      // stop recording; count only
inline constexpr uint32_t kControlSnapshot = 3;  // write every buffered event and a snapshot now
// Stop recording a process allocwatch attached to: restore its calls' routes, end the
// recording; the process goes on without allocwatch (allocwatch detach; the library's own
// thread carries it out).
inline constexpr uint32_t kControlDetach = 4;
struct TailControl {
  char magic[8];  // kControlMagic
  uint32_t request_seq;
  uint32_t command;  // kControl*
  uint32_t done_seq;
  uint32_t recording;     // 1 recording, 0 stopped (counting only)
  uint64_t done_time_ns;  // recording time at which the last command was carried out
  uint32_t done_command;
  uint32_t reserved;
};
static_assert(sizeof(TailControl) == 40);
static_assert(kTailControlOffset + sizeof(TailControl) <= kTailHeaderBytes);

inline constexpr uint32_t kTickSourceMonotonic = 0;  // CLOCK_MONOTONIC nanoseconds
inline constexpr uint32_t kTickSourceTsc = 1;        // the x86 time-stamp counter
static_assert(sizeof(TailHeader) == 56);

// The first bytes of a slot: the batch of heap events an Events record would carry.
struct TailSlotHeader {
  uint32_t count;      // whole events in the data (set after the event's bytes)
  uint32_t used;       // data bytes of those events
  uint64_t base_time;  // ticks, as EventsRecord::base_time_ns
  // 1 while the batch is being handed to the writer: it may then be in the writer's region or
  // the recording as well (compare before merging it).
  uint32_t flushing;
  uint32_t reserved;
};
static_assert(sizeof(TailSlotHeader) == 24);

}  // namespace allocwatch::format
