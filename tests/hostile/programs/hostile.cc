// tests/hostile/programs/hostile.cc: programs that do what breaks allocation profilers.
//
// `hostile CASE [ARGS...]`. Every case prints only what does not depend on timing or
// addresses, so a plain run and a run under liballocwatch.so can be compared byte for byte.
// Blocks meant to stay live at exit ("leaks") have sizes the tests look for.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace {

void* volatile g_sink;  // defeats malloc/free elision

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "hostile: check failed: %s (errno %d)\n", what, errno);
    std::_Exit(90);
  }
}

uint64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Allocation-heavy work: n rounds of malloc/realloc/calloc/free of varied sizes.
void Churn(int n, unsigned seed) {
  void* keep[64] = {};
  for (int i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    unsigned slot = (seed >> 8) % 64;
    size_t size = 16 + (seed >> 16) % 4000;
    if (keep[slot] == nullptr) {
      keep[slot] = (i & 1) ? std::malloc(size) : std::calloc(1, size);
    } else if (i % 3 == 0) {
      keep[slot] = std::realloc(keep[slot], size);
    } else {
      std::free(keep[slot]);
      keep[slot] = nullptr;
    }
    g_sink = keep[slot];
  }
  for (void* p : keep) std::free(p);
}

void Leak(size_t size, int count) {
  for (int i = 0; i < count; ++i) {
    void* p = std::malloc(size);
    Check(p != nullptr, "leak malloc");
    std::memset(p, 1, size);
    g_sink = p;
  }
}

// ---- 16 threads, blocks freed by other threads than the one that allocated them ----
constexpr int kCrossThreads = 16;
constexpr int kSlots = 4096;
std::atomic<void*> g_slots[kSlots];
std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_cross_frees{0};

void* CrossWorker(void* arg) {
  unsigned seed = static_cast<unsigned>(reinterpret_cast<uintptr_t>(arg)) * 2654435761u;
  uint64_t frees = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      seed = seed * 1103515245u + 12345u;
      void* p = std::malloc(8 + (seed >> 20) % 2048);
      void* old = g_slots[(seed >> 4) % kSlots].exchange(p);
      if (old != nullptr) {
        std::free(old);  // most likely allocated by another thread
        ++frees;
      }
    }
  }
  g_cross_frees += frees;
  return nullptr;
}

int CrossThreads(int argc, char** argv) {
  int ms = argc > 2 ? std::atoi(argv[2]) : 2000;
  pthread_t t[kCrossThreads];
  for (int i = 0; i < kCrossThreads; ++i) {
    Check(
        pthread_create(&t[i], nullptr, CrossWorker, reinterpret_cast<void*>(uintptr_t(i + 1))) == 0,
        "pthread_create");
  }
  uint64_t end = NowMs() + static_cast<uint64_t>(ms);
  while (NowMs() < end) usleep(10000);
  g_stop = true;
  for (pthread_t& x : t) pthread_join(x, nullptr);
  for (auto& s : g_slots) std::free(s.exchange(nullptr));
  Leak(7001, 3);
  std::printf("cross-threads: %d threads, frees>0: %s\n", kCrossThreads,
              g_cross_frees.load() > 0 ? "yes" : "no");
  return 0;
}

// ---- thousands of short-lived threads ----
void* ShortLived(void*) {
  void* p = std::malloc(333);
  g_sink = p;
  std::free(p);
  return nullptr;
}

int ManyThreads(int argc, char** argv) {
  int n = argc > 2 ? std::atoi(argv[2]) : 3000;
  int made = 0;
  for (int i = 0; i < n; i += 8) {
    pthread_t t[8];
    int k = 0;
    for (; k < 8 && i + k < n; ++k)
      Check(pthread_create(&t[k], nullptr, ShortLived, nullptr) == 0, "pthread_create");
    for (int j = 0; j < k; ++j) pthread_join(t[j], nullptr);
    made += k;
  }
  Leak(7002, 2);
  std::printf("many-threads: %d threads joined\n", made);
  return 0;
}

// ---- dlopen/dlclose in a loop while other threads allocate ----
void* ChurnWorker(void*) {
  while (!g_stop.load(std::memory_order_relaxed)) Churn(2000, 7);
  return nullptr;
}

