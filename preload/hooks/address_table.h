// preload/hooks/address_table.h: the recorded allocations that are still live.
//
// Hook-safe. Thread-safe. Heap blocks live in 64 shards (chosen by address bits), each a
// flat_hash_map under its own spinlock, so threads freeing different blocks rarely meet.
// Mappings made through mmap/mremap live in one ordered map (they are few) so that partial
// munmaps split them exactly as the kernel does.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "preload/base/spinlock.h"
#include "preload/hooks/real_allocator.h"

namespace allocwatch::preload {

struct LiveBlock {
  uint64_t size;
  uint32_t stack_id;
  uint16_t call;
};

class HeapTable {
 public:
  void Insert(uint64_t address, const LiveBlock& block);
  // Removes the block; returns false when the address was never recorded.
  bool Remove(uint64_t address, LiveBlock* block);

  // False only if the address is certainly not in the table: one relaxed load from a counting
  // filter that only sampled allocations and their frees write, so free() of an unsampled block
  // takes no lock.
  ALLOCWATCH_ALWAYS_INLINE bool MayContain(uint64_t address) const {
    return filter_[FilterSlot(address)].load(std::memory_order_acquire) != 0;
  }

  // Calls fn(address, block) for every live block, shard by shard.
  template <typename Fn>
  void ForEach(Fn fn) {
    for (Shard& s : shards_) {
      SpinlockHolder hold(s.lock);
      for (const auto& [address, block] : s.map) fn(address, block);
    }
  }

  void LockAll();
  void UnlockAll();
  void ResetInChild();  // forget everything inherited from the parent

 private:
  using Map = absl::flat_hash_map<uint64_t, LiveBlock, absl::Hash<uint64_t>,
                                  std::equal_to<uint64_t>,
                                  RealAllocator<std::pair<const uint64_t, LiveBlock>>>;
  struct alignas(64) Shard {
    Spinlock lock;
    Map map;
  };
  static constexpr int kShards = 64;
  static constexpr uint64_t kFilterSlots = 1 << 18;
  static uint64_t FilterSlot(uint64_t address) {
    return ((address >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - 18);
  }
  Shard& ShardOf(uint64_t address) { return shards_[(address >> 4) % kShards]; }
  Shard shards_[kShards];
  std::atomic<uint32_t> filter_[kFilterSlots] = {};
};

class MappingTable {
 public:
  void Insert(uint64_t address, uint64_t length, uint32_t stack_id, uint16_t call);
  // Removes [address, address+length) from every recorded mapping; returns the bytes removed.
  uint64_t Remove(uint64_t address, uint64_t length);
  uint64_t live_bytes() const { return live_bytes_; }

  template <typename Fn>
  void ForEach(Fn fn) {
    SpinlockHolder hold(lock_);
    for (const auto& [address, m] : map_) fn(address, m);
  }

  Spinlock& lock() { return lock_; }
  void ResetInChild();

 private:
  uint64_t RemoveLocked(uint64_t address, uint64_t length);
  using Map = absl::btree_map<uint64_t, LiveBlock, std::less<uint64_t>,
                              RealAllocator<std::pair<const uint64_t, LiveBlock>>>;
  Spinlock lock_;
  Map map_;
  uint64_t live_bytes_ = 0;
};

}  // namespace allocwatch::preload
