// preload/format/event_codec.h: the compact encoding of heap events inside an EventsRecord.
//
// Hook-safe. Header-only; shared by the writer (preload/) and the reader (report/).
//
// Each event starts with a tag byte: bits 0-2 the EventKind, bit 3 set when the thread is the
// same as the previous event's, bits 4-7 the Call (kMaxCall fits); then, when bit 3 is clear,
// the tid as an unsigned LEB128 varint. The fields that follow:
//   time delta (zigzag, ticks, from the previous event's time; the first from base_time_ns)
//   address delta (zigzag, from the previous event's address; the first from 0)
//   alloc kinds only: size, stack_id, sample_bytes (the period T of the sample; 1 = exact)
// Format version 3 gives each field in as few little-endian bytes as hold it, the
// lengths in front: one byte after the tid (bits 0-2: time bytes - 1, bits 3-5: address bytes
// - 1), and for alloc kinds one more before size (bits 0-2: size bytes - 1, bits 3-4: stack_id
// bytes - 1, bits 5-7: sample_bytes bytes - 1). Encoding takes no branch on the values.
// Version 5 (written now) uses the lengths byte's two top bits, zero before: bit 6 set means
// the time delta is 0 and not stored (bits 0-2 zero), bit 7 (alloc kinds only) that the sample
// period is 1, exact mode's, and not stored (the second lengths byte's bits 5-7 zero).
// Version 5 also has a short form for exact mode's commonest events, a free by free() or an
// allocation by malloc() with period 1, of the previous event's thread and time: tag bits 0-2
// = kShortEventTag, bit 3 set for the allocation, bits 4-6 the address bytes - 1, bit 7 zero;
// the address delta; for the allocation a byte (bits 0-2 size bytes - 1, bits 3-4 stack_id
// bytes - 1, the rest zero), the size and the stack_id.
// Version 2 wrote every field as an unsigned LEB128 varint instead; all are read.
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
// Bits of the lengths byte (version 5).
inline constexpr uint8_t kEventNoTime = 0x40;
inline constexpr uint8_t kEventExactSample = 0x80;
// The short form (version 5): its tag's bits 0-2, and its bit 3 for an allocation.
inline constexpr uint8_t kShortEventTag = 5;
inline constexpr uint8_t kShortEventAlloc = 0x08;
// The calls of the short form's events (record_format.h: Call::kMalloc, Call::kFree).
inline constexpr uint16_t kShortAllocCall = 1;
inline constexpr uint16_t kShortFreeCall = 10;
// The most an event takes in either version, plus the 7 bytes a version-3 encoder may write
// past the end of its last field (it stores whole 8-byte words).
inline constexpr uint32_t kMaxEventBytes = 1 + 5 + 10 + 10 + 10 + 5 + 10 + 7;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "version 3 events are stored little-endian");

inline bool IsAllocKind(EventKind k) {
  return k == EventKind::kAlloc || k == EventKind::kRestoredAlloc;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

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
  uint32_t version = 5;  // of the recording (decoding); encoders write version 5
};

// Bytes that hold v (1 to 8).
inline unsigned ByteLength(uint64_t v) {
  return (71u - static_cast<unsigned>(__builtin_clzll(v | 1))) >> 3;
}

// Stores the low `n` bytes of v at p (writes 8 bytes: the room must be there).
inline uint8_t* PutBytes(uint8_t* p, uint64_t v, unsigned n) {
  __builtin_memcpy(p, &v, 8);
  return p + n;
}

inline bool GetBytes(const uint8_t*& p, const uint8_t* end, unsigned n, uint64_t* out) {
  if (end - p >= 8) {  // one load of a whole word, masked to its n low bytes (n is 1 to 8)
    uint64_t word;
    __builtin_memcpy(&word, p, 8);
    *out = n >= 8 ? word : word & ((uint64_t{1} << (8 * n)) - 1);
    p += n;
    return true;
  }
  if (end - p < static_cast<long>(n)) return false;
  uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  p += n;
  *out = v;
  return true;
}

