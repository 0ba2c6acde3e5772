/* tests/preload/programs/controlled.c: a program whose recording a test turns on and off with
 * `allocwatch ctl` between its phases.
 *
 * Built with -g -O0. Usage: controlled DIR [thread]
 *   Writes its pid to DIR/pid; site_a() keeps 100 blocks of 1000 bytes, then it creates
 *   DIR/a_done and waits for DIR/go_b; site_b() keeps 100 blocks of 2000 bytes, DIR/b_done,
 *   waits for DIR/go_c; site_c() keeps 100 blocks of 3000 bytes; exits 0. While it waits it
 *   allocates and frees 16 bytes every millisecond (wait_site), as a live program would, so a
 *   command is carried out at once in exact mode. With `thread`, an idle thread is started
 *   first (a program with threads gets allocwatch's timer thread, which carries commands out
 *   in sampled mode, where a single-threaded program does at its next sampled allocation).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_kept[300];

NOINLINE void* site_a(void) { return malloc(1000); }
NOINLINE void* site_b(void) { return malloc(2000); }
NOINLINE void* site_c(void) { return malloc(3000); }
NOINLINE void wait_site(void) { free(malloc(16)); }

static void path_of(char* out, size_t size, const char* dir, const char* name) {
  snprintf(out, size, "%s/%s", dir, name);
}

static void wait_for(const char* dir, const char* name) {
  char path[4096];
  path_of(path, sizeof(path), dir, name);
  struct stat st;
  while (stat(path, &st) != 0) {
    wait_site();
    usleep(1000);
  }
}

static void mark(const char* dir, const char* name) {
  char path[4096];
  path_of(path, sizeof(path), dir, name);
  FILE* f = fopen(path, "w");
  if (f != NULL) fclose(f);
}

static void* idle_thread(void* arg) {
  (void)arg;
  pause();
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return 2;
  if (argc == 3) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle_thread, NULL) != 0) return 1;
  }
  const char* dir = argv[1];
  char path[4096];
  path_of(path, sizeof(path), dir, "pid.tmp");
  FILE* f = fopen(path, "w");
  if (f == NULL) return 1;
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  char final_path[4096];
  path_of(final_path, sizeof(final_path), dir, "pid");
  rename(path, final_path);
  for (int i = 0; i < 100; ++i) g_kept[i] = site_a();
  mark(dir, "a_done");
  wait_for(dir, "go_b");
  for (int i = 0; i < 100; ++i) g_kept[100 + i] = site_b();
  mark(dir, "b_done");
  wait_for(dir, "go_c");
  for (int i = 0; i < 100; ++i) g_kept[200 + i] = site_c();
  return 0;
}
