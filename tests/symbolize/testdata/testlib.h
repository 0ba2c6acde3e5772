// tests/symbolize/testdata/testlib.h: shared library part of the symbolizer test program.
#pragma once

namespace testlib {

using RecordFn = void (*)(const char* tag);

// Calls `record` from inside a function template instantiated in the library.
void Entry(RecordFn record);

}  // namespace testlib
