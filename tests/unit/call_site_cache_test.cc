// tests/unit/call_site_cache_test.cc: stacks taken from the per-thread call-site cache are the
// stacks an unwind gives, and another path to the same call site is never taken for a hit.
#include "preload/hooks/call_site_cache.h"

#include <alloca.h>
#include <pthread.h>

#include <catch2/catch.hpp>
#include <cstdint>

#include "preload/hooks/recorder_state.h"
#include "preload/hooks/stack_bounds.h"
#include "preload/hooks/thread_start.h"

namespace aw = allocwatch::preload;

namespace {

// Stands for the hooks' slow path: takes the stack of its caller's call site.
__attribute__((noinline)) uint32_t Site() {
  uint32_t id = aw::CallSiteStack(aw::CurrentThread(), ALLOCWATCH_CALL_SITE());
  asm volatile("" ::: "memory");  // keeps the call above from becoming a tail call
  return id;
}

// Two callers of one function with the same frame size: the call site and its stack pointer
// are the same for both; only the return address one frame up differs.
__attribute__((noinline)) uint32_t Middle() {
  uint32_t id = Site();
  asm volatile("" ::: "memory");
  return id;
}
__attribute__((noinline)) uint32_t ViaA() {
  uint32_t id = Middle();
  asm volatile("" ::: "memory");
  return id;
}
__attribute__((noinline)) uint32_t ViaB() {
  uint32_t id = Middle();
  asm volatile("" ::: "memory");
  return id + 0;
}

// A frame whose size varies: the frames below it move.
__attribute__((noinline)) uint32_t WithAlloca(size_t n) {
  volatile char* p = static_cast<char*>(alloca(n));
  p[0] = 1;
  uint32_t id = Middle();
  asm volatile("" ::: "memory");
  return id;
}

// Calls every function of `fns` in turn, `rounds` times, from one call site.
__attribute__((noinline)) void CallEach(uint32_t (*const* fns)(), int count, int rounds,
                                        uint32_t* out) {
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < count; ++i) out[r * count + i] = fns[i]();
  }
  asm volatile("" ::: "memory");
}

// WithAlloca for each size in turn, from one call site.
__attribute__((noinline)) void AllocaEach(const size_t* sizes, int count, uint32_t* out) {
  for (int i = 0; i < count; ++i) out[i] = WithAlloca(sizes[i]);
  asm volatile("" ::: "memory");
}

struct Recorder {
  Recorder() {
    // Unit tests link the preload core without starting a recording: no own code range, so
    // every frame is kept.
    if (aw::g_recorder.stacks.get() == nullptr) aw::g_recorder.stacks.Construct();
    // The library learns them at start-up; without them nothing is cached.
    if (aw::CurrentThread().stack_high == 0) aw::LearnStackBounds(aw::CurrentThread());
  }
};

}  // namespace

TEST_CASE("call-site cache never takes another path to the same call site for a hit",
          "[call_site_cache]") {
  Recorder recorder;
  aw::ThreadState& t = aw::CurrentThread();
  aw::CallSiteCacheStats before = aw::CallSiteCacheCounts(t);
  // ViaA and ViaB reach Site through Middle at the same depth: the call site and its stack
  // pointer are the same; only ViaA's or ViaB's return address, two frames up, differs.
  uint32_t (*const fns[2])() = {ViaA, ViaB};
  uint32_t ids[2 * 50];
  CallEach(fns, 2, 50, ids);
  CHECK(ids[0] != 0);
  CHECK(ids[1] != 0);
  CHECK(ids[0] != ids[1]);
  for (int r = 1; r < 50; ++r) {
    REQUIRE(ids[2 * r] == ids[0]);
    REQUIRE(ids[2 * r + 1] == ids[1]);
  }
  aw::CallSiteCacheStats after = aw::CallSiteCacheCounts(t);
  // Both paths have the same key: each is unwound once and kept in its own way of the key's set;
  // every later lookup checks the slots of the entries with that key and takes the one that
  // matches (never the other path's, as checked above).
  CHECK(after.misses - before.misses == 2);
  CHECK(after.hits - before.hits == 98);
}

TEST_CASE("call-site cache answers repeated calls without unwinding", "[call_site_cache]") {
  Recorder recorder;
  aw::ThreadState& t = aw::CurrentThread();
  aw::CallSiteCacheStats before = aw::CallSiteCacheCounts(t);
  uint32_t (*const fns[1])() = {ViaA};
  uint32_t ids[50];
  CallEach(fns, 1, 50, ids);
  for (int r = 1; r < 50; ++r) REQUIRE(ids[r] == ids[0]);
  aw::CallSiteCacheStats after = aw::CallSiteCacheCounts(t);
  CHECK(after.misses - before.misses == 1);
  CHECK(after.hits - before.hits == 49);
}

TEST_CASE("call-site cache follows frames that move with alloca", "[call_site_cache]") {
  Recorder recorder;
  aw::ThreadState& t = aw::CurrentThread();
  const size_t sizes[6] = {16, 4096, 16, 200, 4096, 16};
  uint32_t ids[6];
  aw::CallSiteCacheStats before = aw::CallSiteCacheCounts(t);
  AllocaEach(sizes, 6, ids);
  aw::CallSiteCacheStats after = aw::CallSiteCacheCounts(t);
  CHECK(ids[0] != 0);
  for (int i = 1; i < 6; ++i) CHECK(ids[i] == ids[0]);  // the same path wherever its frames lie
  // Three frame layouts (three stack pointers at the call); a layout seen before is answered
  // from the cache (the first, 16 bytes, whose slots were placed from the frame sizes learnt).
  CHECK(after.hits + after.misses - before.hits - before.misses == 6);
  CHECK(after.misses - before.misses >= 3);
  CHECK(after.hits - before.hits >= 1);
}

namespace {

struct BoundsSeen {
  uint64_t low, high, local;
};

void* ReportBounds(void* out) {
  int local = 0;
  const aw::ThreadState& t = aw::CurrentThread();
  *static_cast<BoundsSeen*>(out) =
      BoundsSeen{t.stack_low, t.stack_high, reinterpret_cast<uint64_t>(&local)};
  return nullptr;
}

}  // namespace

TEST_CASE("a thread started through the pthread_create hook knows its stack; others do not",
          "[call_site_cache]") {
  BoundsSeen hooked{}, plain{};
  pthread_t thread;
  REQUIRE(aw::HookPthreadCreate(aw::Real(), &thread, nullptr, ReportBounds, &hooked) == 0);
  pthread_join(thread, nullptr);
  CHECK(hooked.low != 0);
  CHECK(hooked.low <= hooked.local);
  CHECK(hooked.local < hooked.high);
  // Created behind allocwatch's back (no interposer in this test binary): left unknown, so its
  // stacks are always unwound, never cached.
  REQUIRE(pthread_create(&thread, nullptr, ReportBounds, &plain) == 0);
  pthread_join(thread, nullptr);
  CHECK(plain.low == 0);
  CHECK(plain.high == 0);
}
