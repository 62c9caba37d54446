#!/usr/bin/env bash
# The independent checker (pycanon) lives in its own venv, .venv-checker: its exact pins
# (numpy, pandas) conflict with Airflow's, so tests call it in a subprocess.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
STAMP="$ROOT/.venv-checker/.installed"
if [[ ! -f "$STAMP" || "$ROOT/requirements-checker.txt" -nt "$STAMP" ]]; then
    echo "setup: creating .venv-checker (about 420 MB, 20 s) for the independent k-anonymity checker pycanon: its pins conflict with Airflow's" >&2
    "$PYTHON" -m venv "$ROOT/.venv-checker"
    "$ROOT/.venv-checker/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$ROOT/requirements-checker.txt" 2> >(grep -v "^WARNING: Location" >&2)
    touch "$STAMP"
fi
