// preload/interpose/symbols.h: what every interposer includes.
//
// Hook-safe. The names defined here are those of preload/format/hooked_symbols.h, the one list;
// liballocwatch.map exports exactly them (the `exported_symbols` test checks both).
#pragma once
#include "preload/base/hook_safe.h"

#include "preload/format/hooked_symbols.h"

#define ALLOCWATCH_EXPORT extern "C" __attribute__((visibility("default")))
