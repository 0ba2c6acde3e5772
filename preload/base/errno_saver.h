// preload/base/errno_saver.h: keeps errno exactly as the real call left it.
//
// Hook-safe. Construct right after the real call; the destructor restores errno on scope exit.
#pragma once
#include "preload/base/hook_safe.h"

#include <cerrno>

namespace allocwatch::preload {

class ErrnoSaver {
 public:
  ErrnoSaver() : saved_(errno) {}
  ~ErrnoSaver() { errno = saved_; }
  ErrnoSaver(const ErrnoSaver&) = delete;
  ErrnoSaver& operator=(const ErrnoSaver&) = delete;
  int value() const { return saved_; }

 private:
  int saved_;
};

}  // namespace allocwatch::preload
