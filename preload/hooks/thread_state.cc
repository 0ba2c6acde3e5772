// preload/hooks/thread_state.cc: see thread_state.h.
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

__thread ThreadState t_state __attribute__((tls_model("initial-exec")));

}  // namespace allocwatch::preload
