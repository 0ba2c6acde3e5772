// tests/preload/test_main.cc: Catch2 entry point for the preload integration tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
