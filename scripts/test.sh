#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite, in EXPORT_TEST_WORKERS
# processes (default 2; 0 runs it in this process). Each test file stays in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/setup-checker.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -n "${EXPORT_TEST_WORKERS:-2}" --dist loadfile "$@"
