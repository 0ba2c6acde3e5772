/* tests/preload/programs/forking.c: parent and child leak at different sites.
 *
 * Built with -g -O0. The parent leaks 3 x 1111 bytes in parent_leak() before fork(); the child
 * (a copy that still holds those blocks) leaks 5 x 2222 bytes in child_leak() and ends with
 * _exit(0) (no atexit handlers: the recording ends through the interposed _exit); the parent
 * then frees a block it made after the fork (parent_after_fork), waits for the child, checks
 * its status and prints "child PID". Nothing is printed before fork().
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_parent[3];
void* volatile g_child[5];
void* volatile g_sink;

NOINLINE void parent_leak(void) {
  for (int i = 0; i < 3; ++i) g_parent[i] = malloc(1111);
}

NOINLINE void child_leak(void) {
  for (int i = 0; i < 5; ++i) g_child[i] = malloc(2222);
}

NOINLINE void parent_after_fork(void) {
  void* p = malloc(3333);
  g_sink = p;
  free(p);
}

int main(void) {
  parent_leak();
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    child_leak();
    _exit(0);
  }
  parent_after_fork();
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 3;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 4;
  printf("child %d\n", (int)pid);
  return 0;
}
