// tools/remote_call.cc: see remote_call.h.
#include "tools/remote_call.h"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tools/process_maps.h"

namespace allocwatch::tools {
namespace {

using Clock = std::chrono::steady_clock;

// System calls a thread makes only while it holds no lock of the C library's allocator or the
// loader: waits for input, for events, for children, for time. (An allocator takes its locks
// around mmap, munmap, mprotect, madvise and brk, and spins or waits on futexes; none of them
// is here.) futex comes second: a condition variable's wait holds no lock, but a futex wait may
// be a thread waiting for one lock while it holds another.
bool Safe(long nr, bool allow_futex) {
  switch (nr) {
    case SYS_read:
    case SYS_write:
    case SYS_poll:
    case SYS_select:
    case SYS_pause:
    case SYS_nanosleep:
    case SYS_accept:
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_wait4:
    case SYS_rt_sigtimedwait:
    case SYS_rt_sigsuspend:
    case SYS_epoll_wait:
    case SYS_clock_nanosleep:
    case SYS_waitid:
    case SYS_pselect6:
    case SYS_ppoll:
    case SYS_epoll_pwait:
    case SYS_accept4:
    case SYS_recvmmsg:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
      return true;
    case SYS_futex:
      return allow_futex;
    default:
      return false;
  }
}

// Waits for a state change of `tid` until `until`; false on timeout (status untouched).
bool WaitFor(pid_t tid, int* status, Clock::time_point until) {
  for (int spins = 0;; ++spins) {
    pid_t r = waitpid(tid, status, __WALL | WNOHANG);
    if (r == tid) return true;
    if (r < 0 && errno != EINTR) {
      *status = 0;
      return true;  // gone
    }
    if (Clock::now() >= until) return false;
    if (spins < 200) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

bool IsSyscallStop(int status) {
  return WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80);
}
bool IsEventStop(int status) { return WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP; }

std::vector<pid_t> Threads(pid_t pid) {
  std::vector<pid_t> tids{pid};  // the main thread first
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    pid_t tid = static_cast<pid_t>(std::atol(entry.path().filename().c_str()));
    if (tid > 0 && tid != pid) tids.push_back(tid);
  }
  return tids;
}

}  // namespace

std::string PtracePermissionHint() {
  std::ifstream scope("/proc/sys/kernel/yama/ptrace_scope");
  int value = -1;
  if (scope >> value && value > 0) {
    if (value == 3) {
      return "kernel.yama.ptrace_scope is 3: no process may attach to another until reboot";
    }
    if (value == 2) return "kernel.yama.ptrace_scope is 2: only root (CAP_SYS_PTRACE) may attach";
    return "kernel.yama.ptrace_scope is 1: only a parent may attach; run as root or set "
           "kernel.yama.ptrace_scope=0 (sysctl)";
  }
  return "no permission: the process runs as another user, or made itself non-dumpable "
         "(prctl PR_SET_DUMPABLE 0, as setuid programs are): run as root (in a container: root "
         "with CAP_SYS_PTRACE, and no seccomp profile that forbids ptrace)";
}

RemoteThread::~RemoteThread() {
  if (held_) Release();
}

void RemoteThread::LetGo(pid_t tid, int signal) {
  ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(signal)));
}

