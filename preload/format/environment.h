// preload/format/environment.h: the ALLOCWATCH_* environment variables, the interface between
// `allocwatch run` (which sets them) and liballocwatch.so (which reads them at start-up).
//
// Hook-safe: constants only. preload/README.md says what each one does.
#pragma once

namespace allocwatch::format::env {

inline constexpr char kPrefix[] = "ALLOCWATCH_";               // every name below starts so
inline constexpr char kOutputDir[] = "ALLOCWATCH_OUTPUT_DIR";  // where recordings go
inline constexpr char kSession[] = "ALLOCWATCH_SESSION";       // one id for a run's processes
inline constexpr char kSampleBytes[] =
    "ALLOCWATCH_SAMPLE_BYTES";  // mean bytes between samples; 1 = exact
inline constexpr char kIntervalMs[] = "ALLOCWATCH_INTERVAL_MS";  // snapshot interval
inline constexpr char kWriteBudgetPercent[] = "ALLOCWATCH_WRITE_BUDGET_PERCENT";
inline constexpr char kOnlyPid[] = "ALLOCWATCH_ONLY_PID";               // record only this process
inline constexpr char kCallSiteCache[] = "ALLOCWATCH_CALL_SITE_CACHE";  // 0: unwind every time
inline constexpr char kBrinkPercent[] =
    "ALLOCWATCH_BRINK_PERCENT";  // headroom thresholds: "10,5,2" (default), "off"
inline constexpr char kPaused[] = "ALLOCWATCH_PAUSED";   // 1: start with recording off
inline constexpr char kFsRoot[] = "ALLOCWATCH_FS_ROOT";  // read /proc and /sys under this
// allocwatch attach hands the library these settings as text instead of the environment:
// "NAME=VALUE" lines, each name one of the above (allocwatch_attach, preload/README.md).
inline constexpr char kAttachEntry[] = "allocwatch_attach";
// What allocwatch_attach returns.
inline constexpr int kAttachOk = 0;
inline constexpr int kAttachAlreadyRecording = 1;  // loaded by LD_PRELOAD, or attached already
inline constexpr int kAttachForeignMalloc = 2;     // the program's malloc is not the C library's
inline constexpr int kAttachBadSettings = 3;       // the settings were refused (too long, ...)
inline constexpr int kAttachCannotRecord = 4;      // the recording file could not be created
inline constexpr int kAttachNoCalls = 5;           // no module calls a wrapped function

// Read by the allocwatch command only (never by the library).
inline constexpr char kPreload[] = "ALLOCWATCH_PRELOAD";     // the library `run` injects
inline constexpr char kLogLevel[] = "ALLOCWATCH_LOG_LEVEL";  // the command's log level

}  // namespace allocwatch::format::env