// Whether an event of this kind, call and period has a short form (version 5), given the
// previous event's thread and time.
inline bool ShortFormKind(EventKind kind, uint16_t call, uint64_t sample_bytes) {
  return (kind == EventKind::kFree && call == kShortFreeCall) ||
         (kind == EventKind::kAlloc && call == kShortAllocCall && sample_bytes == 1);
}

// Whether a version-3-or-later lengths byte is well formed: the top bits only from version 5,
// no time bits beside kEventNoTime, kEventExactSample only on an allocation.
inline bool LengthsValid(const EventCodecState& s, uint8_t lengths, bool alloc) {
  if ((lengths & 0xC0) == 0) return true;
  if (s.version < 5) return false;
  if ((lengths & kEventNoTime) != 0 && (lengths & 7) != 0) return false;
  return alloc || (lengths & kEventExactSample) == 0;
}

// The bytes an allocation's sample period takes, from its two lengths bytes (version 3 on):
// none when kEventExactSample says it is 1 (the second byte's bits 5-7 must then be zero);
// false when they disagree.
inline bool SampleBytesLength(uint8_t lengths, uint8_t alloc_lengths, unsigned* bytes) {
  if ((lengths & kEventExactSample) == 0) {
    *bytes = (alloc_lengths >> 5) + 1u;
    return true;
  }
  *bytes = 0;
  return (alloc_lengths >> 5) == 0;
}

// Writes `e` at `p` (at least kMaxEventBytes of room) in version 5 and returns the end.
// `short_kind`: ShortFormKind() of the event, which a caller that has its kind and call in
// registers computes from them (read back from the Event, the two fields make one wide load
// of two narrow stores, which stalls).
inline uint8_t* EncodeEvent(EventCodecState& s, const Event& e, uint8_t* p, bool short_kind) {
  bool same = s.have_tid && s.last_tid == e.tid;
  if (short_kind && same && e.time_ns == s.last_time) {
    uint64_t address = ZigZag(static_cast<int64_t>(e.address - s.last_address));
    unsigned address_bytes = ByteLength(address);
    bool alloc = e.kind == EventKind::kAlloc;
    *p++ = static_cast<uint8_t>(kShortEventTag | (alloc ? kShortEventAlloc : 0) |
                                ((address_bytes - 1) << 4));
    p = PutBytes(p, address, address_bytes);
    if (alloc) {
      unsigned size_bytes = ByteLength(e.size), stack_bytes = ByteLength(e.stack_id);
      *p++ = static_cast<uint8_t>((size_bytes - 1) | ((stack_bytes - 1) << 3));
      p = PutBytes(p, e.size, size_bytes);
      p = PutBytes(p, e.stack_id, stack_bytes);
    }
    s.last_address = e.address;
    return p;
  }
  *p++ = static_cast<uint8_t>(static_cast<uint8_t>(e.kind) | (same ? kEventSameThread : 0) |
                              ((e.call & 0x0f) << 4));
  if (!same) p = PutVarint(p, e.tid);
  uint64_t time = ZigZag(static_cast<int64_t>(e.time_ns - s.last_time));
  uint64_t address = ZigZag(static_cast<int64_t>(e.address - s.last_address));
  unsigned time_bytes = ByteLength(time), address_bytes = ByteLength(address);
  // A time delta of 0 takes no byte (conditional moves, not branches).
  unsigned time_lengths = time == 0 ? kEventNoTime : time_bytes - 1;
  time_bytes = time == 0 ? 0 : time_bytes;
  uint8_t* lengths = p++;
  unsigned first = time_lengths | ((address_bytes - 1) << 3);
  p = PutBytes(p, time, time_bytes);
  p = PutBytes(p, address, address_bytes);
  if (IsAllocKind(e.kind)) {
    unsigned size_bytes = ByteLength(e.size), stack_bytes = ByteLength(e.stack_id);
    bool exact = e.sample_bytes == 1;
    unsigned sample_bytes = exact ? 0 : ByteLength(e.sample_bytes);
    first |= exact ? kEventExactSample : 0;
    *p++ = static_cast<uint8_t>((size_bytes - 1) | ((stack_bytes - 1) << 3) |
                                ((exact ? 0 : sample_bytes - 1) << 5));
    p = PutBytes(p, e.size, size_bytes);
    p = PutBytes(p, e.stack_id, stack_bytes);
    p = PutBytes(p, e.sample_bytes, sample_bytes);
  }
  *lengths = static_cast<uint8_t>(first);
  s.last_time = e.time_ns;
  s.last_address = e.address;
  s.last_tid = e.tid;
  s.have_tid = true;
  return p;
}

