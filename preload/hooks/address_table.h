// preload/hooks/address_table.h: the sampled allocations that are still live (default mode;
// exact mode records every block and needs no table).
//
// Hook-safe. Thread-safe. Heap blocks live in 128 shards, each a flat_hash_map under its own
// spinlock. The shard is chosen by the 64 MiB region of the address: glibc gives each thread's
// arena its own 64 MiB heaps, so threads mostly use different shards and do not meet.
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
  uint16_t kind = 0;  // mappings: kMapping* bits
};

// LiveBlock::kind of a mapping. A mapping is weighed as memory by its class (MappingClassOf):
// inaccessible ranges (PROT_NONE) are reserved address space and hold no memory.
inline constexpr uint16_t kMappingFile = 1;      // backed by a file (not MAP_ANONYMOUS)
inline constexpr uint16_t kMappingShared = 2;    // MAP_SHARED
inline constexpr uint16_t kMappingReserved = 4;  // inaccessible now (PROT_NONE)
enum MappingClass { kMappedAnon, kMappedFile, kMappedShared, kMappedReserved, kMappingClasses };
inline MappingClass MappingClassOf(uint16_t kind) {
  if (kind & kMappingReserved) return kMappedReserved;
  if (kind & kMappingFile) return kMappedFile;
  if (kind & kMappingShared) return kMappedShared;
  return kMappedAnon;
}

class HeapTable {
 public:
  // False (nothing inserted) when the table could not grow: the process is out of memory.
  bool Insert(uint64_t address, const LiveBlock& block);
  // Removes the block; returns false when the address was never recorded.
  bool Remove(uint64_t address, LiveBlock* block);

  // False only if the address is certainly not in the table: one load from a bitmap (256 KiB,
  // one bit per 64-byte granule of address space, wrapping every 128 MiB) that only recorded
  // allocations and their frees write, so free() of an unsampled block takes no lock and writes
  // nothing shared. A program's hot heap lines map to few bitmap lines (one 64-byte line of the
  // bitmap covers 32 KiB of heap), so the check rarely misses the cache. Granules shared by
  // several recorded blocks are counted apart (kept with the bitmap under one lock, by the
  // recorded calls only); a count that reaches 255 stays there (the bit stays set).
  ALLOCWATCH_ALWAYS_INLINE static bool MayContain(uint64_t address) {
    uint64_t slot = FilterSlot(address);
    return (g_heap_bits[slot / 64].load(std::memory_order_acquire) >> (slot % 64)) & 1;
  }
  static constexpr uint64_t kFilterSlots = uint64_t{1} << 21;
  static uint64_t FilterSlot(uint64_t address) { return (address >> 6) & (kFilterSlots - 1); }
  ALLOCWATCH_HIDDEN static std::atomic<uint64_t> g_heap_bits[kFilterSlots / 64];

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
  using Map =
      absl::flat_hash_map<uint64_t, LiveBlock, absl::Hash<uint64_t>, std::equal_to<uint64_t>,
                          RealAllocator<std::pair<const uint64_t, LiveBlock>>>;
  struct alignas(64) Shard {
    Spinlock lock;
    Map map;
  };
  static constexpr int kShardBits = 7;
  static constexpr int kShards = 1 << kShardBits;
  Shard& ShardOf(uint64_t address) {
    return shards_[((address >> 26) * 0x9E3779B97F4A7C15ULL) >> (64 - kShardBits)];
  }
  Shard shards_[kShards];
};

class MappingTable {
 public:
  // False (nothing inserted) when the table could not grow: the process is out of memory.
  bool Insert(uint64_t address, uint64_t length, uint32_t stack_id, uint16_t call,
              uint16_t kind = 0);
  // Removes [address, address+length) from every recorded mapping; returns the bytes removed.
  // `first_kind`, when given, gets the kind of the recorded range at `address` (unchanged when
  // none starts or covers it there).
  uint64_t Remove(uint64_t address, uint64_t length, uint16_t* first_kind = nullptr);
  // Bytes of [address, address+length) in recorded mappings that are not yet `accessible`.
  uint64_t Unlike(uint64_t address, uint64_t length, bool accessible);
  // Makes the recorded ranges in [address, address+length) accessible or not (mprotect); the
  // ranges made accessible are charged to `stack_id`. Returns the bytes that changed.
  uint64_t Protect(uint64_t address, uint64_t length, bool accessible, uint32_t stack_id);
  // Accessible bytes (every class but kMappedReserved), and the bytes of one class.
  uint64_t live_bytes() const {
    return bytes_[kMappedAnon] + bytes_[kMappedFile] + bytes_[kMappedShared];
  }
  uint64_t bytes(MappingClass c) const { return bytes_[c]; }

  template <typename Fn>
  void ForEach(Fn fn) {
    SpinlockHolder hold(lock_);
    for (const auto& [address, m] : map_) fn(address, m);
  }

  Spinlock& lock() { return lock_; }
  void ResetInChild();

 private:
  using Map = absl::btree_map<uint64_t, LiveBlock, std::less<uint64_t>,
                              RealAllocator<std::pair<const uint64_t, LiveBlock>>>;
  uint64_t RemoveLocked(uint64_t address, uint64_t length, uint16_t* first_kind);
  // The first recorded range that ends after `address`.
  Map::iterator FirstEndingAfter(uint64_t address);
  void Count(const LiveBlock& m, int64_t sign) {
    bytes_[MappingClassOf(m.kind)] += static_cast<uint64_t>(sign) * m.size;
  }
  Spinlock lock_;
  Map map_;
  uint64_t bytes_[kMappingClasses] = {};
};

}  // namespace allocwatch::preload
