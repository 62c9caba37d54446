"""Pseudonymization and k-anonymity export pipeline for viewing logs.

Stages, in the order the data travels: pull, pseudonymize, generalize, anonymize, validate,
publish, purge (`stages/`, in that order in its registry); `pipeline` runs them over one day,
and `python -m transforms` is the command line.

Great Expectations logs hundreds of lines at INFO when it is imported ("Skipping registering
function ...") and per validation: its logger is set to WARNING here, before anything imports
it, so task logs keep what matters. `EXPORT_GX_LOG_LEVEL=INFO` brings its messages back.
"""

import logging as _logging
import os as _os

_logging.getLogger("great_expectations").setLevel(_os.environ.get("EXPORT_GX_LOG_LEVEL", "WARNING").upper())
