"""Run inside .venv-checker: print pycanon's k-anonymity of a CSV for the given columns."""

import sys

import pandas as pd
from pycanon import anonymity

frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
print(anonymity.k_anonymity(frame, sys.argv[2].split(",")))
