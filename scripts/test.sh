#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/setup-checker.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
