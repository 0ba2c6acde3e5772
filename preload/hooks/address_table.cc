// preload/hooks/address_table.cc: see address_table.h.
#include "preload/hooks/address_table.h"

#include <sys/mman.h>

#include <algorithm>

#include "preload/hooks/real_functions.h"

namespace allocwatch::preload {

constinit std::atomic<uint64_t> HeapTable::g_heap_bits[HeapTable::kFilterSlots / 64] = {};

namespace {

// How many recorded blocks start in each granule; with the bitmap, under g_filter_lock. Mapped
// at the first recorded block (2 MiB of address space; only the pages used become memory).
constinit uint8_t* g_filter_counts = nullptr;
constinit bool g_filter_counts_failed = false;
constinit Spinlock g_filter_lock;
constexpr uint64_t kCountBytes = HeapTable::kFilterSlots;

void FilterAdd(uint64_t address, int delta) {
  uint64_t slot = HeapTable::FilterSlot(address);
  uint64_t bit = uint64_t{1} << (slot % 64);
  SpinlockHolder hold(g_filter_lock);
  if (g_filter_counts == nullptr && !g_filter_counts_failed) {
    void* p = Real().mmap(nullptr, kCountBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
    if (p == MAP_FAILED) {
      g_filter_counts_failed = true;
    } else {
      g_filter_counts = static_cast<uint8_t*>(p);
    }
  }
  if (g_filter_counts == nullptr) {  // no counts: a bit once set stays set ("maybe")
    HeapTable::g_heap_bits[slot / 64].fetch_or(bit, std::memory_order_release);
    return;
  }
  uint8_t& count = g_filter_counts[slot];
  if (count == 255) return;
  count = static_cast<uint8_t>(count + delta);
  if (delta > 0 && count == 1) {
    HeapTable::g_heap_bits[slot / 64].fetch_or(bit, std::memory_order_release);
  } else if (delta < 0 && count == 0) {
    HeapTable::g_heap_bits[slot / 64].fetch_and(~bit, std::memory_order_release);
  }
}

}  // namespace

bool HeapTable::Insert(uint64_t address, const LiveBlock& block) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  if (!s.map.contains(address) && !MakeRoomForOne(s.map)) return false;
  // The count goes up before the block is findable and down after it is gone, so MayContain
  // never answers "no" for a block that is in the table.
  if (s.map.insert_or_assign(address, block).second) {
    FilterAdd(address, 1);
  }
  return true;
}

bool HeapTable::Remove(uint64_t address, LiveBlock* block) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  auto it = s.map.find(address);
  if (it == s.map.end()) return false;
  *block = it->second;
  s.map.erase(it);
  FilterAdd(address, -1);
  return true;
}

void HeapTable::LockAll() {
  for (Shard& s : shards_) s.lock.Lock();
}

void HeapTable::UnlockAll() {
  for (Shard& s : shards_) s.lock.Unlock();
}

void HeapTable::ResetInChild() {
  for (Shard& s : shards_) {
    s.lock.ResetAfterFork();
    s.map.clear();
  }
  g_filter_lock.ResetAfterFork();
  for (auto& word : g_heap_bits) {  // reads every line, writes (copies) only the set ones
    if (word.load(std::memory_order_relaxed) != 0) word.store(0, std::memory_order_relaxed);
  }
  if (g_filter_counts != nullptr) Real().madvise(g_filter_counts, kCountBytes, MADV_DONTNEED);
}

bool MappingTable::Insert(uint64_t address, uint64_t length, uint32_t stack_id, uint16_t call,
                          uint16_t kind) {
  SpinlockHolder hold(lock_);
  RemoveLocked(address, length, nullptr);  // MAP_FIXED replaces what was there
  if (!TableMemoryAvailable()) return false;
  LiveBlock m{length, stack_id, call, kind};
  map_.insert_or_assign(address, m);
  Count(m, 1);
  return true;
}

uint64_t MappingTable::Remove(uint64_t address, uint64_t length, uint16_t* first_kind) {
  SpinlockHolder hold(lock_);
  return RemoveLocked(address, length, first_kind);
}

MappingTable::Map::iterator MappingTable::FirstEndingAfter(uint64_t address) {
  auto it = map_.upper_bound(address);
  if (it != map_.begin()) {
    auto before = std::prev(it);
    if (before->first + before->second.size > address) return before;
  }
  return it;
}