bool RemoteThread::TryThread(pid_t tid, bool allow_futex, Clock::time_point until,
                             std::string* error) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0) {
    if (errno == ESRCH) return false;  // the thread has ended
    if (errno == EPERM) {
      *error = "cannot trace process " + std::to_string(pid_) + ": " + PtracePermissionHint();
    } else {
      *error = "cannot trace thread " + std::to_string(tid) + ": " + std::strerror(errno);
    }
    return false;
  }
  ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
  int status = 0;
  int pass_signal = 0;
  if (!WaitFor(tid, &status, Clock::now() + std::chrono::seconds(2)) || !WIFSTOPPED(status)) {
    return false;
  }
  if (!IsEventStop(status) && !IsSyscallStop(status)) pass_signal = WSTOPSIG(status);
  while (true) {
    ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(pass_signal)));
    pass_signal = 0;
    if (!WaitFor(tid, &status, until)) {
      // No safe system call in time: stop it once more to let it go where it is.
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      if (WaitFor(tid, &status, Clock::now() + std::chrono::seconds(2)) && WIFSTOPPED(status)) {
        int sig = IsEventStop(status) || IsSyscallStop(status) ? 0 : WSTOPSIG(status);
        LetGo(tid, sig);
      }
      return false;
    }
    if (!WIFSTOPPED(status)) return false;  // exited
    if (IsEventStop(status)) continue;
    if (!IsSyscallStop(status)) {
      pass_signal = WSTOPSIG(status);  // the program's signal: delivered as it would be
      continue;
    }
    borrowed_at_ = Clock::now();  // held from here, if this system call will do
    __ptrace_syscall_info info{};
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof(info)), &info) <= 0 ||
        info.op != PTRACE_SYSCALL_INFO_ENTRY ||
        !Safe(static_cast<long>(info.entry.nr), allow_futex)) {
      continue;
    }
    user_regs_struct regs{};
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) continue;
    tid_ = tid;
    uint8_t insn[2] = {0, 0};
    if (!Read(regs.rip - 2, insn, 2) || insn[0] != 0x0f || insn[1] != 0x05) continue;  // syscall
    saved_ = regs;
    syscall_ = static_cast<long>(info.entry.nr);
    // Skip this call for now: the thread goes on to the call's exit, where the calls begin.
    regs.orig_rax = static_cast<unsigned long long>(-1);
    ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
    ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr);
    if (!WaitFor(tid, &status, Clock::now() + std::chrono::seconds(5)) || !IsSyscallStop(status)) {
      *error = "thread " + std::to_string(tid) + " did not stop after its system call";
      tid_ = 0;
      return false;
    }
    held_ = true;
    scratch_ = (saved_.rsp - 128) & ~uint64_t{15};  // below the red zone
    return true;
  }
}

bool RemoteThread::Borrow(pid_t pid, std::chrono::milliseconds timeout, std::string* error) {
  pid_ = pid;
  const Clock::time_point deadline = Clock::now() + timeout;
  // First a thread in a wait that holds no lock, each thread tried for a moment; then, for
  // processes whose threads all wait on futexes (a JVM), a futex wait as well.
  // A thread waiting in such a call is stopped there at once; one that computes reaches one
  // soon or not at all: 30 ms each, and the first pass over at most 40 % of the time.
  const Clock::time_point first_pass_end = Clock::now() + timeout * 2 / 5;
  for (bool allow_futex : {false, true}) {
    std::vector<pid_t> tids = Threads(pid);
    for (size_t i = 0; i < tids.size(); ++i) {
      Clock::time_point now = Clock::now();
      Clock::time_point end = allow_futex ? deadline : first_pass_end;
      if (now >= end) break;
      // The second pass shares what is left among the threads still to try.
      auto slice = allow_futex
                       ? (end - now) / static_cast<long>(tids.size() - i)
                       : std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(30));
      Clock::time_point until = now + slice < end ? now + slice : end;
      if (TryThread(tids[i], allow_futex, until, error)) return true;
      if (!error->empty()) return false;
    }
  }
  *error = "no thread of process " + std::to_string(pid) +
           " reached a system call where it holds no lock within " +
           std::to_string(timeout.count()) + " ms (a thread computing without pause?)";
  return false;
}

bool RemoteThread::Read(uint64_t address, void* out, size_t size) const {
  std::string path = "/proc/" + std::to_string(tid_ != 0 ? tid_ : pid_) + "/mem";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = pread(fd, out, size, static_cast<off_t>(address));
  close(fd);
  return n == static_cast<ssize_t>(size);
}

bool RemoteThread::Write(uint64_t address, const void* data, size_t size) const {
  std::string path = "/proc/" + std::to_string(tid_) + "/mem";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = pwrite(fd, data, size, static_cast<off_t>(address));
  close(fd);
  return n == static_cast<ssize_t>(size);
}

uint64_t RemoteThread::PushBytes(const void* data, size_t size) {
  scratch_ = (scratch_ - size) & ~uint64_t{15};
  return Write(scratch_, data, size) ? scratch_ : 0;
}

