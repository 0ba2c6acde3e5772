// preload/hooks/real_allocator.h: a standard allocator over the real malloc/free, for the
// containers allocwatch keeps inside the target (Abseil flat_hash_map, btree_map).
//
// Hook-safe provided the caller holds the reentrancy guard (the real allocator may still call
// back into hooked functions, e.g. mmap, which then pass through).
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <new>

#include "preload/hooks/real_functions.h"

namespace allocwatch::preload {

template <typename T>
struct RealAllocator {
  using value_type = T;
  RealAllocator() = default;
  template <typename U>
  RealAllocator(const RealAllocator<U>&) {}  // NOLINT: allocator conversion

  T* allocate(size_t n) {
    void* p = Real().malloc(n * sizeof(T));
    if (p == nullptr) __builtin_trap();  // containers cannot report failure without exceptions
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { Real().free(p); }

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
