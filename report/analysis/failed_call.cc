// report/analysis/failed_call.cc: see failed_call.h.
#include "report/analysis/failed_call.h"

#include <cerrno>

namespace allocwatch::report {

uint64_t FailureSize(const Failure& f) {
  using format::Call;
  switch (f.call) {
    case Call::kMalloc:
    case Call::kValloc:
    case Call::kPvalloc:
      return f.args[0];
    case Call::kCalloc:
    case Call::kReallocArray: {
      uint64_t a = f.call == Call::kCalloc ? f.args[0] : f.args[1];
      uint64_t b = f.call == Call::kCalloc ? f.args[1] : f.args[2];
      uint64_t total;
      return __builtin_mul_overflow(a, b, &total) ? UINT64_MAX : total;
    }
    case Call::kRealloc:
    case Call::kAlignedAlloc:
    case Call::kMemalign:
    case Call::kMmap:
    case Call::kMmap64:
    case Call::kMunmap:
    case Call::kMprotect:
      return f.args[1];
    case Call::kPosixMemalign:
    case Call::kMremap:
      return f.args[2];
    case Call::kFree:
      return 0;
  }
  return 0;
}

std::string ErrnoName(int error) {
  switch (error) {
    case ENOMEM:
      return "ENOMEM";
    case EINVAL:
      return "EINVAL";
    case EAGAIN:
      return "EAGAIN";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case EFAULT:
      return "EFAULT";
    case EBADF:
      return "EBADF";
    case ENODEV:
      return "ENODEV";
    case EOVERFLOW:
      return "EOVERFLOW";
    case ETXTBSY:
      return "ETXTBSY";
    case EEXIST:
      return "EEXIST";
    case 0:
      return "no errno";
  }
  return "errno " + std::to_string(error);
}

}  // namespace allocwatch::report