inline uint8_t* EncodeEvent(EventCodecState& s, const Event& e, uint8_t* p) {
  return EncodeEvent(s, e, p, ShortFormKind(e.kind, e.call, e.sample_bytes));
}

// The short form after its tag (version 5): the address, and for an allocation its size and
// stack; the thread and time are the previous event's.
[[gnu::always_inline]] inline bool DecodeShortEvent(EventCodecState& s, uint8_t tag,
                                                    const uint8_t*& p, const uint8_t* end,
                                                    Event* e) {
  if (s.version < 5 || !s.have_tid || (tag & 0x80) != 0) return false;
  bool alloc = (tag & kShortEventAlloc) != 0;
  uint64_t address = 0, v = 0;
  if (!GetBytes(p, end, ((tag >> 4) & 7) + 1u, &address)) return false;
  e->kind = alloc ? EventKind::kAlloc : EventKind::kFree;
  e->call = alloc ? kShortAllocCall : kShortFreeCall;
  e->tid = s.last_tid;
  e->time_ns = s.last_time;
  e->size = 0;
  e->stack_id = 0;
  e->sample_bytes = 0;
  if (alloc) {
    if (p == end) return false;
    uint8_t lengths = *p++;
    if ((lengths & 0xE0) != 0 || !GetBytes(p, end, (lengths & 7) + 1u, &e->size) ||
        !GetBytes(p, end, ((lengths >> 3) & 3) + 1u, &v)) {
      return false;
    }
    e->stack_id = static_cast<uint32_t>(v);
    e->sample_bytes = 1;
  }
  e->address = s.last_address + static_cast<uint64_t>(UnZigZag(address));
  s.last_address = e->address;
  return true;
}

// Reads one event; false on malformed input (unknown kind, truncated, out-of-range values).
[[gnu::always_inline]] inline bool DecodeEvent(EventCodecState& s, const uint8_t*& p,
                                               const uint8_t* end, Event* e) {
  if (p == end) return false;
  uint8_t tag = *p++;
  uint8_t kind = tag & 0x07;
  if (kind == kShortEventTag) return DecodeShortEvent(s, tag, p, end, e);
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
  uint64_t time = 0, address = 0;
  e->size = 0;
  e->stack_id = 0;
  e->sample_bytes = 0;
  if (s.version >= 3) {
    if (p == end) return false;
    uint8_t lengths = *p++;
    if (!LengthsValid(s, lengths, IsAllocKind(e->kind))) return false;
    if ((lengths & kEventNoTime) == 0 && !GetBytes(p, end, (lengths & 7) + 1u, &time)) {
      return false;
    }
    if (!GetBytes(p, end, ((lengths >> 3) & 7) + 1u, &address)) return false;
    if (IsAllocKind(e->kind)) {
      if (p == end) return false;
      uint8_t alloc_lengths = *p++;
      unsigned sample_bytes = 0;
      if (!SampleBytesLength(lengths, alloc_lengths, &sample_bytes) ||
          !GetBytes(p, end, (alloc_lengths & 7) + 1u, &e->size) ||
          !GetBytes(p, end, ((alloc_lengths >> 3) & 3) + 1u, &v)) {
        return false;
      }
      if (sample_bytes == 0) {
        e->sample_bytes = 1;
      } else if (!GetBytes(p, end, sample_bytes, &e->sample_bytes)) {
        return false;
      }
      e->stack_id = static_cast<uint32_t>(v);
    }
  } else {
    if (!GetVarint(p, end, &time) || !GetVarint(p, end, &address)) return false;
    if (IsAllocKind(e->kind)) {
      if (!GetVarint(p, end, &e->size)) return false;
      if (!GetVarint(p, end, &v) || v > UINT32_MAX) return false;
      e->stack_id = static_cast<uint32_t>(v);
      if (!GetVarint(p, end, &e->sample_bytes)) return false;
    }
  }
  e->time_ns = s.last_time + static_cast<uint64_t>(UnZigZag(time));
  e->address = s.last_address + static_cast<uint64_t>(UnZigZag(address));
  s.last_time = e->time_ns;
  s.last_address = e->address;
  s.last_tid = e->tid;
  s.have_tid = true;
  return true;
}

