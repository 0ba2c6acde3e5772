// preload/hooks/address_table.cc: see address_table.h.
#include "preload/hooks/address_table.h"

#include <algorithm>

namespace allocwatch::preload {

constinit std::atomic<uint8_t> HeapTable::g_heap_filter[HeapTable::kFilterSlots] = {};

namespace {

void FilterAdd(std::atomic<uint8_t>& slot, int delta) {
  uint8_t v = slot.load(std::memory_order_relaxed);
  while (v != 255 && !slot.compare_exchange_weak(v, static_cast<uint8_t>(v + delta),
                                                 std::memory_order_acq_rel)) {
  }
}

}  // namespace

void HeapTable::Insert(uint64_t address, const LiveBlock& block) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  // The count goes up before the block is findable and down after it is gone, so MayContain
  // never answers "no" for a block that is in the table.
  if (s.map.insert_or_assign(address, block).second) {
    FilterAdd(g_heap_filter[FilterSlot(address)], 1);
  }
}

bool HeapTable::Remove(uint64_t address, LiveBlock* block) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  auto it = s.map.find(address);
  if (it == s.map.end()) return false;
  *block = it->second;
  s.map.erase(it);
  FilterAdd(g_heap_filter[FilterSlot(address)], -1);
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
  for (auto& slot : g_heap_filter) slot.store(0, std::memory_order_relaxed);
}

void MappingTable::Insert(uint64_t address, uint64_t length, uint32_t stack_id, uint16_t call) {
  SpinlockHolder hold(lock_);
  RemoveLocked(address, length);  // MAP_FIXED replaces what was there
  map_.insert_or_assign(address, LiveBlock{length, stack_id, call});
  live_bytes_ += length;
}

uint64_t MappingTable::Remove(uint64_t address, uint64_t length) {
  SpinlockHolder hold(lock_);
  return RemoveLocked(address, length);
}

uint64_t MappingTable::RemoveLocked(uint64_t address, uint64_t length) {
  const uint64_t end = address + length;
  uint64_t removed = 0;
  auto it = map_.upper_bound(address);
  if (it != map_.begin()) --it;
  while (it != map_.end() && it->first < end) {
    const uint64_t m_start = it->first;
    const LiveBlock m = it->second;
    const uint64_t m_end = m_start + m.size;
    if (m_end <= address) {
      ++it;
      continue;
    }
    it = map_.erase(it);
    const uint64_t cut_start = std::max(m_start, address);
    const uint64_t cut_end = std::min(m_end, end);
    removed += cut_end - cut_start;
    if (m_start < cut_start) map_.insert_or_assign(m_start, LiveBlock{cut_start - m_start, m.stack_id, m.call});
    if (cut_end < m_end) {
      map_.insert_or_assign(cut_end, LiveBlock{m_end - cut_end, m.stack_id, m.call});
      break;
    }
    it = map_.lower_bound(cut_end);
  }
  live_bytes_ -= removed;
  return removed;
}

void MappingTable::ResetInChild() {
  lock_.ResetAfterFork();
  map_.clear();
  live_bytes_ = 0;
}

}  // namespace allocwatch::preload
