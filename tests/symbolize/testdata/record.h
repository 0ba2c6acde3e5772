// tests/symbolize/testdata/record.h: return-address recorder shared by the test program parts.
#pragma once

namespace testprog {

// Remembers its own return address under `tag`; main() prints them all at exit.
void Record(const char* tag);

}  // namespace testprog
