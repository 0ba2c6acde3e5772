/* tests/preload/programs/renamed_argv.c: a program that rewrites its argv, as nginx workers
 * and Chromium's zygote do, so that its command line names something else.
 *
 * argv[1] "exec": execs itself (/proc/self/exe) with argv[0] "/etc/nginx/nginx.conf -g daemon
 *                 off;" and argv[1] "fork".
 * argv[1] "fork": overwrites its arguments in place (setproctitle) with "worker/process -g
 *                 daemon off;", forks a child that leaks a block and _exits, waits for it and
 *                 prints "child PID".
 * argv[1] "plain": leaks a block and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void* volatile g_sink;

static void SetProcTitle(int argc, char** argv, const char* title) {
  char* end = argv[argc - 1] + strlen(argv[argc - 1]);
  size_t room = (size_t)(end - argv[0]);
  memset(argv[0], 0, room);
  strncpy(argv[0], title, room);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (strcmp(argv[1], "exec") == 0) {
    execl("/proc/self/exe", "/etc/nginx/nginx.conf -g daemon off;", "fork", (char*)NULL);
    perror("execl");
    return 3;
  }
  g_sink = malloc(100);
  if (strcmp(argv[1], "plain") == 0) return 0;
  if (strcmp(argv[1], "fork") != 0) return 2;
  SetProcTitle(argc, argv, "worker/process -g daemon off;");
  pid_t child = fork();
  if (child < 0) return 4;
  if (child == 0) {
    g_sink = malloc(200);
    _exit(0);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return 5;
  }
  printf("child %d\n", (int)child);
  return 0;
}
