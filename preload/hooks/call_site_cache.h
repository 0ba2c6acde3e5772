// preload/hooks/call_site_cache.h: the stack of an allocation without unwinding it again.
//
// Hook-safe. Per thread (each thread has its own cache, mapped on first use; no lock).
//
// The key is a call site: the return address into the caller and the stack pointer at the call.
// An entry keeps the interned stack id and, for every frame further up, the stack slot that
// held its return address (as an offset from that stack pointer) and the address it held. A
// lookup re-reads every one of those slots and uses the entry only when all still hold the same
// return addresses, so another path to the same site at the same depth is a miss (and is
// unwound), not a wrong stack. An x86-64 caller's return address is at its callee's CFA - 8, and
// each frame's CFA follows from the frames below it; a frame that keeps its CFA in a register
// other than the stack pointer (alloca, stack realignment) is checked through the slots of the
// frames around it.
//
// Only stacks on the thread's own stack are cached, and only when every return address was
// found where a call puts it (a signal frame, for one, is not): calls on another stack
// (sigaltstack, coroutines) and unusual stacks are always unwound. The thread's bounds are
// ThreadState::stack_low/stack_high, learnt outside any hook (stack_bounds.h); a thread whose
// bounds are not known is always unwound. Every slot lies between the
// key's stack pointer and the top of the thread's stack, so a lookup never reads unmapped
// memory. Entries are dropped when the stack table is reset (fork child) or a module is
// unloaded (the same addresses may then belong to another module).
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

// Where the program called into allocwatch: the return address into the program and the
// stack pointer at the call (the CFA of allocwatch's outermost frame), the key of the cache.
struct CallSite {
  uint64_t return_address;
  uint64_t call_sp;
};

// The call site of the function this is written in: use it in an exported function, or in a
// noinline one the exported function reaches by a tail call (never in an inline helper, whose
// builtins would name a different frame).
#define ALLOCWATCH_CALL_SITE()                               \
  ::allocwatch::preload::CallSite {                          \
    reinterpret_cast<uint64_t>(__builtin_return_address(0)), \
        reinterpret_cast<uint64_t>(__builtin_dwarf_cfa())    \
  }

// The stack id (StackTable) of the stack above the program's call `site`, as InternFrames
// would give it after an unwind. The frame `site` was taken in must still be active (the
// unwind runs from here and starts at the site's return address). Unwinds on a miss. 0 when
// out of memory.
uint32_t CallSiteStack(ThreadState& t, CallSite site);

// At thread exit: gives back the thread's cache.
void ReleaseCallSiteCache(ThreadState& t);

// The thread's lookups answered from its cache and by unwinding (for tests).
struct CallSiteCacheStats {
  uint64_t hits;
  uint64_t misses;
};
CallSiteCacheStats CallSiteCacheCounts(const ThreadState& t);

}  // namespace allocwatch::preload
