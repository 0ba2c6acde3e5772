// preload/format/record_format.h: the allocwatch recording format (see preload/FORMAT.md).
//
// Hook-safe: plain structs and constants only, no allocation, no library calls. Shared by the
// writer inside the target (preload/) and the offline reader (report/). Every record starts with
// a RecordHeader; its `size` is the whole record in bytes, a multiple of 8. Integers are
// little-endian (the recording machine's order; only x86_64 and aarch64 are supported).
#pragma once

#include <cstddef>
#include <cstdint>

namespace allocwatch::format {

inline constexpr char kMagic[8] = {'A', 'W', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint32_t kVersion = 5;
// The oldest version a reader still reads (2: heap events as LEB128 varints; see event_codec.h).
inline constexpr uint32_t kOldestReadableVersion = 2;
inline constexpr uint32_t kMaxRecordSize = 1u << 24;  // readers treat larger sizes as damage
inline constexpr uint32_t kMaxStackDepth = 128;
inline constexpr uint32_t kMaxBuildIdSize = 32;

// The first 16 bytes of a recording.
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;  // sizeof(FileHeader); records start right after it
};
static_assert(sizeof(FileHeader) == 16);

enum class RecordType : uint16_t {
  kProcess = 1,       // ProcessRecord + exe, cmdline, kernel release, boot id
  kModuleLoad = 2,    // ModuleLoadRecord + path
  kModuleUnload = 3,  // ModuleUnloadRecord
  kThread = 4,        // ThreadRecord
  kStack = 5,         // StackRecord + depth x uint64_t return addresses
  kAlloc = 6,         // AllocRecord
  kFree = 7,          // FreeRecord
  kMmap = 8,          // MmapRecord
  kMunmap = 9,        // MunmapRecord
  kMremap = 10,       // MremapRecord
  kSnapshot = 11,     // SnapshotRecord
  kFailure = 12,      // FailureRecord
  kLive = 13,         // LiveRecord + count x LiveEntry
  kExec = 14,         // ExecRecord + path
  kEnd = 15,          // EndRecord
  kLost = 16,         // LostRecord
  kHeadroom = 17,     // HeadroomRecord + level_count x CgroupLevel + cgroup path
  kEvents = 18,       // EventsRecord + compact heap events (see event_codec.h)
  kClock = 19,        // ClockRecord
  kPeriod = 20,       // PeriodRecord
  kRecovered = 21,    // RecoveredRecord (written offline, after a killed process's tail)
  kBrink = 22,        // BrinkRecord
  kProtect = 23,      // ProtectRecord (version 4)
  kAdvise = 24,       // AdviseRecord (version 4)
  kMemory = 25,       // MemoryRecord (version 4)
  kControl = 26,      // ControlRecord (version 4)
};

// The call that produced an event.
enum class Call : uint16_t {
  kMalloc = 1,
  kCalloc = 2,
  kRealloc = 3,
  kReallocArray = 4,
  kPosixMemalign = 5,
  kAlignedAlloc = 6,
  kMemalign = 7,
  kValloc = 8,
  kPvalloc = 9,
  kFree = 10,
  kMmap = 11,
  kMmap64 = 12,
  kMunmap = 13,
  kMremap = 14,
  kMprotect = 15,  // version 4: an mprotect that failed with ENOMEM
};
// The largest Call a heap event may carry (4 bits of event_codec.h).
inline constexpr uint16_t kMaxCall = 14;

struct RecordHeader {
  uint16_t type;   // RecordType
  uint16_t flags;  // record-specific, 0 unless stated
  uint32_t size;   // whole record, header included, multiple of 8
};
static_assert(sizeof(RecordHeader) == 8);

inline constexpr uint32_t kProcessFlagExact = 1;      // every allocation recorded
inline constexpr uint32_t kProcessFlagForkChild = 2;  // started by fork() of a recorded process
// Recording began when allocwatch attached to the running process (allocwatch attach): the
// start times are the attach's, and blocks allocated before it are not in the recording.
inline constexpr uint32_t kProcessFlagAttached = 4;

// Times are nanoseconds of CLOCK_MONOTONIC since ProcessRecord::start_monotonic_ns.
struct ProcessRecord {
  RecordHeader header;
  uint32_t pid;
  uint32_t ppid;
  uint64_t session_id;          // shared by every process of one `allocwatch run`; 0 if none
  uint64_t start_realtime_ns;   // CLOCK_REALTIME at start
  uint64_t start_monotonic_ns;  // CLOCK_MONOTONIC at start
  uint64_t sample_bytes;        // mean sampling period T; 1 means exact
  uint32_t page_size;
  uint32_t flags;         // kProcessFlag*
  uint32_t exe_size;      // then exe path bytes
  uint32_t cmdline_size;  // then argv bytes, each argument NUL-terminated
  uint32_t kernel_size;   // then uname release
  uint32_t boot_id_size;  // then /proc/sys/kernel/random/boot_id (no newline)
};
static_assert(sizeof(ProcessRecord) == 72);

struct ModuleLoadRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t load_bias;  // runtime address = ELF virtual address + load_bias
  uint64_t start;      // lowest mapped runtime address of its PT_LOAD segments
  uint64_t end;        // one past the highest
  uint32_t module_id;
  uint16_t build_id_size;
  uint16_t path_size;  // then path bytes
  uint8_t build_id[kMaxBuildIdSize];
};
static_assert(sizeof(ModuleLoadRecord) == 80);

