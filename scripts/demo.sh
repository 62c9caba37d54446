#!/usr/bin/env bash
# The embedded default, end to end: set up, generate a day of fake viewing logs, run the two
# Airflow DAGs (the row extract and the audience table) on a local SQLite metadata database,
# and print where the extracts and reports are.
#   DAY=2026-11-23 EVENTS=100000 bash scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
PY="$ROOT/.venv/bin/python"
VAR="$ROOT/var"
DAY="${DAY:-$(date -u -d yesterday +%F)}"
EVENTS="${EVENTS:-100000}"

export AIRFLOW_HOME="$VAR/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW_VAR_VIEWING_EXPORT_RAW_ROOT="$VAR/raw"
export AIRFLOW_VAR_VIEWING_EXPORT_OUT_ROOT="$VAR/extracts"
export AIRFLOW_VAR_VIEWING_EXPORT_WORK_ROOT="$VAR/work"
export AIRFLOW_VAR_VIEWING_EXPORT_QUARANTINE_ROOT="$VAR/quarantine"

# A local random key ring, made once and kept (so re-runs give the same pseudonyms), never
# printed. Its key id "demo" is refused unless VIEWING_EXPORT_DEMO_MODE=1, so it cannot slip
# into production.
export VIEWING_EXPORT_DEMO_MODE=1
# The demo's night is fake and read by nobody: a newer build may publish a different audience
# table over it. In production a changed table for a published night is refused (OPERATIONS.md).
export EXPORT_REPUBLISH_CHANGED=1
KEY_FILE="$VAR/secrets/pseudonymization.json"
if [[ ! -f "$KEY_FILE" ]]; then
    mkdir -p "$(dirname "$KEY_FILE")" && chmod 700 "$(dirname "$KEY_FILE")"
    (umask 077 && "$PY" -c 'import base64, json, secrets; print(json.dumps({"active": "demo", "keys": {"demo": "base64:" + base64.b64encode(secrets.token_bytes(32)).decode()}}))' > "$KEY_FILE")
fi
AIRFLOW_VAR_PSEUDONYMIZATION_SECRET="$(cat "$KEY_FILE")"
export AIRFLOW_VAR_PSEUDONYMIZATION_SECRET

echo "demo: generating $EVENTS fake viewing events for $DAY in $VAR/raw" >&2
"$PY" -m transforms generate --raw-root "$VAR/raw" --day "$DAY" --events "$EVENTS" --seed 7 >/dev/null
echo "demo: preparing Airflow (SQLite metadata DB in $AIRFLOW_HOME)" >&2
"$PY" -m airflow db migrate >"$VAR/airflow-migrate.log" 2>&1
# The logical date names the day exported: <day>T03:00:00+00:00, as the nightly run of that
# day has it (docs/OPERATIONS.md). `dags test` runs the DAG once, without the scheduler.
echo "demo: running the DAG viewing_sessions_export for $DAY (log: $VAR/demo-dag.log)" >&2
if ! "$PY" -m airflow dags test viewing_sessions_export "${DAY}T03:00:00+00:00" >"$VAR/demo-dag.log" 2>&1; then
    echo "demo: the DAG run failed; last lines of $VAR/demo-dag.log:" >&2
    tail -n 30 "$VAR/demo-dag.log" >&2
    exit 1
fi
echo "demo: running the DAG title_audience_export for $DAY (log: $VAR/demo-dag-audience.log)" >&2
if ! "$PY" -m airflow dags test title_audience_export "${DAY}T03:00:00+00:00" >"$VAR/demo-dag-audience.log" 2>&1; then
    echo "demo: the DAG run failed; last lines of $VAR/demo-dag-audience.log:" >&2
    tail -n 30 "$VAR/demo-dag-audience.log" >&2
    exit 1
fi
echo "demo: running the DAG title_audience_dp_export for $DAY (log: $VAR/demo-dag-dp.log)" >&2
if ! "$PY" -m airflow dags test title_audience_dp_export "${DAY}T03:00:00+00:00" >"$VAR/demo-dag-dp.log" 2>&1; then
    echo "demo: the DAG run failed; last lines of $VAR/demo-dag-dp.log:" >&2
    tail -n 30 "$VAR/demo-dag-dp.log" >&2
    exit 1
