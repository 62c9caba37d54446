"""The aggregate export end to end: a generated day through every stage with
`policies/title_audience.yaml`, checked against cells recomputed from the raw files without
the engine, and audited with the linear-programming auditor written apart from it."""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import date

import duckdb
import pytest
import yaml

from tests.support import DAY, ROOT, raw_identifier_values
from tests.support.lp_auditor import cells_from_plays, unprotected
from tests.support.runs import context
from transforms.config.policy import load_policy
from transforms.pipeline import run_all

POLICY = ROOT / "policies" / "title_audience.yaml"
DIMS = ["title_id", "location", "age_band"]
MARGINS = [tuple(m) for m in [DIMS, DIMS[:2], [DIMS[0], DIMS[2]], DIMS[:1], DIMS[1:2], DIMS[2:], []]]
# The shipped 10-year bands [13, 18, 25, ...] with the minors rule (under 16, coarse): bounds at
# or below 16 merge, so everyone under 18 is `<18`.
BOUNDS = [18, 25, 35, 45, 55, 65, 75]


def band(age: int) -> str:
    if age < BOUNDS[0]:
        return f"<{BOUNDS[0]}"
    for lo, hi in itertools.pairwise(BOUNDS):
        if lo <= age < hi:
            return f"{lo}-{hi - 1}"
    return f"{BOUNDS[-1]}+"


def independent_plays(raw_root, day: date, title_level: str = "title") -> list[dict]:
    """The night's plays straight from the raw files (a clean day: nothing to reject), with
    the title at the `title` or `genre` level of the catalogue."""
    con = duckdb.connect()
    rows = con.execute(
        """
        SELECT e.account_id, e.profile_id, e.title_id, e.content_type, e.country, e.watch_seconds,
               s.birth_date, c.title_id IS NOT NULL AS known, lower(c.genre) AS genre,
               c.content_type AS catalogue_type
        FROM read_json(?, format='newline_delimited') e
        JOIN read_parquet(?) s USING (account_id, profile_id)
        LEFT JOIN read_parquet(?) c ON c.title_id = e.title_id
        """,
        [
            str(raw_root / "viewing_events" / f"dt={day}" / "*.jsonl.gz"),
            str(raw_root / "subscribers" / f"dt={day}" / "*.parquet"),
            str(raw_root / "titles" / f"dt={day}" / "*.parquet"),
        ],
    ).fetchall()
    plays = []
    for account, profile, title, ctype, country, seconds, birth, known, genre, catalogue_type in rows:
        age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
        if not known:
            label = f"genre:unknown:{ctype}"
        elif title_level == "genre":
            label = f"genre:{genre}:{catalogue_type}"
        else:
            label = title
        plays.append(
            {
                "person": (account, profile),
                "title_id": label,
                "location": country,
                "age_band": band(age),
                "seconds": int(seconds),
            }
        )
    return plays


@pytest.fixture(scope="module")
def night(tmp_path_factory, ring):
    from devtools.fake_logs import generate_day

    tmp = tmp_path_factory.mktemp("aggregate")
    raw = tmp / "raw"
    generate_day(raw, DAY, events=4000, seed=5, dirty_fraction=0.0)
    policy = load_policy(POLICY)
    ctx = context(raw, tmp, policy, run_id="agg1")
    summary = run_all(ctx, ring)
    part = tmp / "out" / "title_audience" / f"day={DAY}"
    return {"raw": raw, "tmp": tmp, "policy": policy, "summary": summary, "part": part, "ctx": ctx}


def published(part) -> list[dict]:
    con = duckdb.connect()
    return (
        con.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(part / "part-00000.parquet")])
        .fetch_df()
        .to_dict("records")
    )


