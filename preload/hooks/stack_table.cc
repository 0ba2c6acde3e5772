// preload/hooks/stack_table.cc: see stack_table.h.
#include "preload/hooks/stack_table.h"

#include <sys/mman.h>

#include <cstring>

#include "preload/hooks/module_map.h"

namespace allocwatch::preload {
namespace {
constexpr uint64_t kArenaChunk = 1 << 20;
}  // namespace

StackTable::StackTable() = default;

uint64_t StackTable::Hash(const uint64_t* ips, uint32_t depth) {
  uint64_t h = 0x84222325CBF29CE4ULL ^ depth;
  for (uint32_t i = 0; i < depth; ++i) {
    h ^= ips[i];
    h *= 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  return h;
}

uint64_t* StackTable::CopyToArena(const uint64_t* ips, uint32_t depth) {
  uint64_t bytes = uint64_t{depth} * sizeof(uint64_t);
  if (bytes > arena_left_) {
    void* chunk = Real().mmap(nullptr, kArenaChunk, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) return nullptr;
    arena_ = static_cast<char*>(chunk);
    arena_left_ = kArenaChunk;
  }
  auto* out = reinterpret_cast<uint64_t*>(arena_);
  if (bytes > 0) std::memcpy(out, ips, bytes);  // an empty stack may come with a null ips
  arena_ += bytes;
  arena_left_ -= bytes;
  return out;
}

namespace {

struct CacheEntry {
  uint64_t hash;
  const uint64_t* ips;  // the table's immutable copy
  uint32_t depth;
  uint32_t id;
};
constexpr uint32_t kCacheEntries = 512;
struct ThreadStackCache {
  uint64_t generation;
  CacheEntry entries[kCacheEntries];
};

}  // namespace

uint32_t StackTable::Intern(const uint64_t* ips, uint32_t depth, bool* is_new) {
  const uint64_t* stored = nullptr;
  const uint32_t module_generation = ModuleUnloadGeneration();
  return InternHashed(Key(ips, depth, module_generation), module_generation, ips, depth, is_new,
                      &stored);
}

uint64_t StackTable::Key(const uint64_t* ips, uint32_t depth, uint32_t module_generation) {
  // Stacks recorded after a module was unloaded get new ids: the same addresses may now belong
  // to another module.
  return Hash(ips, depth) ^ (uint64_t{module_generation} * 0xC2B2AE3D27D4EB4FULL);
}

uint32_t StackTable::InternCached(ThreadState& t, const uint64_t* ips, uint32_t depth,
                                  bool* is_new) {
  const uint32_t module_generation = ModuleUnloadGeneration();
  uint64_t key = Key(ips, depth, module_generation);
  auto* cache = static_cast<ThreadStackCache*>(t.stack_cache);
  if (ALLOCWATCH_UNLIKELY(cache == nullptr) && !t.retired) {
    void* p = Real().mmap(nullptr, sizeof(ThreadStackCache), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) t.stack_cache = cache = static_cast<ThreadStackCache*>(p);
  }
  // Valid while neither the table (fork child) nor the module map (unload) has changed.
  uint64_t generation = CacheGeneration(module_generation);
  CacheEntry* e = nullptr;
  if (cache != nullptr) {
    if (cache->generation != generation) {
      std::memset(cache->entries, 0, sizeof(cache->entries));
      cache->generation = generation;
    }
    e = &cache->entries[key % kCacheEntries];
    if (e->ips != nullptr && e->hash == key && e->depth == depth &&
        std::memcmp(e->ips, ips, depth * sizeof(uint64_t)) == 0) {
      *is_new = false;
      return e->id;
    }
  }
  const uint64_t* stored = nullptr;
  uint32_t id = InternHashed(key, module_generation, ips, depth, is_new, &stored);
  if (e != nullptr && id != 0) *e = CacheEntry{key, stored, depth, id};
  return id;
}

void StackTable::ReleaseThreadCache(ThreadState& t) {
  if (t.stack_cache == nullptr) return;
  Real().munmap(t.stack_cache, sizeof(ThreadStackCache));
  t.stack_cache = nullptr;
}

uint32_t StackTable::InternHashed(uint64_t key, uint32_t generation, const uint64_t* ips,
                                  uint32_t depth, bool* is_new, const uint64_t** stored) {
  *is_new = false;
  SpinlockHolder hold(lock_);
  // Open probing on the 64-bit key resolves the (rare) hash collisions exactly.
  for (;; ++key) {
    auto it = map_.find(key);
    if (it == map_.end()) break;
    const Entry& e = it->second;
    if (e.depth == depth && e.generation == generation &&
        (depth == 0 || std::memcmp(e.ips, ips, depth * sizeof(uint64_t)) == 0)) {
      *stored = e.ips;
      return e.id;
    }
  }
  if (!MakeRoomForOne(map_)) return 0;  // out of memory: the event goes without its stack
  const uint64_t* copy = CopyToArena(ips, depth);
  if (copy == nullptr) return 0;
  uint32_t id = next_id_++;
  map_.emplace(key, Entry{copy, depth, id, generation});
  *is_new = true;
  *stored = copy;
  return id;
}

void StackTable::ResetInChild() {
  lock_.ResetAfterFork();
  map_.clear();
  next_id_ = 1;
  __atomic_store_n(&generation_, generation_ + 1, __ATOMIC_RELEASE);
}

}  // namespace allocwatch::preload
