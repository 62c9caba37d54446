#!/usr/bin/env bash
# Render a privacy report in headless Chromium (Debian's `chromium` package) to a PNG, to look
# at it as a reviewer would. Usage: bash scripts/check-report.sh REPORT.html [OUT.png]
set -euo pipefail
REPORT="$(realpath "${1:?usage: check-report.sh REPORT.html [OUT.png]}")"
OUT="${2:-${REPORT%.html}.png}"
command -v chromium >/dev/null || { echo "error: install Chromium first: apt-get install chromium" >&2; exit 1; }
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
# No network flags: the report needs none, and this machine's network is closed anyway.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$PROFILE" --window-size=1100,${REPORT_HEIGHT:-2600} --screenshot="$OUT" "file://$REPORT" >/dev/null 2>&1
echo "$OUT"
