"""Shared fixtures. Airflow's environment is set here, before anything imports Airflow.

Tiers: tests/unit (tiny tables, values written out), tests/stage (stages and the engine on a
generated day), tests/e2e (the CLI and the real DAG, assertions on published files),
tests/dag (DagBag rules). `-m "not slow"` skips the slowest end-to-end tests.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support import DAY, POLICY_PATH, ROOT, ROWS_POLICY_PATH, TEST_SECRET

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def policy():
    from transforms.config.policy import load_policy

    return load_policy(POLICY_PATH)


@pytest.fixture(scope="session")
def rows_policy():
    """The row-only policy (no history model): for checks of the row models against brute force."""
    from transforms.config.policy import load_policy

    return load_policy(ROWS_POLICY_PATH)


@pytest.fixture(scope="session")
def ring():
    from transforms.ops.keys import Key, KeyRing

    return KeyRing("t1", {"t1": Key("t1", TEST_SECRET)})


@pytest.fixture(scope="session")
def raw_day(tmp_path_factory) -> Path:
    """A generated day: 6,000 clean events plus dirty lines of every kind (fixed seed)."""
    from devtools.fake_logs import generate_day

    root = tmp_path_factory.mktemp("raw")
    generate_day(root, DAY, events=6000, seed=3, dirty_fraction=0.004)
    return root
