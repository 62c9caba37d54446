"""Named SQL steps: identifiers are checked, values are bound, nothing is pasted."""

from __future__ import annotations

import pytest

from transforms.backends.base import ident, render, sql
from transforms.backends.duckdb import DuckDBBackend

SQL_DIR = DuckDBBackend.sql_dir


def test_identifiers_must_be_plain_names():
    assert ident("viewer_id") == "viewer_id"
    for bad in ("x; DROP TABLE t", "Viewer", "a-b", "", "x'--", 'a"b'):
        with pytest.raises(ValueError, match="not a safe SQL identifier"):
            ident(bad)


def test_a_template_refuses_an_unsafe_identifier():
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        render(sql("count_rows", table="t; DELETE FROM x"), SQL_DIR)


def test_each_statement_gets_only_the_parameters_it_uses():
    statements = render(sql("frame_sample", {"n": 5, "unused": 1}, source="extract"), SQL_DIR)
    assert len(statements) == 1
    assert statements[0].params == {"n": 5}
    assert "$n" in statements[0].text and "5" not in statements[0].text


def test_a_missing_parameter_is_named():
    with pytest.raises(KeyError, match=r"needs parameters \['n'\]"):
        render(sql("frame_sample", {}, source="extract"), SQL_DIR)


def test_no_template_formats_a_value_into_sql_text():
    """Values reach SQL only as $parameters: every `{{ ... }}` is an identifier through a filter,
    a loop index, a separator, a macro call, or a name the templates build from those."""
    import re

    allowed = [
        r".*\|\s*(ident|quoted|int)\b.*",  # checked identifiers, integers
        r'.*map\("ident"\).*',
        r'"[^"]*" if not loop\.(last|first)',  # separators
        r"loop\.index0?",
        r"(hmac|source_value|lookup_joins)\(.*",  # macros (their arguments pass the same rules)
        # loop variables, {% set %} blocks, macro arguments (column expressions the templates write)
        r"(n|i|level|alias|source_alias|message_blob|message|groups|cost|key|ipad|opad|f \+ 1)",
        r"gate\.param",  # the name of a bound parameter
    ]
    from transforms.backends.spark import SparkBackend

    for path in [*SQL_DIR.glob("*.sql"), *SparkBackend.sql_dir.glob("*.sql")]:
        for expr in re.findall(r"{{(.*?)}}", path.read_text()):
            expr = expr.strip()
            assert any(re.fullmatch(a, expr) for a in allowed), f"{path.name}: {{{{ {expr} }}}} may paste a value"


def test_the_margin_check_keeps_parents_with_equal_measures_apart():
    """Two titles with the same published viewers, plays and hours: each is checked against its
    own children (once, they were grouped by their measures and their children added up)."""
    import pyarrow as pa

    from transforms.backends.duckdb import DuckDBBackend

    b = DuckDBBackend()
    b.register_arrow(
        "cells",
        pa.table(
            {
                "grouping": ["title_id"] * 2 + ["title_id,location"] * 4,
                "suppressed": [False, False, False, True, False, True],
                "d0": [0, 1, 0, 0, 1, 1],
                "d1": [-1, -1, 0, 1, 0, 1],
                "people": [5, 5, 3, 2, 3, 2],
            }
        ),
    )
    b.register_arrow("labels_0", pa.table({"code": [0, 1], "label": ["A", "B"]}))
    b.register_arrow("labels_1", pa.table({"code": [0, 1], "label": ["X", "Y"]}))
    b.register_arrow(
        "extract",
        pa.table(
            {
                "title_id": ["A", "B", "A", "B"],
                "location": ["*", "*", "X", "X"],
                "grouping": ["title_id", "title_id", "title_id,location", "title_id,location"],
                "viewers": [5, 5, 3, 3],
                "plays": [5, 5, 3, 3],
                "watch_hours": [1.0, 1.0, 0.5, 0.5],
            }
        ),
    )
    relations = [{"parent": "title_id", "child": "title_id,location", "dimension": "location", "keep": ["title_id"]}]
    params = {"parent0": "title_id", "child0": "title_id,location", "dimension0": "location", "additive0": True}
    rows = b.fetch(
        sql(
            "agg_frame_margins",
            params,
            relations=relations,
            dims=[{"column": "title_id"}, {"column": "location"}],
            grouping="grouping",
            people="viewers",
            plays="plays",
            hours="watch_hours",
        )
    ).to_pylist()
    assert sorted((r["parent_0"], r["children"], r["children_published"], r["children_plays"]) for r in rows) == [
        ("A", 2, 1, 3),
        ("B", 2, 1, 3),
    ]
