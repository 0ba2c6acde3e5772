#!/usr/bin/env bash
# Set-up command 1: install, build, and run `allocwatch run` on the bundled demo program.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
out=$(mktemp -d /tmp/allocwatch-demo.XXXXXX)
echo "demo: running: build/bin/allocwatch run --exact -o $out -- build/bin/allocwatch_demo"
exec build/bin/allocwatch run --exact -o "$out" -- build/bin/allocwatch_demo
