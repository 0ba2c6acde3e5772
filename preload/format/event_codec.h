// preload/format/event_codec.h: the compact encoding of heap events inside an EventsRecord.
//
// Hook-safe. Header-only; shared by the writer (preload/) and the reader (report/).
//
// Each event starts with a tag byte: bits 0-2 the EventKind, bit 3 set when the thread is the
// same as the previous event's, bits 4-7 the Call (kMaxCall fits). Then unsigned LEB128 varints:
//   [tid, when bit 3 is clear]
//   time delta (zigzag, ns, from the previous event's time; the first from base_time_ns)
//   address delta (zigzag, from the previous event's address; the first from 0)
//   alloc kinds only: size, stack_id, sample_bytes (the period T of the sample; 1 = exact)
#pragma once

#include <cstdint>

namespace allocwatch::format {

enum class EventKind : uint8_t {
  kAlloc = 1,
  kFree = 2,
  kReallocFree = 3,    // freed by realloc; the new block follows (FreeRecord kFreeFlagRealloc)
  kRestoredAlloc = 4,  // a failed realloc left the block in place (AllocRecord kAllocFlagRestored)
};
inline constexpr uint8_t kEventSameThread = 0x08;
inline constexpr uint32_t kMaxEventBytes = 1 + 5 + 10 + 10 + 10 + 5 + 10;

inline bool IsAllocKind(EventKind k) { return k == EventKind::kAlloc || k == EventKind::kRestoredAlloc; }

inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

inline uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  // Most values of an event take one or two bytes: those need no loop.
  if (v < 0x80) {
    *p = static_cast<uint8_t>(v);
    return p + 1;
  }
  if (v < 0x4000) {
    p[0] = static_cast<uint8_t>(v | 0x80);
    p[1] = static_cast<uint8_t>(v >> 7);
    return p + 2;
  }
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// False on a truncated or over-long varint.
inline bool GetVarint(const uint8_t*& p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// One decoded (or to-be-encoded) event.
struct Event {
  EventKind kind;
  uint16_t call;
  uint32_t tid;
  uint64_t time_ns;
  uint64_t address;
  uint64_t size;          // alloc kinds
  uint32_t stack_id;      // alloc kinds
  uint64_t sample_bytes;  // alloc kinds
};

// The running state of an encoder or decoder over one EventsRecord body.
struct EventCodecState {
  uint64_t last_time = 0;
  uint64_t last_address = 0;
  uint32_t last_tid = 0;
  bool have_tid = false;
};

// Writes `e` at `p` (at least kMaxEventBytes of room) and returns the end.
inline uint8_t* EncodeEvent(EventCodecState& s, const Event& e, uint8_t* p) {
  bool same = s.have_tid && s.last_tid == e.tid;
  *p++ = static_cast<uint8_t>(static_cast<uint8_t>(e.kind) | (same ? kEventSameThread : 0) |
                              ((e.call & 0x0f) << 4));
  if (!same) p = PutVarint(p, e.tid);
  p = PutVarint(p, ZigZag(static_cast<int64_t>(e.time_ns - s.last_time)));
  p = PutVarint(p, ZigZag(static_cast<int64_t>(e.address - s.last_address)));
  if (IsAllocKind(e.kind)) {
    p = PutVarint(p, e.size);
    p = PutVarint(p, e.stack_id);
    p = PutVarint(p, e.sample_bytes);
  }
  s.last_time = e.time_ns;
  s.last_address = e.address;
  s.last_tid = e.tid;
  s.have_tid = true;
  return p;
}

// Reads one event; false on malformed input (unknown kind, truncated, out-of-range values).
inline bool DecodeEvent(EventCodecState& s, const uint8_t*& p, const uint8_t* end, Event* e) {
  if (p == end) return false;
  uint8_t tag = *p++;
  uint8_t kind = tag & 0x07;
  if (kind < 1 || kind > 4) return false;
  e->kind = static_cast<EventKind>(kind);
  e->call = static_cast<uint16_t>(tag >> 4);
  uint64_t v = 0;
  if ((tag & kEventSameThread) != 0) {
    if (!s.have_tid) return false;
    e->tid = s.last_tid;
  } else {
    if (!GetVarint(p, end, &v) || v > UINT32_MAX) return false;
    e->tid = static_cast<uint32_t>(v);
  }
  if (!GetVarint(p, end, &v)) return false;
  e->time_ns = s.last_time + static_cast<uint64_t>(UnZigZag(v));
  if (!GetVarint(p, end, &v)) return false;
  e->address = s.last_address + static_cast<uint64_t>(UnZigZag(v));
  e->size = 0;
  e->stack_id = 0;
  e->sample_bytes = 0;
  if (IsAllocKind(e->kind)) {
    if (!GetVarint(p, end, &e->size)) return false;
    if (!GetVarint(p, end, &v) || v > UINT32_MAX) return false;
    e->stack_id = static_cast<uint32_t>(v);
    if (!GetVarint(p, end, &e->sample_bytes)) return false;
  }
  s.last_time = e->time_ns;
  s.last_address = e->address;
  s.last_tid = e->tid;
  s.have_tid = true;
  return true;
}

}  // namespace allocwatch::format