struct ModuleUnloadRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint32_t module_id;
  uint32_t reserved;
};
static_assert(sizeof(ModuleUnloadRecord) == 24);

struct ThreadRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint32_t tid;
  uint32_t reserved;
  char name[16];  // comm of the thread when first seen, NUL-padded
};
static_assert(sizeof(ThreadRecord) == 40);

// Return addresses, innermost first; the first is inside the hooked call's caller.
struct StackRecord {
  RecordHeader header;
  uint32_t stack_id;  // 1-based; 0 means "no stack"
  uint32_t depth;     // then depth x uint64_t
};
static_assert(sizeof(StackRecord) == 16);

// header.flags of AllocRecord: kAllocFlagRestored when a failed realloc left the block in place
// (it was written as freed just before the call); readers put it back without counting it twice.
inline constexpr uint16_t kAllocFlagRestored = 1;
struct AllocRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint64_t size;  // requested bytes (calloc: n*size; realloc: new size)
  uint32_t stack_id;
  uint32_t tid;
  uint16_t call;  // Call
  uint16_t reserved0;
  uint32_t sample_bytes;  // mean sampling period T this sample was drawn with; 1 = exact,
                          // 0 = the ProcessRecord's sample_bytes
};
static_assert(sizeof(AllocRecord) == 48);

// header.flags of FreeRecord: kFreeFlagRealloc when freed by realloc (the new block follows).
inline constexpr uint16_t kFreeFlagRealloc = 1;
struct FreeRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint32_t tid;
  uint16_t call;
  uint16_t reserved;
};
static_assert(sizeof(FreeRecord) == 32);

struct MmapRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint64_t length;
  uint64_t offset;
  uint32_t stack_id;
  uint32_t tid;
  int32_t prot;
  int32_t flags;
  int32_t fd;
  uint16_t call;
  uint16_t reserved;
};
static_assert(sizeof(MmapRecord) == 64);

struct MunmapRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint64_t length;
  uint32_t tid;
  uint32_t reserved;
};
static_assert(sizeof(MunmapRecord) == 40);

struct MremapRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t old_address;
  uint64_t old_length;
  uint64_t new_address;
  uint64_t new_length;
  uint32_t stack_id;
  uint32_t tid;
  int32_t flags;
  uint32_t reserved;
};
static_assert(sizeof(MremapRecord) == 64);

// mprotect changed whether part of a recorded mapping is accessible: `length` bytes from
// `address` are now inaccessible (prot PROT_NONE: reserved address space, holding no memory) or
// accessible (committed). Written only when the call turned some recorded bytes from one to the
// other; the committed bytes are then charged to `stack_id` (the caller of mprotect).
struct ProtectRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint64_t length;
  uint32_t stack_id;
  uint32_t tid;
  int32_t prot;
  uint32_t reserved;
};
static_assert(sizeof(ProtectRecord) == 48);

