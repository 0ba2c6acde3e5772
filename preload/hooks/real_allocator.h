// preload/hooks/real_allocator.h: a standard allocator over glibc's own malloc/free, for the
// containers allocwatch keeps inside the target (Abseil flat_hash_map, btree_map).
//
// Hook-safe provided the caller holds the reentrancy guard. It uses glibc's __libc_malloc and
// __libc_free, not the next malloc in symbol order: in a program linked against jemalloc or
// tcmalloc that next malloc is theirs, and they call mmap (hooked) while holding their own
// locks; a table growing inside that mmap hook would call back into the same allocator and
// deadlock. glibc's malloc maps memory through internal calls no hook sees.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <new>

#include "preload/hooks/real_functions.h"

extern "C" {
void* __libc_malloc(size_t size);  // NOLINT: glibc's exported allocator entry points
void __libc_free(void* ptr);       // NOLINT
}

namespace allocwatch::preload {

template <typename T>
struct RealAllocator {
  using value_type = T;
  RealAllocator() = default;
  template <typename U>
  RealAllocator(const RealAllocator<U>&) {}  // NOLINT: allocator conversion

  T* allocate(size_t n) {
    void* p = __libc_malloc(n * sizeof(T));
    if (p == nullptr) __builtin_trap();  // containers cannot report failure without exceptions
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { __libc_free(p); }

  template <typename U>
  bool operator==(const RealAllocator<U>&) const {
    return true;
  }
};

// Storage for an object constructed at start-up and never destroyed (so hooks that run during
// other libraries' exit-time destructors still find it intact).
template <typename T>
class Immortal {
 public:
  template <typename... Args>
  T* Construct(Args&&... args) {
    ptr_ = new (storage_) T(static_cast<Args&&>(args)...);
    return ptr_;
  }
  T* get() const { return ptr_; }
  T* operator->() const { return ptr_; }

 private:
  alignas(T) unsigned char storage_[sizeof(T)] = {};
  T* ptr_ = nullptr;
};

}  // namespace allocwatch::preload
