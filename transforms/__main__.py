"""`python -m transforms ...`: see transforms/cli.py."""

import sys

from transforms.cli import main

sys.exit(main())