int DlopenLoop(int argc, char** argv) {
  Check(argc > 2, "usage: dlopen PLUGIN [ROUNDS]");
  int rounds = argc > 3 ? std::atoi(argv[3]) : 200;
  pthread_t t[3];
  for (pthread_t& x : t)
    Check(pthread_create(&x, nullptr, ChurnWorker, nullptr) == 0, "pthread_create");
  long sum = 0;
  for (int i = 0; i < rounds; ++i) {
    void* h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    Check(h != nullptr, "dlopen");
    auto fn = reinterpret_cast<long (*)(int)>(dlsym(h, "hostile_plugin_work"));
    Check(fn != nullptr, "dlsym");
    sum += fn(i);
    Check(dlclose(h) == 0, "dlclose");
  }
  g_stop = true;
  for (pthread_t& x : t) pthread_join(x, nullptr);
  Leak(7003, 1);
  std::printf("dlopen: %d rounds, sum %ld\n", rounds, sum);
  return 0;
}

// ---- fork from a multi-threaded program, then allocate in parent and child ----
int ForkThreads(int, char**) {
  pthread_t t[4];
  for (pthread_t& x : t)
    Check(pthread_create(&x, nullptr, ChurnWorker, nullptr) == 0, "pthread_create");
  usleep(50000);
  std::fflush(stdout);
  pid_t child = fork();
  Check(child >= 0, "fork");
  if (child == 0) {
    // Only this thread exists here; the others' locks must not be held.
    Churn(20000, 11);
    Leak(7004, 4);
    std::printf("fork-threads: child done\n");
    std::fflush(stdout);
    std::exit(3);
  }
  Churn(20000, 13);
  int status = 0;
  Check(waitpid(child, &status, 0) == child, "waitpid");
  g_stop = true;
  for (pthread_t& x : t) pthread_join(x, nullptr);
  Leak(7005, 2);
  std::printf("fork-threads: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}

// ---- vfork + exec, posix_spawn: the children run this program's "leaf" case ----
int Leaf(int, char**) {
  Leak(7006, 5);
  std::printf("leaf: done\n");
  return 4;
}

std::string Self() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  Check(n > 0, "readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

int VforkExec(int, char**) {
  std::string self = Self();
  Leak(7007, 1);
  std::fflush(stdout);
  char* args[] = {self.data(), const_cast<char*>("leaf"), nullptr};
  pid_t child = vfork();
  if (child == 0) {
    execve(args[0], args, environ);
    _exit(127);
  }
  Check(child > 0, "vfork");
  int status = 0;
  Check(waitpid(child, &status, 0) == child, "waitpid");
  std::printf("vfork-exec: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}

int PosixSpawn(int, char**) {
  std::string self = Self();
  Leak(7008, 1);
  std::fflush(stdout);
  char* args[] = {self.data(), const_cast<char*>("leaf"), nullptr};
  pid_t child = -1;
  Check(posix_spawn(&child, args[0], nullptr, nullptr, args, environ) == 0, "posix_spawn");
  int status = 0;
  Check(waitpid(child, &status, 0) == child, "waitpid");
  std::printf("posix-spawn: child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}

// ---- signal handlers that allocate, firing during allocation-heavy code ----
// malloc is not async-signal-safe, so the handler only calls it while the main loop is
// outside malloc (g_safe); at any other moment it maps and unmaps memory, which is safe and
// hooked. Either way the signal often lands inside an allocation hook.
volatile sig_atomic_t g_safe = 0;
std::atomic<uint64_t> g_handled{0};

void AllocatingHandler(int) {
  int saved = errno;
  if (g_safe) {
    void* p = std::malloc(100);
    g_sink = p;
    std::free(p);
  } else {
    void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) munmap(m, 8192);
  }
  g_handled.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

int Signals(int argc, char** argv) {
  int ms = argc > 2 ? std::atoi(argv[2]) : 1500;
  struct sigaction sa {};
  sa.sa_handler = AllocatingHandler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  Check(sigaction(SIGPROF, &sa, nullptr) == 0, "sigaction");
  itimerval it{{0, 200}, {0, 200}};  // every 200 us of CPU time
  Check(setitimer(ITIMER_PROF, &it, nullptr) == 0, "setitimer");
  uint64_t end = NowMs() + static_cast<uint64_t>(ms);
  while (NowMs() < end) {
    Churn(5000, 17);
    g_safe = 1;
    volatile int spin = 0;  // a busy pause outside malloc
    while (spin < 20000) spin = spin + 1;
    g_safe = 0;
  }
  itimerval off{};
  setitimer(ITIMER_PROF, &off, nullptr);
  Leak(7009, 1);
  std::printf("signals: handled>0: %s\n", g_handled.load() > 0 ? "yes" : "no");
  return 0;
}

// ---- C++ exceptions thrown through allocation paths ----
struct Node {
  std::vector<std::string> names;
  explicit Node(int depth) {
    for (int i = 0; i < 4; ++i) names.push_back(std::string(40 + depth, 'x'));
    if (depth == 0) throw std::runtime_error(std::string(100, 'e'));
  }
};

__attribute__((noinline)) void Descend(int depth) {
  std::vector<int> local(100 + depth);
  g_sink = local.data();
  if (depth <= 0) {
    Node n(0);  // throws
    g_sink = &n;
    return;
  }
  Descend(depth - 1);
}

int Exceptions(int, char**) {
  int caught = 0, bad_alloc = 0;
  for (int i = 0; i < 3000; ++i) {
    try {
      Descend(i % 20);
    } catch (const std::runtime_error& e) {
      caught += e.what()[0] == 'e';
    }
  }
  for (int i = 0; i < 10; ++i) {
    try {
      // An impossible size: operator new throws bad_alloc through the failed malloc.
      volatile size_t huge = static_cast<size_t>(-1) / 4;
      char* p = new char[huge];
      g_sink = p;
    } catch (const std::bad_alloc&) {
      ++bad_alloc;
    }
  }
  Leak(7010, 1);
  std::printf("exceptions: caught %d runtime_error, %d bad_alloc\n", caught, bad_alloc);
  return 0;
}

// ---- every descriptor above 2 closed at start-up, then heavy allocation ----
int CloseAll(int argc, char** argv) {
  bool use_closefrom = argc > 2 && std::strcmp(argv[2], "closefrom") == 0;
  if (use_closefrom) {
    closefrom(3);
  } else {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    long max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536
                                                                   : static_cast<long>(rl.rlim_cur);
    for (long fd = 3; fd < max; ++fd) close(static_cast<int>(fd));
  }
  Churn(200000, 19);
  Leak(7011, 6);
  std::printf("close-all (%s): done\n", use_closefrom ? "closefrom" : "close loop");
  return 0;
}

// ---- a file of the program's own dup2'd over every descriptor above 2 ----
int Dup2Over(int argc, char** argv) {
  Check(argc > 2, "usage: dup2 FILE");
  int own = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Check(own >= 0, "open own file");
  // Every open descriptor above 2 (the recording's among them) now names the program's file.
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  Check(d != nullptr, "opendir /proc/self/fd");
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd > 2 && fd != own && fd != dirfd(d)) fds.push_back(fd);
  }
  closedir(d);
  for (int fd : fds) Check(dup2(own, fd) == fd, "dup2");
  const char line[] = "only this line belongs in the file\n";
  Check(write(own, line, sizeof(line) - 1) == static_cast<ssize_t>(sizeof(line) - 1), "write");
  Churn(200000, 23);
  Leak(7012, 2);
  std::printf("dup2: %s descriptors replaced\n", fds.empty() ? "no" : "some");
  return 0;
}

// ---- setrlimit and chdir before allocating; a forked child allocates after the chdir ----
int LimitsChdir(int argc, char** argv) {
  Check(argc > 2, "usage: limits DIR");
  Check(chdir(argv[2]) == 0, "chdir");
  rlimit files{64, 64};
  Check(setrlimit(RLIMIT_NOFILE, &files) == 0, "setrlimit NOFILE");
  rlimit as{};
  getrlimit(RLIMIT_AS, &as);
  // Room for 512 MiB more address space than is mapped now.
  char statm[128] = {};
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  Check(fd >= 0 && read(fd, statm, sizeof(statm) - 1) > 0, "read /proc/self/statm");
  close(fd);
  rlim_t limit = std::strtoull(statm, nullptr, 10) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) +
                 (512ul << 20);
  rlimit small_as{limit, as.rlim_max};
  Check(setrlimit(RLIMIT_AS, &small_as) == 0, "setrlimit AS");
  Churn(50000, 29);
  errno = 0;
  void* too_big = std::malloc(1ul << 30);  // beyond RLIMIT_AS: fails with ENOMEM
  int err = errno;
  std::fflush(stdout);
  pid_t child = fork();
  Check(child >= 0, "fork");
  if (child == 0) {
    Leak(7013, 3);
    std::exit(0);
  }
  int status = 0;
  Check(waitpid(child, &status, 0) == child, "waitpid");
  Leak(7014, 1);
  std::printf("limits: big malloc %s errno %s, child exited %d\n", too_big ? "succeeded" : "failed",
              err == ENOMEM ? "ENOMEM" : "other", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}

// ---- writes much more than a pipe holds to stdout (run with a closed pipe as stdout) ----
int WriteLots(int argc, char** argv) {
  bool ignore = argc > 2 && std::strcmp(argv[2], "ignore-sigpipe") == 0;
  if (ignore) signal(SIGPIPE, SIG_IGN);
  Leak(7015, 1);
  std::string chunk(4096, 'y');
  for (int i = 0; i < 1000; ++i) {
    void* p = std::malloc(64 + i);
    g_sink = p;
    std::free(p);
    ssize_t n = write(STDOUT_FILENO, chunk.data(), chunk.size());
    if (n < 0) {
      int err = errno;
      std::fprintf(stderr, "write failed: %s\n", err == EPIPE ? "EPIPE" : std::strerror(err));
      return 9;
    }
  }
  return 0;
}

// ---- prints its arguments as hex (for command lines with newlines and non-UTF-8 bytes) ----
int Args(int argc, char** argv) {
  Leak(7016, 1);
  for (int i = 0; i < argc; ++i) {
    std::printf("arg %d:", i);
    for (const char* p = argv[i]; *p != '\0'; ++p)
      std::printf(" %02x", static_cast<unsigned char>(*p));
    std::printf("\n");
  }
  return 0;
}

}  // namespace

// ---- the address space runs out: small blocks until malloc fails, then all freed ----
int FillAddressSpace(int, char**) {
  char statm[128] = {};
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  Check(fd >= 0 && read(fd, statm, sizeof(statm) - 1) > 0, "read /proc/self/statm");
  close(fd);
  rlimit as{};
  getrlimit(RLIMIT_AS, &as);
  rlim_t limit = std::strtoull(statm, nullptr, 10) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) +
                 (192ul << 20);
  rlimit small_as{limit, as.rlim_max};
  Check(setrlimit(RLIMIT_AS, &small_as) == 0, "setrlimit AS");
  struct Node {
    Node* next;
    char payload[40];
  };
  Node* head = nullptr;
  for (;;) {
    auto* n = static_cast<Node*>(std::malloc(sizeof(Node)));
    if (n == nullptr) break;
    n->next = head;
    head = n;
  }
  int err = errno;
  while (head != nullptr) {
    Node* next = head->next;
    std::free(head);
    head = next;
  }
  std::printf("fill: malloc failed with %s, everything freed\n", err == ENOMEM ? "ENOMEM" : "?");
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: hostile CASE [ARGS...]\n");
    return 2;
  }
  std::string c = argv[1];
  if (c == "cross-threads") return CrossThreads(argc, argv);
  if (c == "many-threads") return ManyThreads(argc, argv);
  if (c == "dlopen") return DlopenLoop(argc, argv);
  if (c == "fork-threads") return ForkThreads(argc, argv);
  if (c == "leaf") return Leaf(argc, argv);
  if (c == "vfork-exec") return VforkExec(argc, argv);
  if (c == "posix-spawn") return PosixSpawn(argc, argv);
  if (c == "signals") return Signals(argc, argv);
  if (c == "exceptions") return Exceptions(argc, argv);
  if (c == "close-all") return CloseAll(argc, argv);
  if (c == "dup2") return Dup2Over(argc, argv);
  if (c == "limits") return LimitsChdir(argc, argv);
  if (c == "fill") return FillAddressSpace(argc, argv);
  if (c == "write-lots") return WriteLots(argc, argv);
  if (c == "args") return Args(argc, argv);
  std::fprintf(stderr, "hostile: unknown case %s\n", argv[1]);
  return 2;
}