// DecodeEvent, and a call in 1..max_call: an event a reader accepts.
[[gnu::always_inline]] inline bool DecodeValidEvent(EventCodecState& s, const uint8_t*& p,
                                                    const uint8_t* end, uint16_t max_call,
                                                    Event* e) {
  return DecodeEvent(s, p, end, e) && e->call != 0 && e->call <= max_call;
}

// Steps over one event as DecodeEvent would read it, with the same checks (and a call in
// 1..kMaxCall), keeping only its time (ticks) and the state; cheaper than a decode.
inline bool SkipEvent(EventCodecState& s, const uint8_t*& p, const uint8_t* end, uint16_t max_call,
                      uint64_t* time_ns) {
  if (s.version < 3 || end - p < 2) {
    Event e{};
    if (!DecodeValidEvent(s, p, end, max_call, &e)) return false;
    *time_ns = e.time_ns;
    return true;
  }
  uint8_t tag = *p++;
  uint8_t kind = tag & 0x07;
  if (kind == kShortEventTag) {
    Event e;
    if (!DecodeShortEvent(s, tag, p, end, &e)) return false;
    *time_ns = s.last_time;
    return true;
  }
  unsigned call = tag >> 4;
  if (kind < 1 || kind > 4 || call == 0 || call > max_call) return false;
  uint64_t v = 0;
  if ((tag & kEventSameThread) != 0) {
    if (!s.have_tid) return false;
  } else {
    if (!GetVarint(p, end, &v) || v > UINT32_MAX) return false;
    s.last_tid = static_cast<uint32_t>(v);
  }
  if (p == end) return false;
  uint8_t lengths = *p++;
  bool alloc = IsAllocKind(static_cast<EventKind>(kind));
  if (!LengthsValid(s, lengths, alloc)) return false;
  uint64_t time = 0, address = 0;
  if ((lengths & kEventNoTime) == 0 && !GetBytes(p, end, (lengths & 7) + 1u, &time)) return false;
  if (!GetBytes(p, end, ((lengths >> 3) & 7) + 1u, &address)) return false;
  if (alloc) {  // size, stack and period: not needed here
    if (p == end) return false;
    uint8_t alloc_lengths = *p++;
    unsigned sample_bytes = 0;
    if (!SampleBytesLength(lengths, alloc_lengths, &sample_bytes)) return false;
    long skip = (alloc_lengths & 7) + 1 + ((alloc_lengths >> 3) & 3) + 1 + long{sample_bytes};
    if (end - p < skip) return false;
    p += skip;
  }
  s.last_time += static_cast<uint64_t>(UnZigZag(time));
  s.last_address += static_cast<uint64_t>(UnZigZag(address));
  s.have_tid = true;
  *time_ns = s.last_time;
  return true;
}

}  // namespace allocwatch::format
