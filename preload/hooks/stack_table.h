// preload/hooks/stack_table.h: deduplicates call stacks into 32-bit ids.
//
// Hook-safe. Thread-safe (one spinlock; stacks are interned only for sampled events). Frames
// are copied into an mmap-backed arena that is never freed.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "preload/base/spinlock.h"
#include "preload/hooks/real_allocator.h"
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

class StackTable {
 public:
  StackTable();

  // Returns the id of this stack (1-based); *is_new is true the first time it is seen, and the
  // caller must then write the StackRecord. Returns 0 when out of memory. After a module was
  // unloaded (ModuleUnloadGeneration() changed) the same addresses get a new id.
  uint32_t Intern(const uint64_t* ips, uint32_t depth, bool* is_new);

  // The same through the calling thread's cache of recently seen stacks (no lock on a hit; a
  // hit compares every frame, so it is exact).
  uint32_t InternCached(ThreadState& t, const uint64_t* ips, uint32_t depth, bool* is_new);

  uint32_t size() const { return next_id_ - 1; }

  // Changes whenever an id this table gave may no longer stand for the same stack: every id
  // forgotten (ResetInChild) or a module unloaded. Caches of ids are valid while it holds.
  uint64_t CacheGeneration(uint32_t module_generation) const {
    return (__atomic_load_n(&generation_, __ATOMIC_ACQUIRE) << 32) | module_generation;
  }

  // In a fork child: forget every stack (the child writes a new recording with new ids).
  void ResetInChild();

  // At thread exit: gives back the thread's cache.
  static void ReleaseThreadCache(ThreadState& t);
  Spinlock& lock() { return lock_; }

  static uint64_t Hash(const uint64_t* ips, uint32_t depth);

 private:
  struct Entry {
    const uint64_t* ips;
    uint32_t depth;
    uint32_t id;
    uint32_t generation;  // ModuleUnloadGeneration() when interned
  };
  struct IdentityHash {
    size_t operator()(uint64_t h) const { return static_cast<size_t>(h); }
  };
  using Map = absl::flat_hash_map<uint64_t, Entry, IdentityHash, std::equal_to<uint64_t>,
                                  RealAllocator<std::pair<const uint64_t, Entry>>>;

  uint64_t* CopyToArena(const uint64_t* ips, uint32_t depth);
  static uint64_t Key(const uint64_t* ips, uint32_t depth, uint32_t module_generation);
  uint32_t InternHashed(uint64_t key, uint32_t module_generation, const uint64_t* ips,
                        uint32_t depth, bool* is_new, const uint64_t** stored);
  uint64_t generation_ = 1;  // changes when ids are forgotten (fork child)

  Spinlock lock_;
  Map map_;
  uint32_t next_id_ = 1;
  char* arena_ = nullptr;
  uint64_t arena_left_ = 0;
};

}  // namespace allocwatch::preload
