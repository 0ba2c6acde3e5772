/* tests/preload/programs/enomem_causes.c: one allocation failure per cause, chosen by argv[1].
 *
 * Built with -g -O0. Each scenario sets its limits in this process only (never a sysctl),
 * makes the failing call from fail_here() and prints "call=NAME size=BYTES errno=N" for the
 * test to compare with the recording. Exit 0 when the call failed as expected, 77 with
 * "SKIP: reason" on stdout when this machine cannot reproduce the cause, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MIB (1024ull * 1024)

void* volatile g_sink;
volatile size_t g_size;

/* A field of a /proc file in KiB (or a plain number), read without stdio. */
static unsigned long long proc_value(const char* path, const char* key) {
  static char buf[16384];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if (key == NULL) return strtoull(buf, NULL, 10);
  size_t k = strlen(key);
  for (char* line = buf; line != NULL && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, key, k) == 0 && line[k] == ':') return strtoull(line + k + 1, NULL, 10);
  }
  return 0;
}

static int skip(const char* why) {
  printf("SKIP: %s\n", why);
  return 77;
}

static int report(const char* call, unsigned long long size, int err) {
  printf("call=%s size=%llu errno=%d\n", call, size, err);
  fflush(stdout);
  return 0;
}

NOINLINE void* fail_here_malloc(size_t size) { return malloc(size); }  // @fail_here_malloc

NOINLINE void* fail_here_mmap(size_t length, int prot, int flags) {
  return mmap(NULL, length, prot, flags, -1, 0);  // @fail_here_mmap
}

static int expect_malloc_failure(size_t size) {
  errno = 0;
  void* p = fail_here_malloc(size);
  int err = errno;
  g_sink = p;
  if (p != NULL) return printf("malloc(%zu) succeeded\n", size), 1;
  return report("malloc", size, err);
}

static int expect_mmap_failure(size_t length, int prot, int flags) {
  errno = 0;
  void* p = fail_here_mmap(length, prot, flags);
  int err = errno;
  if (p != MAP_FAILED) return printf("mmap(%zu) succeeded\n", length), 1;
  return report("mmap", length, err);
}

static int rlimit_as(void) {
  unsigned long long vm = proc_value("/proc/self/status", "VmSize") * 1024;
  struct rlimit r = {vm + 64 * MIB, vm + 64 * MIB};
  if (setrlimit(RLIMIT_AS, &r) != 0) return skip("setrlimit(RLIMIT_AS) failed");
  return expect_malloc_failure(256 * MIB);
}

static int rlimit_data(void) {
  unsigned long long data = proc_value("/proc/self/status", "VmData") * 1024;
  struct rlimit r = {data + 32 * MIB, data + 32 * MIB};
  if (setrlimit(RLIMIT_DATA, &r) != 0) return skip("setrlimit(RLIMIT_DATA) failed");
  return expect_malloc_failure(64 * MIB);
}