bool RemoteThread::Call(uint64_t address, std::initializer_list<uint64_t> args, uint64_t* result,
                        std::string* error) {
  if (!held_ || args.size() > 6) return false;
  user_regs_struct regs = saved_;
  // A return address of 0: the function's return faults at address 0, which ends the call.
  uint64_t sp = ((scratch_ - 256) & ~uint64_t{15}) - 8;
  const uint64_t zero = 0;
  if (!Write(sp, &zero, sizeof(zero))) {
    *error = "cannot write to the thread's stack";
    return false;
  }
  unsigned long long* slots[6] = {&regs.rdi, &regs.rsi, &regs.rdx, &regs.rcx, &regs.r8, &regs.r9};
  int i = 0;
  for (uint64_t a : args) *slots[i++] = a;
  regs.rsp = sp;
  regs.rip = address;
  regs.rax = 0;
  regs.orig_rax = static_cast<unsigned long long>(-1);
  if (ptrace(PTRACE_SETREGS, tid_, nullptr, &regs) != 0) {
    *error = std::string("cannot set the thread's registers: ") + std::strerror(errno);
    return false;
  }
  int pass_signal = 0;
  const Clock::time_point until = Clock::now() + std::chrono::seconds(30);
  while (true) {
    ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(pass_signal)));
    pass_signal = 0;
    int status = 0;
    if (!WaitFor(tid_, &status, until)) {
      *error = "the call did not return within 30 s";
      return false;
    }
    if (!WIFSTOPPED(status)) {
      held_ = false;
      *error = "the thread ended during the call";
      return false;
    }
    if (IsEventStop(status) || IsSyscallStop(status)) continue;
    int sig = WSTOPSIG(status);
    if (sig == SIGSEGV) {
      user_regs_struct after{};
      ptrace(PTRACE_GETREGS, tid_, nullptr, &after);
      if (after.rip == 0) {
        *result = after.rax;
        return true;
      }
      *error = "the call faulted";
      return false;
    }
    pass_signal = sig;  // a signal for the program: its handler runs on top of the call
  }
}

void RemoteThread::Release() {
  if (!held_) return;
  user_regs_struct regs = saved_;
  regs.rip -= 2;  // the system call instruction, made again
  regs.rax = saved_.orig_rax;
  ptrace(PTRACE_SETREGS, tid_, nullptr, &regs);
  LetGo(tid_, 0);
  held_ = false;
  released_at_ = Clock::now();
}

std::chrono::microseconds RemoteThread::held() const {
  Clock::time_point end = held_ ? Clock::now() : released_at_;
  return std::chrono::duration_cast<std::chrono::microseconds>(end - borrowed_at_);
}

namespace {

// The value of a defined dynamic symbol in an ELF file's bytes; 0 when absent.
uint64_t DynamicSymbolValue(const std::string& file, const std::string& name) {
  if (file.size() < sizeof(Elf64_Ehdr)) return 0;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(file.data());
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shoff == 0 || eh->e_shoff + uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) > file.size()) {
    return 0;
  }
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(file.data() + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr& strs = sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > file.size() ||
        strs.sh_offset + strs.sh_size > file.size()) {
      return 0;
    }
    const auto* syms = reinterpret_cast<const Elf64_Sym*>(file.data() + sh[i].sh_offset);
    size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
    for (size_t s = 0; s < count; ++s) {
      if (syms[s].st_shndx == SHN_UNDEF || syms[s].st_name >= strs.sh_size) continue;
      const char* sym_name = file.data() + strs.sh_offset + syms[s].st_name;
      if (name == sym_name) return syms[s].st_value;
    }
  }
  return 0;
}

}  // namespace

uint64_t RemoteSymbol(pid_t pid, const std::string& module, const std::string& symbol,
                      std::string* error) {
  for (const MappedFile& f : MappedFiles(pid)) {
    if (f.offset != 0 || (f.path != module && BaseName(f.path) != module)) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/map_files/" + f.range, std::ios::binary);
    if (!in) in.open("/proc/" + std::to_string(pid) + "/root" + f.path, std::ios::binary);
    if (!in) {
      *error = "cannot read " + f.path + " of process " + std::to_string(pid);
      return 0;
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t value = DynamicSymbolValue(bytes, symbol);
    if (value == 0) {
      *error = f.path + " has no symbol " + symbol;
      return 0;
    }
    return f.start + value;
  }
  *error = "process " + std::to_string(pid) + " has not loaded " + module;
  return 0;
}

}  // namespace allocwatch::tools
