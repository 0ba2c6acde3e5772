// preload/hooks/real_allocator.h: a standard allocator over glibc's own malloc/free, for the
// containers allocwatch keeps inside the target (Abseil flat_hash_map, btree_map), and the
// checks that keep those containers from ever needing memory the process does not have.
//
// Hook-safe provided the caller holds the reentrancy guard. It uses glibc's own __libc_malloc
// and __libc_free as found in the C library itself (LibcMalloc, LibcFree), never the first
// malloc in symbol order: in a program linked against jemalloc or tcmalloc, or Chromium (whose
// allocator shim defines __libc_malloc too, routed to PartitionAlloc), that one is theirs, and
// they call mmap and mprotect (hooked) while holding their own locks; a table growing under
// allocwatch's lock would wait for their lock while they wait for allocwatch's: a deadlock
// (seen in Chromium). glibc's malloc maps memory through internal calls no hook sees.
//
// Out of memory: a container cannot report a failed allocation (no exceptions here), and the
// process being diagnosed must not be killed for allocwatch's sake. So an insert that could
// grow a table first makes sure of the memory (MakeRoomForOne, TableMemoryAvailable) and is
// dropped when there is none: the caller counts the event as lost. What still reaches the
// allocator unforeseen (a btree node, a split of a mapping) is served from a small reserve
// when glibc has nothing, and from then on inserts are dropped until memory can be had again.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <cstdint>
#include <new>

#include "preload/hooks/real_functions.h"

extern "C" {
void* __libc_malloc(size_t size);  // NOLINT: glibc's exported allocator entry points
void __libc_free(void* ptr);       // NOLINT
}

namespace allocwatch::preload {

// glibc's own allocator (RealFunctions::libc_malloc), or the symbol __libc_malloc when the C
// library's could not be found by name.
ALLOCWATCH_ALWAYS_INLINE void* LibcMalloc(size_t size) {
  auto fn = Real().libc_malloc;
  return fn != nullptr ? fn(size) : __libc_malloc(size);
}
ALLOCWATCH_ALWAYS_INLINE void LibcFree(void* p) {
  auto fn = Real().libc_free;
  return fn != nullptr ? fn(p) : __libc_free(p);
}

// The tables' memory, for RealAllocator (real_allocator.cc).
void* TableAllocate(size_t bytes);
void TableFree(void* p);

// False when the tables are short of memory (the reserve was drawn on and glibc still cannot
// give its size back): skip an insert that may allocate. Retries glibc at most once per call.
bool TableMemoryAvailable();

// True while a few small allocations (a btree node split) can be served: glibc has memory, or
// the reserve still has room. Where false, skip the change and count it lost.
bool TableCanAllocateSmall();

// For the next allocation of at most `bytes` made by this thread: memory allocated now, so the
// container's growth cannot fail. False when it cannot be had.
bool HandOffNextAllocation(size_t bytes);
// Frees what HandOffNextAllocation set aside and the container did not take.
void ReleaseHandOff();

template <typename T>
struct RealAllocator {
  using value_type = T;
  RealAllocator() = default;
  template <typename U>
  RealAllocator(const RealAllocator<U>&) {}  // NOLINT: allocator conversion

  T* allocate(size_t n) { return static_cast<T*>(TableAllocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) { TableFree(p); }

  template <typename U>
  bool operator==(const RealAllocator<U>&) const {
    return true;
  }
};

// For an Abseil flat_hash_map (or set): when the next insert of a new key could allocate (the
// table is past 25/32 full, where Abseil grows instead of rehashing in place), grows it now,
// into memory allocated first. False, with the table unchanged, when that memory cannot be
// had or the tables are short of memory: the caller drops the insert.
template <typename Map>
bool MakeRoomForOne(Map& map) {
  const size_t capacity = map.capacity();
  // Abseil rehashes a table with tombstones in place (no allocation) when it is more than a
  // group (16 slots) large and at most 25/32 full; a smaller one always grows.
  if (capacity > 16 && (map.size() + 1) * 32 <= capacity * 25) return TableMemoryAvailable();
  if (!TableMemoryAvailable()) return false;
  const size_t next = capacity == 0 ? 1 : capacity * 2 + 1;
  // Abseil's backing array: one control byte per slot plus a group's worth cloned, alignment
  // padding, then the slots. Over-estimated by a little: the hand-off serves any smaller size.
  if (!HandOffNextAllocation(next * (sizeof(typename Map::slot_type) + 1) + 64)) return false;
  // More than the table holds before it must grow: Abseil resizes to `next` now.
  map.reserve(capacity - capacity / 8 + 1);
  ReleaseHandOff();
  return true;
}

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
