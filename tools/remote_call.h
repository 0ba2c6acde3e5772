// tools/remote_call.h: calling functions inside another running process through ptrace(2),
// on x86-64 Linux, without a debugger. allocwatch attach uses it to call dlopen and
// allocwatch_attach in the process it records.
//
// One thread of the process is borrowed; the others keep running. It is borrowed at the entry
// of a system call during which a thread holds no lock of the C library or the loader (a wait
// for input, a poll, a sleep; futex waits only when nothing better comes), so that the calls
// made on it (dlopen, which allocates) cannot wait for a lock the thread itself holds. The
// system call is skipped while the calls run, and is made afresh when the thread is given
// back, with every register and errno as they were: the program sees the call it was making.
#pragma once
#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace allocwatch::tools {

class RemoteThread {
 public:
  RemoteThread() = default;
  ~RemoteThread();  // gives the thread back if it is still held
  RemoteThread(const RemoteThread&) = delete;
  RemoteThread& operator=(const RemoteThread&) = delete;

  // Borrows a thread of `pid`, waiting at most `timeout` for one to reach a safe system call.
  // On failure returns false with the reason in *error, the process untouched.
  bool Borrow(pid_t pid, std::chrono::milliseconds timeout, std::string* error);

  // Calls the function at `address` with up to six integer arguments; *result is its return
  // value (rax). False when the thread died or the call faulted (reason in *error).
  bool Call(uint64_t address, std::initializer_list<uint64_t> args, uint64_t* result,
            std::string* error);

  // Copies bytes into the process below the borrowed thread's stack pointer (beyond the red
  // zone) and returns their address there; the region is the thread's until Release.
  uint64_t PushBytes(const void* data, size_t size);
  uint64_t PushString(const std::string& s) { return PushBytes(s.c_str(), s.size() + 1); }
  bool Read(uint64_t address, void* out, size_t size) const;
  bool Write(uint64_t address, const void* data, size_t size) const;

  // Restores the registers, makes the interrupted system call again and lets the thread go.
  void Release();

  pid_t tid() const { return tid_; }
  long syscall_number() const { return syscall_; }
  // How long the borrowed thread has been (or was) held.
  std::chrono::microseconds held() const;

 private:
  bool TryThread(pid_t tid, bool allow_futex, std::chrono::steady_clock::time_point until,
                 std::string* error);
  void LetGo(pid_t tid, int signal);

  pid_t pid_ = 0;
  pid_t tid_ = 0;
  long syscall_ = -1;
  bool held_ = false;
  user_regs_struct saved_{};
  uint64_t scratch_ = 0;  // lowest address pushed so far
  std::chrono::steady_clock::time_point borrowed_at_{}, released_at_{};
};

// Why ptrace(2) was refused: Yama's ptrace_scope when it is set, else ownership and privileges.
std::string PtracePermissionHint();

// The address of a dynamic symbol in a module the process has mapped: the module's load base
// (from /proc/PID/maps) plus the symbol's value in its file (read through
// /proc/PID/map_files, which reaches a container's files). `module` is matched against the
// mapped file's name ("libc.so.6") or its full path. 0 when either is not found.
uint64_t RemoteSymbol(pid_t pid, const std::string& module, const std::string& symbol,
                      std::string* error);

}  // namespace allocwatch::tools
