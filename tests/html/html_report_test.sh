#!/usr/bin/env bash
# tests/html/html_report_test.sh: records programs/html_subject under `allocwatch run`, renders
# the HTML report and checks it in headless Chromium (check_html_report.js).
#
# usage: html_report_test.sh ALLOCWATCH SUBJECT OUT_DIR
# The program is run from a path full of markup ("a</script><img ...>"), ending in a byte that
# is not UTF-8, so the page must show the recording's strings as text (and the renderers must
# cope with non-UTF-8 names). OUT_DIR keeps the recording, report.html, report.json and the
# screenshots (artefacts/*.png). Exit 77 (skipped) only when chromium cannot start.
set -euo pipefail
allocwatch=$1 subject=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$out"
mkdir -p "$out/a<"
program="$out/a</script><img src=x onerror=alert(1)> & co $(printf "\\377")"
cp "$subject" "$program"

status=0
"$allocwatch" run --exact --interval 0.02 -o "$out/rec" --report "$out/run-report.txt" \
  -- "$program" > "$out/program.out" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "FAILED: the subject under allocwatch run exited with $status"; cat "$out/program.out"; exit 1
fi
"$allocwatch" report --format html -o "$out/report.html" "$out/rec"
"$allocwatch" report --format json -o "$out/report.json" "$out/rec"
# To stdout: the same page.
"$allocwatch" report --format html "$out/rec" > "$out/stdout.html"
if ! cmp -s "$out/report.html" "$out/stdout.html"; then
  echo "FAILED: --format html to stdout differs from -o FILE"; exit 1
fi

# `allocwatch run` writes the page with --report FILE, and refuses to put it on stderr.
"$allocwatch" run --exact --report-format html --report "$out/run.html" -o "$out/rec-true" -- /bin/true
if ! grep -q 'id="allocwatch-data">{' "$out/run.html"; then
  echo "FAILED: allocwatch run --report-format html wrote no page"; exit 1
fi
status=0
"$allocwatch" run --report-format html -o "$out/rec-true" -- /bin/true 2> "$out/run-stderr.txt" || status=$?
if [ "$status" -ne 2 ] || ! grep -q "needs --report FILE" "$out/run-stderr.txt"; then
  echo "FAILED: allocwatch run --report-format html without --report: status $status"; exit 1
fi

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (tools/setup.sh installs it)"; exit 77
fi
node=$(command -v node || command -v nodejs || true)
if [ -z "$node" ]; then
  echo "FAILED: node is not installed (tools/setup.sh installs it)"; exit 1
fi
exec timeout --kill-after=5 80 "$node" "$here/check_html_report.js" "$chromium" \
  "$out/report.html" "$out/report.json" "$out/artefacts"