uint64_t MappingTable::RemoveLocked(uint64_t address, uint64_t length, uint16_t* first_kind) {
  const uint64_t end = address + length;
  uint64_t removed = 0;
  auto it = FirstEndingAfter(address);
  if (first_kind != nullptr && it != map_.end() && it->first <= address) {
    *first_kind = it->second.kind;
  }
  while (it != map_.end() && it->first < end) {
    const uint64_t m_start = it->first;
    const LiveBlock m = it->second;
    const uint64_t m_end = m_start + m.size;
    it = map_.erase(it);
    Count(m, -1);
    const uint64_t cut_start = std::max(m_start, address);
    const uint64_t cut_end = std::min(m_end, end);
    removed += cut_end - cut_start;
    // The pieces left on either side stay recorded while memory for their nodes can be had;
    // otherwise they are forgotten (counted as removed: the live figures stay consistent).
    const bool keep = TableCanAllocateSmall();
    if (m_start < cut_start) {
      if (keep) {
        LiveBlock piece{cut_start - m_start, m.stack_id, m.call, m.kind};
        map_.insert_or_assign(m_start, piece);
        Count(piece, 1);
      } else {
        removed += cut_start - m_start;
      }
    }
    if (cut_end < m_end) {
      if (keep) {
        LiveBlock piece{m_end - cut_end, m.stack_id, m.call, m.kind};
        map_.insert_or_assign(cut_end, piece);
        Count(piece, 1);
      } else {
        removed += m_end - cut_end;
      }
      break;
    }
    it = map_.lower_bound(cut_end);
  }
  return removed;
}

uint64_t MappingTable::Unlike(uint64_t address, uint64_t length, bool accessible) {
  SpinlockHolder hold(lock_);
  const uint64_t end = address + length;
  uint64_t unlike = 0;
  for (auto it = FirstEndingAfter(address); it != map_.end() && it->first < end; ++it) {
    bool reserved = (it->second.kind & kMappingReserved) != 0;
    if (reserved != accessible) continue;
    uint64_t m_end = it->first + it->second.size;
    unlike += std::min(m_end, end) - std::max(it->first, address);
  }
  return unlike;
}

uint64_t MappingTable::Protect(uint64_t address, uint64_t length, bool accessible,
                               uint32_t stack_id) {
  SpinlockHolder hold(lock_);
  const uint64_t end = address + length;
  uint64_t changed = 0;
  auto it = FirstEndingAfter(address);
  while (it != map_.end() && it->first < end) {
    const uint64_t m_start = it->first;
    const LiveBlock m = it->second;
    const uint64_t m_end = m_start + m.size;
    const bool reserved = (m.kind & kMappingReserved) != 0;
    if (reserved != accessible) {
      it = map_.upper_bound(m_start);
      continue;
    }
    // Up to three pieces replace it: before, changed, after. Without memory for their nodes the
    // range keeps its state (the figures stay consistent, only less exact).
    if (!TableCanAllocateSmall()) break;
    const uint64_t cut_start = std::max(m_start, address);
    const uint64_t cut_end = std::min(m_end, end);
    map_.erase(it);
    Count(m, -1);
    if (m_start < cut_start) {
      LiveBlock piece{cut_start - m_start, m.stack_id, m.call, m.kind};
      map_.insert_or_assign(m_start, piece);
      Count(piece, 1);
    }
    LiveBlock now{
        cut_end - cut_start, accessible && stack_id != 0 ? stack_id : m.stack_id, m.call,
        static_cast<uint16_t>(accessible ? m.kind & ~kMappingReserved : m.kind | kMappingReserved)};
    map_.insert_or_assign(cut_start, now);
    Count(now, 1);
    changed += now.size;
    if (cut_end < m_end) {
      LiveBlock piece{m_end - cut_end, m.stack_id, m.call, m.kind};
      map_.insert_or_assign(cut_end, piece);
      Count(piece, 1);
      break;
    }
    it = map_.lower_bound(cut_end);
  }
  return changed;
}

void MappingTable::ResetInChild() {
  lock_.ResetAfterFork();
  map_.clear();
  for (uint64_t& b : bytes_) b = 0;
}

}  // namespace allocwatch::preload
