// tests/symbolize/testdata/testlib.cc: a template instantiation living in a shared library.
#include "testlib.h"

namespace testlib {

template <typename T>
__attribute__((noipa)) T Twice(T value, RecordFn record) {
  record("template");  // @template_body
  return value * 2;
}

void Entry(RecordFn record) {
  volatile int sink = Twice<int>(21, record);
  (void)sink;
}

}  // namespace testlib
