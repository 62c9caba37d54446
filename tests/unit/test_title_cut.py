"""The title cut (models/history.py `title_cut`) against a plain-Python restatement of its rule.

A label is lifted one level (all its present titles at once) while fewer than k people watched
it, or while it is a generalized label standing for a single title of the night; the top label
never lifts. The reference recounts everything from sets on every round; the engine counts
people once at the base level and then only over the lifted titles' rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from transforms.privacy.frequency import FreqTable
from transforms.privacy.models.history import TitleInfo, title_cut

# 12 titles -> 4 series (3 titles each) -> 2 genres -> "*" (level 3).
UP = {
    0: np.arange(12),
    1: np.arange(12) // 3,
    2: np.arange(12) // 6,
    3: np.zeros(12, dtype=np.int64),
}


def _table(pid: np.ndarray, title: np.ndarray) -> FreqTable:
    return FreqTable(
        pid=pid,
        codes=[title],
        rows=np.ones(len(pid), dtype=np.int64),
        sens=None,
        lowest=[0],
        up=[UP],
        cost=[{lvl: np.zeros(12) for lvl in UP}],
        card=[{lvl: int(UP[lvl].max()) + 1 for lvl in UP}],
        people=int(pid.max()) + 1,
    )


INFO = TitleInfo(
    top=3, titles=np.ones(12), is_self={0: np.ones(12, bool), **{lvl: np.zeros(12, bool) for lvl in (1, 2, 3)}}
)


def _reference(pid, title, alive, base, k) -> list[int]:
    rows = [(int(p), int(t)) for p, t, a in zip(pid, title, alive, strict=True) if a]
    present = {t for _, t in rows}
    level = dict.fromkeys(range(12), base)
    while True:
        label = {c: (level[c], int(UP[level[c]][c])) for c in range(12)}
        people: dict[tuple, set] = {}
        for p, t in rows:
            people.setdefault(label[t], set()).add(p)
        bad = set()
        for lab in set(label.values()):
            members = [c for c in range(12) if label[c] == lab]
            shown = [c for c in members if c in present]
            single_other = len(shown) == 1 and not any(INFO.is_self[level[c]][c] for c in members)
            if len(people.get(lab, ())) < k or single_other:
                bad.add(lab)
        lift = [c for c in range(12) if label[c] in bad and c in present and level[c] < INFO.top]
        if not lift:
            return [level[c] for c in range(12)]
        for c in lift:
            level[c] += 1


@pytest.mark.parametrize("seed", range(12))
def test_title_cut_matches_the_rule_restated(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    pid = np.sort(rng.integers(0, 25, n))
    pid = np.unique(pid, return_inverse=True)[1].astype(np.int64)  # dense person ids
    title = rng.choice(12, size=n, p=rng.dirichlet(np.full(12, 0.6))).astype(np.int64)
    ft = _table(pid, title)
    for alive in (None, rng.random(n) > 0.3):
        mask = np.ones(n, dtype=bool) if alive is None else alive
        for base in range(4):
            for k in (1, 2, 3, 5):
                cut = title_cut(ft, 0, base, k, INFO, alive)
                assert cut.level.tolist() == _reference(pid, title, mask, base, k), (base, k)
                # Labels: one id per distinct (level, code at that level), the same for equal labels.
                keys = list(zip(cut.level.tolist(), [int(UP[lv][c]) for c, lv in enumerate(cut.level)], strict=True))
                assert len(set(keys)) == cut.labels == len(set(cut.label.tolist()))
                assert all((keys[a] == keys[b]) == (cut.label[a] == cut.label[b]) for a in range(12) for b in range(12))