// madvise gave pages of a recorded mapping back to the kernel (MADV_DONTNEED, MADV_FREE,
// MADV_REMOVE): they stay mapped and committed but no longer resident until touched again.
struct AdviseRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t address;
  uint64_t length;
  uint32_t tid;
  int32_t advice;
};
static_assert(sizeof(AdviseRecord) == 40);

// Whole-process figures at one instant. The call counts and requested bytes count every call
// (sampled or not), so they are exact in every mode.
struct SnapshotRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t heap_allocated_bytes;  // cumulative requested bytes
  uint64_t heap_in_use_bytes;     // the C library's in-use heap bytes (glibc mallinfo2: in-use
                                  // chunks incl. their headers, plus mmapped blocks); 0 unknown
  uint64_t alloc_calls;           // cumulative
  uint64_t free_calls;            // cumulative
  uint64_t mmap_live_bytes;       // bytes mapped through the hooked mmap calls, not yet unmapped,
                                  // and accessible (before version 4: PROT_NONE ones too)
  uint64_t rss_bytes;             // /proc/self/statm resident
  uint64_t vm_size_bytes;         // /proc/self/statm size
  uint64_t lost_events;           // cumulative events that could not be written
};
static_assert(sizeof(SnapshotRecord) == 80);

// Where the resident memory is, written right after each SnapshotRecord (same time) and before
// the EndRecord. Bytes; 0 when unknown.
inline constexpr uint32_t kMemoryFlagStatus = 1;    // the rss_* and swap figures were read
inline constexpr uint32_t kMemoryFlagMallinfo = 2;  // the arena_* / heap figures were read (the
                                                    // program's malloc is glibc's)
inline constexpr uint32_t kMemoryFlagArenas = 4;    // arenas was counted (/proc/self/maps)
inline constexpr uint32_t kMemoryFlagForeignMalloc = 8;  // the malloc the program calls is not
                                                         // the one allocwatch wraps (defined in
                                                         // the executable or an earlier library)
struct MemoryRecord {
  RecordHeader header;
  uint64_t time_ns;
  // /proc/self/status: RssAnon, RssFile, RssShmem, VmSwap
  uint64_t rss_anon_bytes;
  uint64_t rss_file_bytes;
  uint64_t rss_shmem_bytes;
  uint64_t swap_bytes;
  // glibc mallinfo2: arena (bytes the arenas hold from the kernel, in use or free), fordblks
  // (free chunks in them), uordblks (chunks in use, their headers included), hblkhd (blocks
  // mapped on their own for large requests), keepcost (the main arena's releasable top)
  uint64_t arena_bytes;
  uint64_t arena_free_bytes;
  uint64_t arena_in_use_bytes;
  uint64_t heap_mmapped_bytes;
  uint64_t releasable_bytes;
  // The program's own mappings (hooked mmap & co.) still mapped, by kind: accessible
  // private anonymous, accessible file-backed, accessible shared anonymous, and inaccessible
  // (PROT_NONE) address space of any kind
  uint64_t mapped_anon_bytes;
  uint64_t mapped_file_bytes;
  uint64_t mapped_shared_bytes;
  uint64_t mapped_reserved_bytes;
  uint32_t threads;  // Threads: in /proc/self/status, less allocwatch's timer thread
  uint32_t arenas;   // glibc arenas: the main one and one per 64 MiB-aligned arena heap found
  uint32_t flags;    // kMemoryFlag*
  // VmHWM in /proc/self/status, in KiB (saturated at 2^32 - 1): the largest resident set the
  // process has had since it started (or last exec'd), as the kernel keeps it; 0 when not known
  // (recordings before this field, which was reserved and written as 0)
  uint32_t rss_peak_kib;
};
static_assert(sizeof(MemoryRecord) == 136);

// Recording was turned on or off (allocwatch run --paused, allocwatch ctl), or a snapshot was
// asked for. While off, allocations and new mappings are counted (the snapshots' totals) but
// not recorded; frees, unmaps and failures still are.
inline constexpr uint32_t kControlReasonStartPaused = 0;  // the process began with recording off
struct ControlRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint32_t command;    // kControlReasonStartPaused, or format::kControl* of tail_format.h
  uint32_t recording;  // 1 recording from now on, 0 off
};
static_assert(sizeof(ControlRecord) == 24);

