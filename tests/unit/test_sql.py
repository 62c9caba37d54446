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


def test_audience_person_steps_match_distinct_counts():
    """`agg_additive` and `agg_reach` group by person (they must spill at 100M events) instead
    of counting DISTINCT: the same answers as the DISTINCT formulas, on a hand-made night with a
    traveller (two countries), a person with nothing visible and a NULL code."""
    import duckdb
    import pyarrow as pa

    cells = pa.table(
        {
            "person": ["a", "a", "b", "c", "c", "d"],
            "d0": [1, 2, 1, 3, 3, 4],  # title
            "d1": [7, 8, 7, 7, 7, None],  # country: a travelled; d's is unknown
            "d2": [5, 5, 6, 6, 6, 6],  # age band: one per person
            "plays_raw": [3, 1, 2, 4, 1, 1],
            "plays": [2, 1, 2, 3, 1, 1],
            "watch_hours": [5, 1, 2, 3, 1, 1],
        }
    )
    open_cells = pa.table({"d0": [1, 3], "d1": [7, 7], "d2": [5, 6]})
    dims, sums = ["title_id", "location", "age_band"], [{"name": "watch_hours"}]
    with DuckDBBackend() as b:
        b.register_arrow("person_cells", cells)
        b.register_arrow("open_cells", open_cells)
        additive = b.fetch(sql("agg_additive", dims=dims)).to_pylist()[0]
        reach = b.fetch(sql("agg_reach", dims=dims, sums=sums)).to_pylist()[0]
    con = duckdb.connect()
    con.register("pc", cells)
    con.register("o", open_cells)
    most = con.execute(
        "SELECT max(n0), max(n1), max(n2) FROM (SELECT person, count(DISTINCT d0) n0, count(DISTINCT d1) n1,"
        " count(DISTINCT d2) n2 FROM pc GROUP BY person)"
    ).fetchall()[0]
    assert [additive[f"d{i}"] > 1 for i in range(3)] == [n > 1 for n in most] == [True, True, False]
    expected = con.execute(
        "SELECT count(DISTINCT pc.person), count(DISTINCT CASE WHEN o.d0 IS NOT NULL THEN pc.person END),"
        " sum(plays_raw), sum(plays), coalesce(sum(CASE WHEN o.d0 IS NOT NULL THEN plays END), 0),"
        " sum(watch_hours), coalesce(sum(CASE WHEN o.d0 IS NOT NULL THEN watch_hours END), 0)"
        " FROM pc LEFT JOIN o ON o.d0 = pc.d0 AND o.d1 = pc.d1 AND o.d2 = pc.d2"
    ).fetchall()[0]
    got = tuple(
        reach[k]
        for k in (
            "people_all",
            "people_visible",
            "plays_raw",
            "plays_counted",
            "plays_visible",
            "watch_hours_counted",
            "watch_hours_visible",
        )
    )
    assert got == expected == (4, 2, 12, 10, 6, 13, 9)
