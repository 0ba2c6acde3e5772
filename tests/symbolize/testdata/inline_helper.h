// tests/symbolize/testdata/inline_helper.h: a helper that is always inlined into its caller.
#pragma once

#include "record.h"

namespace testprog {

inline volatile int g_inline_counter = 0;

__attribute__((always_inline)) inline void InlineHelper(int step) {
  g_inline_counter = g_inline_counter + step;
  Record("inline");  // @inline_body
}

}  // namespace testprog
