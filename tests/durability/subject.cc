// tests/durability/subject.cc: the program the SIGKILL tests kill (see README.md).
//
// It allocates in steps from three call sites and logs each step, as it happens, to the
// descriptor given by --log-fd: one write(2) per line, so a line the reader has received
// describes allocations that had already returned. The lines (fields separated by one space):
//   pid PID                           first, from the process that does the work
//   begin TID SITE CALLS BYTES        before a step (what the step will allocate)
//   done TID SITE CALLS BYTES         after it (the same figures: the step's allocations returned)
//   idle TID                          before the idle sleep
//   finished TID                      the thread's work is over
// Sites: grow_site keeps kGrowCalls blocks of 1 KiB a step, churn_site mallocs and frees
// kChurnCalls blocks, marker_site keeps one 1 MiB block (above the default sampling period,
// so recorded in every mode). Nothing on the logging path allocates.
//
// Usage: subject --log-fd FD [--threads N] [--steps N] [--pause-us N] [--idle-ms N] [--fork]
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// The sites are outside any namespace, so their frames are named plainly (grow_site(Kept&)).
constexpr int kGrowCalls = 50;
constexpr size_t kGrowBytes = 1024;
constexpr int kChurnCalls = 20;
constexpr size_t kMarkerBytes = 1024 * 1024;

// Blocks kept by a thread form a list through their first word: keeping them allocates
// nothing else.
struct Kept {
  void* grow = nullptr;
  void* markers = nullptr;
};

inline void* Keep(void* list, void* block) {
  *static_cast<void**>(block) = list;
  return block;
}

__attribute__((noinline)) void grow_site(Kept& kept) {
  for (int i = 0; i < kGrowCalls; ++i) {
    void* p = std::malloc(kGrowBytes);
    if (p == nullptr) std::abort();
    kept.grow = Keep(kept.grow, p);
  }
}

inline size_t ChurnSize(int i) { return 64 + 48 * static_cast<size_t>(i); }

inline size_t ChurnBytes() {
  size_t sum = 0;
  for (int i = 0; i < kChurnCalls; ++i) sum += ChurnSize(i);
  return sum;
}

__attribute__((noinline)) void churn_site() {
  for (int i = 0; i < kChurnCalls; ++i) {
    char* volatile p = static_cast<char*>(std::malloc(ChurnSize(i)));
    if (p == nullptr) std::abort();
    p[0] = static_cast<char>(i);  // used, so the pair is not optimised away
    std::free(p);
  }
}

__attribute__((noinline)) void marker_site(Kept& kept) {
  void* p = std::malloc(kMarkerBytes);
  if (p == nullptr) std::abort();
  kept.markers = Keep(kept.markers, p);
}

namespace {

constexpr int kMaxThreads = 16;

struct Options {
  int log_fd = -1;
  int threads = 1;
  int steps = 4000;
  long pause_us = 1500;
  long idle_ms = 0;
  bool fork_child = false;
};

Options g_options;

// One line, one write(2); a short write is finished, EINTR retried.
__attribute__((format(printf, 1, 2))) void Log(const char* format, ...) {
  char line[192];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof(line) - 1, format, args);
  va_end(args);
  if (n < 0 || n >= static_cast<int>(sizeof(line)) - 1) std::abort();
  line[n++] = '\n';
  for (int off = 0; off < n;) {
    ssize_t w = write(g_options.log_fd, line + off, static_cast<size_t>(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);  // the reader is gone
    off += static_cast<int>(w);
  }
}

long Tid() { return syscall(SYS_gettid); }

void SleepFor(long ns) {
  timespec t{ns / 1000000000, ns % 1000000000};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

void Step(long tid, Kept& kept) {
  Log("begin %ld grow_site %d %zu", tid, kGrowCalls, kGrowCalls * kGrowBytes);
  grow_site(kept);
  Log("done %ld grow_site %d %zu", tid, kGrowCalls, kGrowCalls * kGrowBytes);
  Log("begin %ld churn_site %d %zu", tid, kChurnCalls, ChurnBytes());
  churn_site();
  Log("done %ld churn_site %d %zu", tid, kChurnCalls, ChurnBytes());
  Log("begin %ld marker_site 1 %zu", tid, kMarkerBytes);
  marker_site(kept);
  Log("done %ld marker_site 1 %zu", tid, kMarkerBytes);
}

void* Work(void*) {
  long tid = Tid();
  Kept kept;
  for (int step = 0; step < g_options.steps; ++step) {
    Step(tid, kept);
    SleepFor(g_options.pause_us * 1000);
  }
  if (g_options.idle_ms > 0) {
    Log("idle %ld", tid);
    SleepFor(g_options.idle_ms * 1000000);
  }
  Log("finished %ld", tid);
  return nullptr;
}

// The pid line, then the work: on the calling thread alone, or on `threads` new ones.
void Run() {
  Log("pid %d", static_cast<int>(getpid()));
  if (g_options.threads == 1) {
    Work(nullptr);
    return;
  }
  pthread_t threads[kMaxThreads];
  for (int i = 0; i < g_options.threads; ++i) {
    if (pthread_create(&threads[i], nullptr, Work, nullptr) != 0) std::abort();
  }
  for (int i = 0; i < g_options.threads; ++i) pthread_join(threads[i], nullptr);
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: subject --log-fd FD [--threads N] [--steps N] [--pause-us N] "
               "[--idle-ms N] [--fork]\n");
  std::exit(2);
}

long Number(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) Usage();
  char* end = nullptr;
  long value = std::strtol(argv[++*i], &end, 10);
  if (*end != '\0' || value < 0) Usage();
  return value;
}

void ParseOptions(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--log-fd") == 0) {
      g_options.log_fd = static_cast<int>(Number(argc, argv, &i));
    } else if (std::strcmp(a, "--threads") == 0) {
      g_options.threads = static_cast<int>(Number(argc, argv, &i));
    } else if (std::strcmp(a, "--steps") == 0) {
      g_options.steps = static_cast<int>(Number(argc, argv, &i));
    } else if (std::strcmp(a, "--pause-us") == 0) {
      g_options.pause_us = Number(argc, argv, &i);
    } else if (std::strcmp(a, "--idle-ms") == 0) {
      g_options.idle_ms = Number(argc, argv, &i);
    } else if (std::strcmp(a, "--fork") == 0) {
      g_options.fork_child = true;
    } else {
      Usage();
    }
  }
  if (g_options.log_fd < 0 || g_options.threads < 1 || g_options.threads > kMaxThreads) Usage();
}

}  // namespace

int main(int argc, char** argv) {
  ParseOptions(argc, argv);
  if (!g_options.fork_child) {
    Run();
    return 0;
  }
  // The child does the work; the parent only waits, and ends normally however the child ended.
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    Run();
    _exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return 0;
}
