// preload/hooks/session.cc: see session.h.
#include "preload/hooks/session.h"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/format/environment.h"
#include "preload/format/record_format.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recording_file.h"
#include "preload/hooks/tail_file.h"

namespace allocwatch::preload {
namespace {

constexpr size_t kCmdlineMax = 64 * 1024;
constinit char g_cmdline[kCmdlineMax] =
    {};  // used under the single-threaded start-up or fork child
constinit char g_exe[1024] = {};
constinit char g_path[1200] = {};

bool ParseUnsigned(const char* text, uint64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  const char* p = text;
  uint64_t v = ParseDecimal(p);
  if (*p != '\0') return false;
  *out = v;
  return true;
}

// Copies the last path component of [begin, end) to `out` as a file-name part: characters
// other than letters, digits, '.', '_' and '-' become '_', at most kMaxProgramName of them.
// Returns false (out empty) when there is no component.
constexpr size_t kMaxProgramName = 64;
bool SafeBasename(const char* begin, const char* end, char* out, size_t out_size) {
  for (const char* p = begin; p < end; ++p) {
    if (*p == '/') begin = p + 1;
  }
  size_t n = 0;
  for (const char* p = begin; p < end && n + 1 < out_size && n < kMaxProgramName; ++p) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out[n++] = ok ? c : '_';
  }
  out[n] = '\0';
  return n > 0;
}

// The program's name in its recording's file name: the executable's (/proc/self/exe), since
// programs rewrite argv (nginx workers, Chromium's zygote, setproctitle); argv[0]'s when the
// executable cannot be read, else "process".
void ProgramName(const char* exe, size_t exe_size, const char* cmdline, long cmdline_size,
                 char* out, size_t out_size) {
  static constexpr char kDeleted[] = " (deleted)";  // the file was replaced or removed
  constexpr size_t kDeletedLen = sizeof(kDeleted) - 1;
  if (exe_size >= kDeletedLen &&
      std::memcmp(exe + exe_size - kDeletedLen, kDeleted, kDeletedLen) == 0) {
    exe_size -= kDeletedLen;
  }
  if (SafeBasename(exe, exe + exe_size, out, out_size)) return;
  if (cmdline_size > 0 &&
      SafeBasename(cmdline, cmdline + strnlen(cmdline, cmdline_size), out, out_size)) {
    return;
  }
  std::memcpy(out, "process", 8);
}

size_t Append(char* buf, size_t at, size_t cap, const char* s) {
  while (*s != '\0' && at + 1 < cap) buf[at++] = *s++;
  buf[at] = '\0';
  return at;
}

int CreateFile(const Config& config, const char* program) {
  char number[24];
  FormatDecimal(static_cast<uint64_t>(getpid()), number);
  for (int attempt = 0; attempt < 100; ++attempt) {
    size_t n = Append(g_path, 0, sizeof(g_path), config.output_dir);
    n = Append(g_path, n, sizeof(g_path), "/");
    n = Append(g_path, n, sizeof(g_path), program);
    n = Append(g_path, n, sizeof(g_path), ".");
    n = Append(g_path, n, sizeof(g_path), number);
    if (attempt > 0) {
      char suffix[24];
      FormatDecimal(static_cast<uint64_t>(attempt), suffix);
      n = Append(g_path, n, sizeof(g_path), ".");
      n = Append(g_path, n, sizeof(g_path), suffix);
    }
    Append(g_path, n, sizeof(g_path), ".awtrace");
    int fd = open(g_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

// Moves the descriptor out of the low numbers programs tend to dup2 over.
int MoveHigh(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
  if (high < 0) return fd;
  close(fd);
  return high;
}

// ALLOCWATCH_BRINK_PERCENT: "off", "0", or up to Config::kMaxBrinks whole percentages from 1
// to 99 separated by commas, in any order. Anything else keeps the default (and says so).
void ParseBrinkPercent(const char* text, Config* config) {
  if (text == nullptr) return;
  if (std::strcmp(text, "off") == 0 || std::strcmp(text, "0") == 0) {
    config->brink_count = 0;
    return;
  }
  uint32_t values[Config::kMaxBrinks];
  int n = 0;
  bool ok = true;
  for (const char* p = text; ok;) {
    if (*p < '0' || *p > '9' || n == Config::kMaxBrinks) {
      ok = false;
      break;
    }
    uint64_t v = ParseDecimal(p);
    if (v < 1 || v > 99) {
      ok = false;
      break;
    }
    values[n++] = static_cast<uint32_t>(v);
    if (*p == '\0') break;
    if (*p++ != ',') ok = false;
  }
  if (!ok) {
    RawLog2(
        "ALLOCWATCH_BRINK_PERCENT must be \"off\" or up to 4 percentages from 1 to 99 such as "
        "10,5,2; using 10,5,2 instead of ",
        text);
    return;
  }
  for (int i = 1; i < n; ++i) {  // largest first
    for (int j = i; j > 0 && values[j] > values[j - 1]; --j) {
      uint32_t v = values[j];
      values[j] = values[j - 1];
      values[j - 1] = v;
    }
  }
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    if (kept == 0 || values[i] != config->brink_percent[kept - 1]) {
      config->brink_percent[kept++] = values[i];
    }
  }
  config->brink_count = kept;
}

// allocwatch_attach's settings: "NAME=VALUE" lines, copied here with each line ended by a
// NUL, in place of the environment.
constinit char g_settings[8192] = {};
size_t g_settings_size = 0;

bool CopySettings(const char* text) {
  size_t n = strnlen(text, sizeof(g_settings));
  if (n == sizeof(g_settings)) return false;
  for (size_t i = 0; i < n; ++i) g_settings[i] = text[i] == '\n' ? '\0' : text[i];
  g_settings[n] = '\0';
  g_settings_size = n;
  return true;
}

// A variable's value: from the attach settings when there are some, else the environment.
const char* Setting(const char* settings, const char* name) {
  if (settings == nullptr) return getenv(name);
  size_t len = std::strlen(name);
  for (size_t at = 0; at < g_settings_size;) {
    const char* line = g_settings + at;
    size_t line_len = std::strlen(line);
    if (line_len > len && std::memcmp(line, name, len) == 0 && line[len] == '=') {
      return line + len + 1;
    }
    at += line_len + 1;
  }
  return nullptr;
}

}  // namespace

bool ReadConfig(Config* config, const char* settings) {
  // Secure execution (setuid, setgid, file capabilities): record nothing, open no file, say
  // nothing; the environment that configured allocwatch is not to be trusted.
  if (getauxval(AT_SECURE) != 0) return false;
  if (settings != nullptr && !CopySettings(settings)) {
    RawLog("the attach settings are too long; not recording");
    return false;
  }
  uint64_t v = 0;
  if (ParseUnsigned(Setting(settings, format::env::kSampleBytes), &v) && v > 0)
    config->sample_bytes = v;
  if (ParseUnsigned(Setting(settings, format::env::kIntervalMs), &v) && v > 0) {
    config->interval_ns = v * 1000000;
  }
  if (ParseUnsigned(Setting(settings, format::env::kSession), &v)) config->session_id = v;
  if (ParseUnsigned(Setting(settings, format::env::kWriteBudgetPercent), &v) && v <= 100) {
    config->write_budget_percent = static_cast<uint32_t>(v);
  }
  if (ParseUnsigned(Setting(settings, format::env::kCallSiteCache), &v) && v == 0) {
    config->call_site_cache = false;
  }
  if (ParseUnsigned(Setting(settings, format::env::kOnlyPid), &v))
    config->only_pid = static_cast<uint32_t>(v);
  ParseBrinkPercent(Setting(settings, format::env::kBrinkPercent), config);
  if (ParseUnsigned(Setting(settings, format::env::kPaused), &v) && v == 1) config->paused = true;
  const char* dir = Setting(settings, format::env::kOutputDir);
  if (dir != nullptr && *dir != '\0') {
    if (std::strlen(dir) >= sizeof(config->output_dir)) {
      RawLog("ALLOCWATCH_OUTPUT_DIR is too long; not recording");
      return false;
    }
    std::strcpy(config->output_dir, dir);
  }
  // An absolute directory: the program may chdir before a fork child or a reopen needs it.
  if (config->output_dir[0] != '/') {
    char cwd[sizeof(config->output_dir)];
    size_t rel = std::strlen(config->output_dir);
    if (getcwd(cwd, sizeof(cwd)) == nullptr || std::strlen(cwd) + 1 + rel >= sizeof(cwd)) {
      RawLog("cannot resolve ALLOCWATCH_OUTPUT_DIR to an absolute path; not recording");
      return false;
    }
    size_t n = Append(cwd, std::strlen(cwd), sizeof(cwd), "/");
    Append(cwd, n, sizeof(cwd), config->output_dir);
    std::memcpy(config->output_dir, cwd, sizeof(cwd));
  }
  config->attached = settings != nullptr;
  if (config->attached) return true;  // this process, whatever ONLY_PID says
  return config->only_pid == 0 || config->only_pid == static_cast<uint32_t>(getpid());
}

int OpenRecording(const Config& config, uint64_t start_monotonic_ns, bool fork_child) {
  long cmdline_size = ReadSmallFile("/proc/self/cmdline", g_cmdline, sizeof(g_cmdline));
  if (cmdline_size < 0) cmdline_size = 0;
  ssize_t exe_size = readlink("/proc/self/exe", g_exe, sizeof(g_exe) - 1);
  if (exe_size < 0) exe_size = 0;
  char program[kMaxProgramName + 1];
  ProgramName(g_exe, static_cast<size_t>(exe_size), g_cmdline, cmdline_size, program,
              sizeof(program));
  int fd = CreateFile(config, program);
  if (fd < 0) {
    RawLog2("cannot create the recording file ", g_path);
    return -1;
  }
  fd = MoveHigh(fd);
  RememberRecordingFile(fd, g_path);

  utsname uts{};
  uname(&uts);
  char boot_id[64];
  long boot_size = ReadSmallFile("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
  if (boot_size < 0) boot_size = 0;
  while (boot_size > 0 && boot_id[boot_size - 1] == '\n') --boot_size;

  format::FileHeader file{};
  std::memcpy(file.magic, format::kMagic, sizeof(file.magic));
  file.version = format::kVersion;
  file.header_size = sizeof(file);

  format::ProcessRecord r{};
  size_t kernel_size = strnlen(uts.release, sizeof(uts.release));
  uint64_t payload = static_cast<uint64_t>(exe_size) + static_cast<uint64_t>(cmdline_size) +
                     kernel_size + static_cast<uint64_t>(boot_size);
  r.header = format::MakeHeader(format::RecordType::kProcess, sizeof(r) + payload);
  r.pid = static_cast<uint32_t>(getpid());
  r.ppid = static_cast<uint32_t>(getppid());
  r.session_id = config.session_id;
  r.start_realtime_ns = RealtimeNs();
  r.start_monotonic_ns = start_monotonic_ns;
  r.sample_bytes = config.sample_bytes;
  r.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  r.flags = (config.Exact() ? format::kProcessFlagExact : 0) |
            (fork_child ? format::kProcessFlagForkChild : 0) |
            (config.attached ? format::kProcessFlagAttached : 0);
  r.exe_size = static_cast<uint32_t>(exe_size);
  r.cmdline_size = static_cast<uint32_t>(cmdline_size);
  r.kernel_size = static_cast<uint32_t>(kernel_size);
  r.boot_id_size = static_cast<uint32_t>(boot_size);
  Chunk chunks[6] = {{&file, sizeof(file)},
                     {&r, sizeof(r)},
                     {g_exe, static_cast<size_t>(exe_size)},
                     {g_cmdline, static_cast<size_t>(cmdline_size)},
                     {uts.release, kernel_size},
                     {boot_id, static_cast<size_t>(boot_size)}};
  // The tail file holds what is not in the recording yet (tail_file.h); without it the writer
  // buffers in private memory.
  OpenTail(g_path, r.pid, r.start_realtime_ns);
  Writer().Open(fd, TailHeaderOrNull(), TailWriterRegion());
  // The 16-byte file header keeps the padding of the process record right.
  Writer().AppendPadded(chunks, 6, /*flush=*/true);
  return fd;
}

}  // namespace allocwatch::preload