def test_published_cells_equal_cells_recomputed_from_the_raw_day(night):
    plays = independent_plays(night["raw"], DAY)
    p = night["policy"].protection
    truth = {
        (c["margin"], c["key"]): c
        for c in cells_from_plays(
            plays, DIMS, MARGINS, p.max_plays_per_person, int(p.max_watch_hours_per_person * 3600)
        )
    }
    rows = published(night["part"])
    assert rows, "nothing was published"
    for r in rows:
        margin = tuple(r["grouping"].split(",")) if r["grouping"] != "all" else ()
        key = tuple(r[d] for d in margin)
        assert all(r[d] == "*" for d in DIMS if d not in margin)
        c = truth[(margin, key)]
        assert (r["viewers"], r["plays"]) == (c["people"], c["plays"]), (margin, key)
        assert r["watch_hours"] == pytest.approx(c["seconds"] / 3600, abs=1e-4)
        assert r["viewers"] >= p.min_viewers
        assert c["top_plays"] <= p.dominance * c["plays"] and c["top_seconds"] <= p.dominance * c["seconds"]
    manifest = json.loads((night["part"] / "_manifest.json").read_text())
    assert manifest["kind"] == "aggregate"
    assert manifest["cells"]["total"] == len(truth)
    assert manifest["cells"]["published"] == len(rows)
    counts = manifest["counts"]
    assert counts["input_rows"] == len(plays) and counts["rejected_rows"] == 0
    assert counts["input_rows"] == counts["published_rows"] + counts["suppressed_rows"] + counts["rejected_rows"]
    finest = sum(r["plays"] for r in rows if r["grouping"] == ",".join(DIMS))
    assert counts["published_rows"] == finest
    assert counts["clipped_rows"] == len(plays) - truth[((), ())]["plays"]
    # Figures that could count a suppressed cohort or a suppressed cell are not published.
    assert counts["plays_not_in_catalogue"] is None
    hidden = counts["people_fully_suppressed"]
    assert hidden is None or hidden == 0 or hidden >= p.min_viewers


@pytest.fixture(scope="module")
def genre_night(night, tmp_path_factory, ring):
    """The same raw day through the shipped policy with titles published at the genre level:
    a table small enough for the auditor to solve a linear program per suppressed cell."""
    tmp = tmp_path_factory.mktemp("aggregate_genre")
    data = yaml.safe_load(POLICY.read_text())
    data["export"] = "genre_audience"
    data["dimensions"][0]["level"] = "genre"
    path = tmp / "genre_audience.yaml"
    path.write_text(yaml.safe_dump(data))
    shutil.copytree(POLICY.parent / "reference", tmp / "reference")
    policy = load_policy(path)
    run_all(context(night["raw"], tmp, policy, run_id="genre1"), ring)
    return {"raw": night["raw"], "policy": policy, "part": tmp / "out" / "genre_audience" / f"day={DAY}"}


def _key(row: dict) -> tuple:
    margin = tuple(row["grouping"].split(",")) if row["grouping"] != "all" else ()
    return margin, tuple(row[d] for d in margin)


