#!/usr/bin/env bash
# Set-up command 2: install, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cd build
ctest --output-on-failure -j2 --timeout 900 "$@"
