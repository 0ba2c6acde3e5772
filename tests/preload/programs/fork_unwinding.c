/* tests/preload/programs/fork_unwinding.c: forks while another thread is inside libunwind.
 *
 * A thread allocates without end through odd_call, whose CFA is kept in r12: libunwind's fast
 * trace cannot follow such a frame and steps the whole stack with its full cursor, under the
 * mutex of its global cache, for every allocation (the caller's alloca makes each one miss the
 * call-site cache). Meanwhile the main thread forks FORKS times; each child allocates through
 * odd_call too (so it unwinds with the full cursor) and exits with _exit(0). A child forked
 * while the thread held libunwind's mutex would wait for it forever: the parent gives each
 * child 10 s and prints "hung" and exits 1 then, else prints "forks done" and exits 0.
 */
#include <alloca.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORKS 150
#define NOINLINE __attribute__((noinline))

/* void* odd_call(void* (*fn)(size_t), size_t n): fn(n), with the CFA in r12. */
void* odd_call(void* (*fn)(size_t), size_t n);
__asm__(
    ".text\n"
    ".globl odd_call\n"
    ".type odd_call,@function\n"
    "odd_call:\n"
    ".cfi_startproc\n"
    "  push %r12\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r12, -16\n"
    "  mov %rsp, %r12\n"
    ".cfi_def_cfa_register %r12\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  call *%rax\n"
    "  mov %r12, %rsp\n"
    ".cfi_def_cfa_register %rsp\n"
    "  pop %r12\n"
    ".cfi_adjust_cfa_offset -8\n"
    "  ret\n"
    ".cfi_endproc\n"
    ".size odd_call, .-odd_call\n");

static volatile int g_stop;
void* volatile g_sink;

NOINLINE static void allocate_at(size_t depth_bytes) {
  volatile char* pad = alloca(depth_bytes);
  pad[0] = 1;
  void* p = odd_call(malloc, 24);
  g_sink = p;
  free(p);
}

/* 256 functions of their own above the allocation: more return addresses than libunwind's
 * cache of unwind rules holds, so that each step parses rules under its mutex. */
typedef void (*Level)(int, size_t);
extern const Level kLevels[256];
#define LEVEL(n)                                            \
  NOINLINE static void level_##n(int left, size_t bytes) { \
    if (left == 0) {                                        \
      allocate_at(bytes);                                   \
    } else {                                                \
      kLevels[(n + 1) % 256](left - 1, bytes);              \
    }                                                       \
    g_sink = (void*)(size_t)n;                              \
  }
#define LEVEL4(n) LEVEL(n##0) LEVEL(n##1) LEVEL(n##2) LEVEL(n##3)
#define LEVEL16(n) LEVEL4(n##0) LEVEL4(n##1) LEVEL4(n##2) LEVEL4(n##3)
#define LEVEL64(n) LEVEL16(n##0) LEVEL16(n##1) LEVEL16(n##2) LEVEL16(n##3)
LEVEL64(1) LEVEL64(2) LEVEL64(3) LEVEL64(4)
#define REF(n) level_##n
#define REF4(n) REF(n##0), REF(n##1), REF(n##2), REF(n##3)
#define REF16(n) REF4(n##0), REF4(n##1), REF4(n##2), REF4(n##3)
#define REF64(n) REF16(n##0), REF16(n##1), REF16(n##2), REF16(n##3)
const Level kLevels[256] = {REF64(1), REF64(2), REF64(3), REF64(4)};

static void* churn(void* arg) {
  (void)arg;
  for (size_t i = 0; !g_stop; ++i) kLevels[i % 256](200, 16 + (i % 4096) * 16);
  return NULL;
}

int main(void) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, churn, NULL) != 0) return 2;
  for (int i = 0; i < FORKS; ++i) {
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      allocate_at(64);
      _exit(0);
    }
    int status = 0;
    int waited = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (++waited > 10000) {  /* 10 s */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        printf("hung\n");
        return 1;
      }
      struct timespec tick = {0, 1000000};
      nanosleep(&tick, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
  }
  g_stop = 1;
  pthread_join(thread, NULL);
  printf("forks done\n");
  return 0;
}
