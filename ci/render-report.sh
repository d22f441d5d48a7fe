#!/usr/bin/env bash
# Renders an HTML report to PNG in headless Chromium, as a person would see it in a browser.
#   ci/render-report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
# Needs Debian's chromium (apt-get install chromium). The flags keep Chromium from reaching out
# to the network (this machine's network is closed) and from needing a sandbox or a GPU.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
    exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1000}
height=${4:-2400}
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    echo "error: chromium is not installed (apt-get install chromium)" >&2
    exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size="$width,$height" \
    --screenshot="$out" "file://$html" 2>/dev/null
test -s "$out" || { echo "error: chromium wrote no image to $out" >&2; exit 1; }
echo "rendered $out"
