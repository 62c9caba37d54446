"""Run the first stages on a raw day inside one DuckDB connection (for unit tests)."""

from __future__ import annotations

from transforms.db import connect
from transforms.generalize import generalize
from transforms.pseudonymize import pseudonymize
from transforms.pull import pull

from .conftest import DAY


def staged(raw_root, policy, ring, upto: str = "generalize"):
    con = connect(None)
    pull(con, raw_root, DAY, policy)
    if upto in ("pseudonymize", "generalize"):
        pseudonymize(con, policy, ring, DAY)
    if upto == "generalize":
        generalize(con, policy, DAY)
    return con
