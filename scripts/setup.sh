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
    echo "setup: creating .venv and installing the pinned requirements (about 1.8 GB, two to three minutes)" >&2
    "$PYTHON" -m venv "$ROOT/.venv"
    # Filter pip's notes about this machine's extra local indexes; real errors still show.
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt" \
        2> >(grep -v "^WARNING: Location" >&2)
    "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT" \
        2> >(grep -v "^WARNING: Location" >&2)
    touch "$STAMP"
fi
# The Spark engine (--engine spark, and its tests) needs Java 17+. Install Debian's when missing
# and this user may; otherwise say how (the DuckDB engine, the default, does not need it).
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if [[ -z "${JAVA_HOME:-}" ]] && { ! command -v java >/dev/null 2>&1 || (( $(java_major || echo 0) < 17 )); }; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        echo "setup: installing Java 17 for the Spark engine (openjdk-17-jre-headless)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; } >/dev/null \
            || echo "setup: warning: could not install Java; the Spark engine needs Java 17+" >&2
    else
        echo "setup: warning: no Java 17+ found; the Spark engine and its tests need it" \
             "(Debian: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)" >&2
    fi
fi
