"""Run one DAG through `dag.test()` in this process and print the run's state as the last line.

    python -m tests.support.run_dag DAG_ID LOGICAL_DATE [CONF_JSON]

LOGICAL_DATE names the day exported (`2026-11-23T03:00:00+00:00`, as the nightly run of
2026-11-23 has it), unless CONF_JSON sets the param `day`.
The end-to-end tests call it in a subprocess so they capture every line Airflow, the stages
and third-party libraries print, exactly as an operator would see it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    dag_id, logical = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    conf = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    run = bag.dags[dag_id].test(logical_date=logical, run_conf=conf)
    print(json.dumps({"state": str(run.state), "run_id": run.run_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