// An allocation call that failed: NULL / MAP_FAILED / non-zero from posix_memalign / -1 from
// munmap. Written and flushed to the file before the hook returns.
struct FailureRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t args[4];  // the call's arguments in order (unused ones 0)
  int64_t result;    // posix_memalign's return code, or -1
  uint32_t stack_id;
  uint32_t tid;
  int32_t error;  // errno after the call (posix_memalign: its return code)
  uint16_t call;  // Call
  uint16_t reserved;
};
static_assert(sizeof(FailureRecord) == 72);

// At exit: allocations still live (sampled ones; in exact mode all of them). A process may write
// several LiveRecords; together they form the list.
inline constexpr uint16_t kLiveKindHeap = 1;
inline constexpr uint16_t kLiveKindMmap = 2;
inline constexpr uint16_t kLiveKindReserved = 3;  // a mapping's inaccessible (PROT_NONE) range
struct LiveEntry {
  uint64_t address;
  uint64_t size;
  uint32_t stack_id;
  uint16_t kind;  // kLiveKind*
  uint16_t call;  // Call that made it
};
static_assert(sizeof(LiveEntry) == 24);

struct LiveRecord {
  RecordHeader header;
  uint32_t count;  // then count x LiveEntry
  uint32_t reserved;
};
static_assert(sizeof(LiveRecord) == 16);

// The process image was replaced by execve; the new image writes its own recording.
struct ExecRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint32_t path_size;  // then path bytes
  uint32_t reserved;
};
static_assert(sizeof(ExecRecord) == 24);

inline constexpr uint32_t kEndReasonExit = 1;    // exit() / return from main
inline constexpr uint32_t kEndReasonUExit = 2;   // _exit() / _Exit()
inline constexpr uint32_t kEndReasonDetach = 3;  // allocwatch detach: the process went on
struct EndRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t live_count;   // entries in the LiveRecords before it
  uint64_t lost_events;  // events that could not be written over the whole run
  uint32_t reason;       // kEndReason*
  int32_t exit_status;   // for _exit, its argument; -1 when unknown
};
static_assert(sizeof(EndRecord) == 40);

// Written when the recording's descriptor was found closed or replaced by the program and the
// file was opened again (flags: kLostFlagReopened); `events` counts events lost up to then.
// Also written (flags: kLostFlagNoMemory) when allocwatch's own tables could not grow because
// the process was out of memory, at the first event dropped for that since memory was last
// had: that sampled allocation or mapping is not in the recording, and `events` counts the
// events dropped so far for want of memory.
inline constexpr uint16_t kLostFlagReopened = 1;
inline constexpr uint16_t kLostFlagNoMemory = 2;
struct LostRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t events;
};
static_assert(sizeof(LostRecord) == 24);

// Heap events of one or more threads in compact form. Their times are in ticks (see
// ClockRecord). Events of one address are always in one stream, in the order they happened;
// events of different addresses may come in a different order and are put back in time order
// by the reader (ClockRecord). The body is `bytes` bytes of events as event_codec.h describes,
// then zero padding to a multiple of 8.
// flags bit 0 (`in order`): no event's time is before the previous event's, so the body is
// one run in time order. A reader may then hand out its events as it decodes them, and treat
// damage found on the way (a time that goes back included) as the end of the record's
// events; without the flag it checks the whole body first.
inline constexpr uint16_t kEventsFlagInOrder = 1;
struct EventsRecord {
  RecordHeader header;
  uint64_t base_time_ns;  // in ticks: the first event's time is relative to this
  uint32_t count;         // events in the body
  uint32_t bytes;         // body bytes before the padding
};
static_assert(sizeof(EventsRecord) == 24);

// A point of the tick clock that heap events use (the CPU's invariant time-stamp counter where
// the kernel trusts it, else CLOCK_MONOTONIC nanoseconds), written after every buffered heap
// event up to `ticks` was written. Readers release the heap events with time <= ticks in time
// order and convert ticks to nanoseconds by the line through consecutive ClockRecords.
struct ClockRecord {
  RecordHeader header;
  uint64_t time_ns;  // nanoseconds since start, read together with ticks
  uint64_t ticks;
};
static_assert(sizeof(ClockRecord) == 24);

