// preload/hooks/stack_table.cc: see stack_table.h.
#include "preload/hooks/stack_table.h"

#include <sys/mman.h>

#include <cstring>

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

uint32_t StackTable::Intern(const uint64_t* ips, uint32_t depth, bool* is_new) {
  *is_new = false;
  uint64_t key = Hash(ips, depth);
  SpinlockHolder hold(lock_);
  // Open probing on the 64-bit key resolves the (rare) hash collisions exactly.
  for (;; ++key) {
    auto it = map_.find(key);
    if (it == map_.end()) break;
    const Entry& e = it->second;
    if (e.depth != depth) continue;
    if (depth == 0 || std::memcmp(e.ips, ips, depth * sizeof(uint64_t)) == 0) return e.id;
  }
  const uint64_t* copy = CopyToArena(ips, depth);
  if (copy == nullptr) return 0;
  uint32_t id = next_id_++;
  map_.emplace(key, Entry{copy, depth, id});
  *is_new = true;
  return id;
}

void StackTable::ResetInChild() {
  lock_.ResetAfterFork();
  map_.clear();
  next_id_ = 1;
}

}  // namespace allocwatch::preload