fi
PART="$VAR/extracts/viewing_sessions/day=$DAY"
AUDIENCE="$VAR/extracts/title_audience/day=$DAY"
DP="$VAR/extracts/title_audience_dp/day=$DAY"
[[ -f "$PART/_manifest.json" ]] || { echo "demo: no extract was published; see $VAR/demo-dag.log" >&2; exit 1; }
[[ -f "$AUDIENCE/_manifest.json" ]] || { echo "demo: no audience table was published; see $VAR/demo-dag-audience.log" >&2; exit 1; }
[[ -f "$DP/_manifest.json" ]] || { echo "demo: no DP release was published; see $VAR/demo-dag-dp.log" >&2; exit 1; }
"$PY" - "$PART" "$AUDIENCE" "$DP" <<'PYEOF'
import json, sys
from pathlib import Path
part = Path(sys.argv[1])
m = json.loads((part / "_manifest.json").read_text())
c = m["counts"]
print(f"extract:    {part}/part-00000.parquet")
print(f"manifest:   {part}/_manifest.json")
print(f"report:     {part}/_reports/privacy_report.html")
print(f"data docs:  {part}/{m['validation']['data_docs']}")
print(f"all nights: {part.parent}/_index.html")
print(f"rows:       {c['input_rows']:,} in = {c['published_rows']:,} published + "
      f"{c['suppressed_rows']:,} suppressed + {c['rejected_rows']:,} rejected + {c['minor_rows']:,} of minors "
      f"(under {m['minors']['under']}, {m['minors']['action']})")
print(f"privacy:    k={m['k']}, smallest class {c['min_class_people']} people, key id {m['pseudonym']['key_id']}, "
      f"recipient {m['pseudonym']['recipient']}")
print(f"levels:     {', '.join(f'{k}={v}' for k, v in m['levels'].items())}")
h = m.get("history")
if h:
    r = h["risk"]
    sizes = "/".join(n[1:] for n in r)
    share = lambda side: "/".join(f"{v[side]['unique']:.1%}" for v in r.values())  # noqa: E731
    print(f"people:     singled out by their attributes and {sizes} known plays: {share('before')} before "
          f"protection, {share('after')} after (m={h['m']}, epoch={h['epoch']})")
audience = Path(sys.argv[2])
a = json.loads((audience / "_manifest.json").read_text())
cells, counts = a["cells"], a["counts"]
print()
print(f"audience:   {audience}/part-00000.parquet")
print(f"report:     {audience}/_reports/privacy_report.html")
print(f"cells:      {cells['total']:,} in the night's margins = {cells['published']:,} published + "
      f"{cells['primary_few_people'] + cells['primary_dominated']:,} primary + {cells['secondary']:,} secondary "
      f"suppressions (min {a['protection']['min_viewers']} viewers per cell)")
print(f"plays:      {counts['input_rows']:,} in = {counts['published_rows']:,} in published finest cells + "
      f"{counts['suppressed_rows']:,} not + {counts['rejected_rows']:,} rejected + {counts['minor_rows']:,} of minors")
release = Path(sys.argv[3])
r = json.loads((release / "_manifest.json").read_text())["release"]
print()
print(f"DP release: {release}/part-00000.parquet")
print(f"report:     {release}/_reports/privacy_report.html")
print(f"budget:     rho {r['rho_night']:.3g} tonight ({'stored release reused, nothing spent' if r['reused'] else 'spent now'}), "
      f"{r['window_remaining']:.3g} of {r['budget_rho']:g} left in the tightest {r['budget_window_nights']}-night window")
viewers = next(x for x in r["measures"] if x["measure"] == "viewers" and x["grouping"] == "title_id")
print(f"accuracy:   viewers per title within +-{viewers['error_95']:g} with 95% probability; "
      f"{viewers['published']:,} of {viewers['cells']:,} catalogue titles published; multi-night: {r['window_measures']}")
PYEOF