// The sampling period changed from here on (each sample carries the period it was drawn with,
// so estimates stay unbiased across the change).
inline constexpr uint32_t kPeriodReasonWriteTime = 1;  // writing took more than its budget
struct PeriodRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t old_sample_bytes;
  uint64_t new_sample_bytes;
  uint64_t write_ns;     // time spent writing the recording during the last interval
  uint64_t interval_ns;  // that interval
  uint32_t reason;       // kPeriodReason*
  uint32_t reserved;
};
static_assert(sizeof(PeriodRecord) == 56);
// Memory headroom at one instant: limits and usage that decide whether an allocation can
// succeed. Written right after each FailureRecord, in the same flushed write (so the two are
// adjacent in the file), and with periodic snapshots (flag kHeadroomFlagPeriodic, without the
// /proc/self/maps scan). Values are kHeadroomUnknown when they could not be read and
// kHeadroomUnlimited when there is no limit. Sizes ending in _kb are in KiB as /proc prints them.
inline constexpr uint64_t kHeadroomUnknown = UINT64_MAX;
inline constexpr uint64_t kHeadroomUnlimited = UINT64_MAX - 1;
inline constexpr uint16_t kHeadroomFlagPeriodic = 1;  // header.flags: maps not scanned
inline constexpr uint16_t kHeadroomFlagBrink = 2;     // taken with a BrinkRecord (no maps scan)
inline constexpr uint32_t kMaxCgroupLevels = 16;      // levels stored, leaf first

inline constexpr uint32_t kCgroupNone = 0;  // no memory cgroup found (or not readable)
inline constexpr uint32_t kCgroupV1 = 1;
inline constexpr uint32_t kCgroupV2 = 2;
// HeadroomRecord::cgroup_flags
inline constexpr uint32_t kCgroupFlagHybrid = 1;          // v1 memory controller + a cgroup2 mount
inline constexpr uint32_t kCgroupFlagUnresolved = 2;      // directory guessed (mount root mismatch)
inline constexpr uint32_t kCgroupFlagOomKillDisable = 4;  // v1 oom_kill_disable 1 at the leaf
inline constexpr uint32_t kCgroupFlagUnderOom = 8;        // v1 under_oom 1 at the leaf
inline constexpr uint32_t kCgroupFlagTruncated = 16;      // more levels than kMaxCgroupLevels

// One level of the memory cgroup chain. v2: memory.max, memory.current, memory.high,
// memory.swap.max, memory.swap.current, memory.events max/oom/oom_kill. v1:
// memory.limit_in_bytes, memory.usage_in_bytes, high unknown, memory.memsw.limit_in_bytes and
// memory.memsw.usage_in_bytes (memory+swap), events_max = memory.failcnt, events_oom unknown,
// oom_kill from memory.oom_control.
struct CgroupLevel {
  uint64_t limit;
  uint64_t usage;
  uint64_t high;
  uint64_t swap_limit;
  uint64_t swap_usage;
  uint64_t events_max;
  uint64_t events_oom;
  uint64_t events_oom_kill;
};
static_assert(sizeof(CgroupLevel) == 64);

