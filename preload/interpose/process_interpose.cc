// preload/interpose/process_interpose.cc: process events: start, exit, _exit, exec, dlclose.
//
// Hook-safe. The exec family is wrapped name by name because glibc's execvp, execl & co. call
// execve internally (not through the exported symbol). Each wrapper writes an ExecRecord and
// then calls the real function; if exec fails the process simply goes on recording.
#include <dlfcn.h>
#include <stdarg.h>
#include <unistd.h>

#include "preload/base/errno_saver.h"
#include "preload/format/environment.h"
#include "preload/hooks/attach.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/recorder.h"
#include "preload/interpose/symbols.h"

using namespace allocwatch::preload;  // NOLINT: one-line wrappers

extern char** environ;

namespace {

__attribute__((constructor(101))) void AtLoad() {
  Real();
  // Loaded by dlopen (allocwatch attach): allocwatch_attach starts the recording.
  if (LoadedFirstInSymbolOrder()) StartRecording();
}

__attribute__((destructor(101))) void AtUnload() {
  FinishRecording(allocwatch::format::kEndReasonExit, -1, HeapFigures::kMeasure);
}

void BeforeExec(const char* path) {
  HookGuard guard;
  if (!guard.Reentered()) OnExec(path);
}

// Collects execl-style arguments (arg0 already taken) into `argv` on the caller's stack.
int CountArgs(va_list ap) {
  int n = 1;
  while (va_arg(ap, char*) != nullptr) ++n;
  return n;
}

void FillArgs(const char* arg0, va_list ap, char** argv, int n) {
  argv[0] = const_cast<char*>(arg0);
  for (int i = 1; i < n; ++i) argv[i] = va_arg(ap, char*);
  argv[n] = nullptr;
}

}  // namespace

// allocwatch attach calls this in the process it loaded the library into, on a thread it
// stopped at a system call (tools/attach_command.cc); `settings` holds ALLOCWATCH_* lines.
// Returns a format::env::kAttach* value.
ALLOCWATCH_EXPORT int allocwatch_attach(const char* settings) {
  ErrnoSaver saved;
  if (LoadedFirstInSymbolOrder()) return allocwatch::format::env::kAttachAlreadyRecording;
  int rc = StartAttached(settings);
  if (rc != allocwatch::format::env::kAttachOk) return rc;
  if (RouteAllModules() == 0) {
    FinishRecording(allocwatch::format::kEndReasonDetach, -1, HeapFigures::kMeasure);
    return allocwatch::format::env::kAttachNoCalls;
  }
  return rc;
}

ALLOCWATCH_EXPORT int dlclose(void* handle) {
  // Rescan first so modules loaded since the last scan are written before they go away.
  if (IsRecording()) {
    HookGuard guard;
    if (!guard.Reentered()) RecordModulesChanged();
  }
  int rc = Real().dlclose(handle);
  if (IsRecording()) {
    HookGuard guard;
    if (!guard.Reentered()) RecordModulesChanged();
  }
  return rc;
}

ALLOCWATCH_EXPORT void _exit(int status) {
  FinishRecording(allocwatch::format::kEndReasonUExit, status, HeapFigures::kLastMeasured);
  Real().exit_now(status);
}

ALLOCWATCH_EXPORT void _Exit(int status) {
  FinishRecording(allocwatch::format::kEndReasonUExit, status, HeapFigures::kLastMeasured);
  Real().exit_now2(status);
}

ALLOCWATCH_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  BeforeExec(path);
  return Real().execve(path, argv, envp);
}

ALLOCWATCH_EXPORT int execv(const char* path, char* const argv[]) {
  BeforeExec(path);
  return Real().execve(path, argv, environ);
}

ALLOCWATCH_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  BeforeExec(file);
  return Real().execvpe(file, argv, envp);
}

ALLOCWATCH_EXPORT int execvp(const char* file, char* const argv[]) {
  BeforeExec(file);
  return Real().execvpe(file, argv, environ);
}

ALLOCWATCH_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  BeforeExec("(fexecve)");
  return Real().fexecve(fd, argv, envp);
}

ALLOCWATCH_EXPORT int execl(const char* path, const char* arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  int n = CountArgs(ap);
  va_end(ap);
  char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
  va_start(ap, arg0);
  FillArgs(arg0, ap, argv, n);
  va_end(ap);
  return execv(path, argv);
}

ALLOCWATCH_EXPORT int execlp(const char* file, const char* arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  int n = CountArgs(ap);
  va_end(ap);
  char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
  va_start(ap, arg0);
  FillArgs(arg0, ap, argv, n);
  va_end(ap);
  return execvp(file, argv);
}

ALLOCWATCH_EXPORT int execle(const char* path, const char* arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  int n = CountArgs(ap);
  va_end(ap);
  char** argv = static_cast<char**>(__builtin_alloca((n + 1) * sizeof(char*)));
  va_start(ap, arg0);
  FillArgs(arg0, ap, argv, n);
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}