static int max_map_count(void) {
  unsigned long long max = proc_value("/proc/sys/vm/max_map_count", NULL);
  if (max == 0 || max > 262144) return skip("vm.max_map_count is above 262144: too costly to reach");
  long page = sysconf(_SC_PAGESIZE);
  size_t pages = 2 * max + 16;
  char* base = mmap(NULL, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return skip("cannot reserve the test range");
  for (size_t i = 1; i < pages; i += 2) {
    if (mprotect(base + i * page, page, PROT_READ) != 0) break;
  }
  for (int i = 0; i < 8; ++i) {
    errno = 0;
    void* p = fail_here_mmap(page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    if (p == MAP_FAILED) return report("mmap", page, errno);
  }
  return printf("mmap did not fail at the map limit\n"), 1;
}

static int overcommit_heuristic(void) {
  int fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY);
  char mode = '?';
  if (fd >= 0) {
    if (read(fd, &mode, 1) != 1) mode = '?';
    close(fd);
  }
  if (mode != '0') return skip("vm.overcommit_memory is not 0");
  unsigned long long total = (proc_value("/proc/meminfo", "MemTotal") +
                              proc_value("/proc/meminfo", "SwapTotal")) * 1024;
  return expect_malloc_failure(total + 1024 * MIB);
}

static int address_space(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return skip("RLIMIT_AS is set");
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  for (size_t size = 1ull << 40; size >= 64 * 1024; size /= 2) {
    while (mmap(NULL, size, PROT_NONE, flags, -1, 0) != MAP_FAILED) {
    }
  }
  return expect_malloc_failure(64 * MIB);
}

static int hugetlb(void) {
  unsigned long long free_pages = proc_value("/proc/meminfo", "HugePages_Free");
  unsigned long long rsvd = proc_value("/proc/meminfo", "HugePages_Rsvd");
  unsigned long long size_kb = proc_value("/proc/meminfo", "Hugepagesize");
  if (size_kb == 0) return skip("no huge page support");
  unsigned long long avail = free_pages > rsvd ? free_pages - rsvd : 0;
  unsigned long long over = proc_value("/proc/sys/vm/nr_overcommit_hugepages", NULL);
  if (over != 0) return skip("vm.nr_overcommit_hugepages is set: the pool can grow");
  return expect_mmap_failure((avail + 1) * size_kb * 1024, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
}

static int memlock(void) {
  if (geteuid() == 0) {
    /* Root holds CAP_IPC_LOCK; become nobody, which does not. */
    if (setgid(65534) != 0 || setuid(65534) != 0) return skip("cannot drop to uid 65534");
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  }
  struct rlimit r = {1 * MIB, 1 * MIB};
  if (setrlimit(RLIMIT_MEMLOCK, &r) != 0) return skip("setrlimit(RLIMIT_MEMLOCK) failed");
  return expect_mmap_failure(16 * MIB, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED);
}

NOINLINE int fail_posix_memalign(void) {
  void* p = NULL;
  int rc = posix_memalign(&p, 3, 10);  // @fail_posix_memalign
  if (rc == 0) return printf("posix_memalign(3) succeeded\n"), 1;
  return report("posix_memalign", 10, rc);
}

NOINLINE int fail_aligned_alloc(void) {
  errno = 0;
  g_size = SIZE_MAX / 2 + 2;
  void* p = aligned_alloc(g_size, 10);  // @fail_aligned_alloc
  int err = errno;
  g_sink = p;
  if (p != NULL) return printf("aligned_alloc succeeded\n"), 1;
  return report("aligned_alloc", 10, err);
}

NOINLINE int fail_calloc(void) {
  errno = 0;
  g_size = SIZE_MAX / 2; /* volatile: no compile-time size check */
  void* p = calloc(g_size, 4);  // @fail_calloc
  int err = errno;
  g_sink = p;
  if (p != NULL) return printf("calloc succeeded\n"), 1;
  return report("calloc", UINT64_MAX, err);
}

/* Fails malloc(SIZE_MAX) over and over, writing one '.' to stdout after each failed call has
 * returned, until killed (or 1,000,000 times). */
static int repeat(void) {
  g_size = SIZE_MAX;
  for (int i = 0; i < 1000000; ++i) {
    g_sink = fail_here_malloc(g_size);
    if (write(1, ".", 1) != 1) return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  setvbuf(stdout, NULL, _IONBF, 0); /* no stdout buffer to allocate once memory is gone */
  const char* c = argv[1];
  if (!strcmp(c, "rlimit_as")) return rlimit_as();
  if (!strcmp(c, "rlimit_data")) return rlimit_data();
  if (!strcmp(c, "max_map_count")) return max_map_count();
  if (!strcmp(c, "overcommit_heuristic")) return overcommit_heuristic();
  if (!strcmp(c, "address_space")) return address_space();
  if (!strcmp(c, "hugetlb")) return hugetlb();
  if (!strcmp(c, "memlock")) return memlock();
  if (!strcmp(c, "posix_memalign")) return fail_posix_memalign();
  if (!strcmp(c, "aligned_alloc")) return fail_aligned_alloc();
  if (!strcmp(c, "calloc_overflow")) return fail_calloc();
  if (!strcmp(c, "repeat")) return repeat();
  if (!strcmp(c, "malloc_size_max")) { g_size = SIZE_MAX; return expect_malloc_failure(g_size); }
  return 2;
}
