// tests/symbolize/test_main.cc: Catch2 entry point for the symbolizer tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