struct HeadroomRecord {
  RecordHeader header;
  uint64_t time_ns;
  // getrlimit, bytes (RLIM_INFINITY is kHeadroomUnlimited)
  uint64_t rlimit_as_cur, rlimit_as_max;
  uint64_t rlimit_data_cur, rlimit_data_max;
  uint64_t rlimit_memlock_cur, rlimit_memlock_max;
  // /proc/self/status
  uint64_t vm_size_kb, vm_data_kb, vm_lck_kb, vm_rss_kb;
  uint64_t threads;
  uint64_t cap_eff;  // capability bits (CAP_IPC_LOCK 14, CAP_SYS_ADMIN 21)
  // /proc/self/maps: mappings (a [vsyscall] line is not counted) and the largest free gap
  // (the gap below [stack] less the 1 MiB stack guard gap)
  uint64_t map_count;
  uint64_t largest_gap_bytes;
  // /proc/sys/vm
  uint64_t max_map_count;
  uint64_t overcommit_memory, overcommit_ratio, overcommit_kbytes;
  uint64_t admin_reserve_kb, user_reserve_kb;
  // /proc/meminfo
  uint64_t mem_total_kb, mem_available_kb, swap_total_kb, swap_free_kb;
  uint64_t commit_limit_kb, committed_as_kb;
  // hugetlb pool of the page size the call asked for (huge_page_kb 0: it did not ask)
  uint64_t huge_page_kb;
  uint64_t huge_total, huge_free, huge_rsvd, huge_surplus, huge_overcommit;
  // /proc/vmstat
  uint64_t vmstat_oom_kill;
  // memory cgroup: min over the levels of (limit - usage), that level (0 = leaf), min limit
  uint64_t cgroup_headroom;
  uint64_t cgroup_effective_limit;
  uint32_t cgroup_binding_level;  // UINT32_MAX when no level has a limit
  uint32_t cgroup_version;        // kCgroup*
  uint32_t cgroup_flags;          // kCgroupFlag*
  uint32_t cgroup_level_count;    // CgroupLevels that follow (leaf first)
  uint32_t cgroup_total_levels;   // levels up to the mount point (may exceed level_count)
  uint32_t cgroup_path_size;      // then the leaf's path in the hierarchy, e.g. "/a/b"
  // PSI memory (memory.pressure of the leaf on v2, else /proc/pressure/memory): avg10 x 100
  uint64_t psi_some_avg10_x100, psi_full_avg10_x100, psi_full_total_us;
};
static_assert(sizeof(HeadroomRecord) == 344);

// Written by `allocwatch run` and `allocwatch report` (never by the library) after the records
// they merged from the tail file of a process that was killed (tail_format.h, FORMAT.md
// "Durability"): what the recording before it did not hold yet. It has no time.
struct RecoveredRecord {
  RecordHeader header;
  uint64_t writer_bytes;        // bytes of whole records taken from the writer's region
  uint64_t events;              // heap events taken from the threads' buffers
  uint32_t batches;             // EventsRecords rebuilt from those buffers
  uint32_t duplicates;          // batches being flushed at the kill that the recording already held
  uint64_t torn_bytes;          // bytes of a record the kill cut short, dropped
  uint64_t merged_realtime_ns;  // CLOCK_REALTIME of the merge
};
static_assert(sizeof(RecoveredRecord) == 48);

// The headroom under one of the limits that end a process (the memory cgroup's, the commit
// limit under overcommit_memory 2, RLIMIT_AS) fell below a threshold percentage of that limit
// for the first time since it was last above twice the threshold. Written at once, after every
// buffered heap event (and their ClockRecord), so the events before it are the live set at
// that instant; a HeadroomRecord (flag kHeadroomFlagBrink) with the details follows.
inline constexpr uint32_t kBrinkCgroup = 1;        // limit: memory cgroup (least headroom level)
inline constexpr uint32_t kBrinkCommit = 2;        // limit: CommitLimit (overcommit_memory 2)
inline constexpr uint32_t kBrinkAddressSpace = 3;  // limit: RLIMIT_AS
struct BrinkRecord {
  RecordHeader header;
  uint64_t time_ns;
  uint64_t limit_bytes;
  uint64_t headroom_bytes;     // limit less usage (cgroup: usage as the kernel charges it)
  uint64_t reclaimable_bytes;  // cgroup: its file pages (active + inactive), which the kernel
                               // reclaims before it kills; kHeadroomUnknown elsewhere
  uint64_t rss_bytes;          // /proc/self/statm resident
  uint64_t vm_size_bytes;      // /proc/self/statm size
  uint64_t heap_in_use_bytes;  // as SnapshotRecord's (mallinfo2); 0 unknown
  uint64_t mmap_live_bytes;    // as SnapshotRecord's
  uint32_t kind;               // kBrink*
  uint32_t percent;            // the threshold crossed, percent of limit_bytes
};
static_assert(sizeof(BrinkRecord) == 80);

constexpr uint32_t PaddedSize(uint64_t n) { return static_cast<uint32_t>((n + 7) & ~uint64_t{7}); }

// The header of a record whose body (fixed part and any variable tail) has `unpadded_size`
// bytes in all, header included; the size is rounded up to a multiple of 8.
constexpr RecordHeader MakeHeader(RecordType type, uint64_t unpadded_size, uint16_t flags = 0) {
  return {static_cast<uint16_t>(type), flags, PaddedSize(unpadded_size)};
}

}  // namespace allocwatch::format
