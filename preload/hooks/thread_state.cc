// preload/hooks/thread_state.cc: see thread_state.h.
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {
namespace {
// Zero-initialised, initial-exec: no TLS constructor, no __tls_get_addr, no allocation.
thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));
}  // namespace

ThreadState& CurrentThread() { return t_state; }

}  // namespace allocwatch::preload
