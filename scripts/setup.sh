#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the pinned set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' || {
    echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
STAMP="$ROOT/.venv/.installed"
if [[ ! -f "$STAMP" || "$ROOT/requirements.txt" -nt "$STAMP" || "$ROOT/requirements-dev.txt" -nt "$STAMP" ]]; then
    echo "setup: creating .venv and installing the pinned requirements (about 1.2 GB, a minute or two)" >&2
    "$PYTHON" -m venv "$ROOT/.venv"
    # Filter pip's notes about this machine's extra local indexes; real errors still show.
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt" \
        2> >(grep -v "^WARNING: Location" >&2)
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT" \
        2> >(grep -v "^WARNING: Location" >&2)
    touch "$STAMP"
fi
