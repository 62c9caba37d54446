"""The engine on UCI Adult (30,162 records, 8 quasi-identifiers, ARX hierarchies).

    python benchmarks/bench_adult.py [--adult ../shared/datasets/adult]

For k in {2, 5, 10, 20, 50} and suppression limits 0% and 5% of records: the levels chosen,
records suppressed, classes, Loss (mean over the 8 attributes), nodes evaluated and runtime.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from transforms.privacy.tabular import anonymize_csv

QIS = ["age", "sex", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adult", type=Path, default=ROOT.parent / "shared" / "datasets" / "adult")
    p.add_argument("--repeats", type=int, default=3, help="runs per setting; the search time is their median")
    args = p.parse_args()
    print(
        "| k | suppression limit | levels (" + ", ".join(QIS) + ") | suppressed | classes | Loss | "
        "precision | l (salary, distinct/entropy) | nodes evaluated | search s (median) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for limit in (0.0, 0.05):
        for k in (2, 5, 10, 20, 50):
            runs = [
                anonymize_csv(args.adult / "adult.csv", args.adult, QIS, k, limit, "loss", sensitive="salary-class")
                for _ in range(max(1, args.repeats))
            ]
            r = runs[0]
            search = statistics.median(x.search_seconds for x in runs)
            levels = "/".join(str(r.level_numbers[q]) for q in QIS)
            ld = r.l_diversity
            print(
                f"| {k} | {limit:.0%} | {levels} | {r.suppressed:,} | {r.classes:,} | {r.loss:.4f} | "
                f"{r.precision:.4f} | {ld['distinct_l']}/{ld['entropy_l']} | {r.evaluated:,} of {r.lattice:,} | "
                f"{search:.3f} | {r.seconds:.2f} |"
            )


if __name__ == "__main__":
    main()