@pytest.mark.parametrize("which", ["genre_night", "night"])
def test_no_suppressed_cell_can_be_narrowed_by_linear_programming(which, request):
    """The attacker's view: every published cell and the margin structure; every other cell
    over the night's domains (suppressed or empty, the table does not say) unknown. For every
    primary cell the LP's upper bound must reach the threshold (viewers) or a total its
    largest contributor would not dominate. On the genre-level table every primary cell is
    audited; on the title-level one the 25 coarsest and the 25 last of the finest, in a fixed
    order, against the attacker who also knows which cells are empty."""
    run = request.getfixturevalue(which)
    plays = independent_plays(run["raw"], DAY, "genre" if which == "genre_night" else "title")
    p = run["policy"].protection
    cells = cells_from_plays(plays, DIMS, MARGINS, p.max_plays_per_person, int(p.max_watch_hours_per_person * 3600))
    rows = published(run["part"])
    shown = {_key(r) for r in rows}
    assert shown <= {(c["margin"], c["key"]) for c in cells}
    suppressed = {(c["margin"], c["key"]) for c in cells} - shown
    requirements = {}
    for c in cells:
        need = {}
        if c["people"] < p.min_viewers:
            need["people"] = p.min_viewers
        if c["top_plays"] > p.dominance * c["plays"]:
            need["plays"] = c["top_plays"] / p.dominance
        if c["seconds"] and c["top_seconds"] > p.dominance * c["seconds"]:
            need["seconds"] = c["top_seconds"] / p.dominance
        if need:
            requirements[(c["margin"], c["key"])] = need
    assert requirements and set(requirements) <= suppressed
    travellers = len({pl["person"] for pl in plays}) != len({(pl["person"], pl["location"]) for pl in plays})
    additive = {"age_band"} | (set() if travellers else {"location"})
    kinds = {"people": "people", "plays": "count", "seconds": "sum"}
    chosen = sorted(requirements.items(), key=lambda kv: (len(kv[0][0]), kv[0]))
    if which == "night":
        # Over the domains, a title-level LP has about 45,000 unknowns and takes minutes for
        # plays; the attacker who also knows which cells are empty has only the suppressed
        # cells as unknowns and ranges inside the first one's, so passing it is the stronger
        # result (the engine does not promise it; see lp_auditor).
        chosen = chosen[:25] + chosen[-25:]
        assert unprotected(cells, suppressed, dict(chosen), MARGINS, kinds, additive, known_cells=True) == []
    else:
        assert unprotected(cells, suppressed, dict(chosen), MARGINS, kinds, additive) == []
    assert rows, "the table should publish something"


def test_the_table_publishes_no_pseudonym_or_raw_identifier(night):
    rows = published(night["part"])
    text = json.dumps(rows, default=str) + (night["part"] / "_manifest.json").read_text()
    text += (night["part"] / "_reports" / "privacy_report.html").read_text()
    assert "viewer_id" not in rows[0]
    for column, values in raw_identifier_values(night["raw"]).items():
        if column == "event_id":
            continue
        leaked = [v for v in values if v and len(v) > 4 and v in text]
        assert not leaked, column
    assert "t1:" not in json.dumps(rows, default=str)  # the key id prefixes every pseudonym


def test_rerun_gives_the_same_bytes(night, ring):
    first = (night["part"] / "part-00000.parquet").read_bytes()
    ctx = context(night["raw"], night["tmp"], night["policy"], run_id="agg2")
    run_all(ctx, ring)
    assert (night["part"] / "part-00000.parquet").read_bytes() == first


def test_a_changed_night_is_not_published_over_the_first(night, ring, tmp_path, monkeypatch):
    """Two versions of one night could be subtracted (one re-delivered play moves a few cells,
    exposing a suppressed one): a different table for a published night is refused."""
    import gzip

    from transforms.errors import PrivacyError

    shutil.copytree(night["tmp"] / "out", tmp_path / "out")
    shutil.copytree(night["raw"], tmp_path / "raw")
    first = sorted((tmp_path / "raw").rglob("*.jsonl.gz"))[0]
    lines = gzip.open(first, "rt").read().splitlines()
    with gzip.open(first, "wt") as fh:  # the day re-delivered without one play
        fh.write("\n".join(lines[:-1]) + "\n")
    part = tmp_path / "out" / "title_audience" / f"day={DAY}"
    before = (part / "part-00000.parquet").read_bytes()
    with pytest.raises(PrivacyError, match="already published and tonight's table differs"):
        run_all(context(tmp_path / "raw", tmp_path, night["policy"], run_id="changed"), ring)
    assert (part / "part-00000.parquet").read_bytes() == before
    monkeypatch.setenv("EXPORT_REPUBLISH_CHANGED", "1")  # the operator: nobody read the first
    run_all(context(tmp_path / "raw", tmp_path, night["policy"], run_id="changed2"), ring)
    assert (part / "part-00000.parquet").read_bytes() != before


def test_the_report_says_what_was_suppressed_and_what_it_does_not_protect(night):
    html = (night["part"] / "_reports" / "privacy_report.html").read_text()
    for phrase in ("secondary", "min viewers per cell", "How the plays reconcile", "does not protect", "Audit"):
        assert phrase in html
