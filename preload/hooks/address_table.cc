// preload/hooks/address_table.cc: see address_table.h.
#include "preload/hooks/address_table.h"

#include <sys/mman.h>

#include <algorithm>

#include "preload/format/record_format.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/record_writer.h"

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

void HeapTable::FlushLocked(Shard& s) {
  EventBuffer* b = s.events;
  if (b == nullptr || b->count == 0) return;
  format::EventsRecord r{};
  r.header = format::MakeHeader(format::RecordType::kEvents, sizeof(r) + b->used);
  r.base_time_ns = b->base_time;
  r.count = b->count;
  r.bytes = b->used;
  Chunk chunks[2] = {{&r, sizeof(r)}, {b->data, b->used}};
  Writer().AppendPadded(chunks, 2);
  b->count = 0;
  b->used = 0;
}

void HeapTable::AppendEventLocked(Shard& s, const format::Event& event) {
  EventBuffer* b = s.events;
  if (ALLOCWATCH_UNLIKELY(b == nullptr)) {
    void* p = Real().mmap(nullptr, sizeof(EventBuffer), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;  // counted as lost by nobody: the table still has the block
    b = s.events = static_cast<EventBuffer*>(p);
  }
  if (b->used + format::kMaxEventBytes > kEventBytes) FlushLocked(s);
  if (b->count == 0) {
    b->base_time = event.time_ns;
    b->codec = format::EventCodecState{event.time_ns, 0, 0, false};
  }
  uint8_t* end = format::EncodeEvent(b->codec, event, b->data + b->used);
  b->used = static_cast<uint32_t>(end - b->data);
  b->count += 1;
}

void HeapTable::FlushEvents() {
  for (Shard& s : shards_) {
    if (s.events == nullptr) continue;
    SpinlockHolder hold(s.lock);
    FlushLocked(s);
  }
}

void HeapTable::Insert(uint64_t address, const LiveBlock& block, const format::Event& event) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  AppendEventLocked(s, event);
  // The count goes up before the block is findable and down after it is gone, so MayContain
  // never answers "no" for a block that is in the table.
  if (s.map.insert_or_assign(address, block).second) {
    FilterAdd(g_heap_filter[FilterSlot(address)], 1);
  }
}

bool HeapTable::Remove(uint64_t address, LiveBlock* block, const format::Event& event) {
  Shard& s = ShardOf(address);
  SpinlockHolder hold(s.lock);
  auto it = s.map.find(address);
  if (it == s.map.end()) return false;
  *block = it->second;
  AppendEventLocked(s, event);
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
    if (s.events != nullptr) {  // the parent's events: the parent writes them
      s.events->count = 0;
      s.events->used = 0;
    }
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
