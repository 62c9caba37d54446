"""Pseudonymization and k-anonymity export pipeline for viewing logs.

Stages, in the order the data travels: pull, pseudonymize, generalize, anonymize, validate,
publish, purge (`stages/`, in that order in its registry); `pipeline` runs them over one day,
and `python -m transforms` is the command line.

Great Expectations logs hundreds of lines at INFO when it is imported ("Skipping registering
function ...") and per validation: its logger is set to WARNING here, before anything imports
it, so task logs keep what matters. `EXPORT_GX_LOG_LEVEL=INFO` brings its messages back.
GX also imports PySpark when it is installed (the Spark engine), and PySpark warns on every
import that it does not fully support pandas 3; the steps never hand pandas to Spark (Arrow
only), so that warning is filtered too.
"""

import logging as _logging
import os as _os
import warnings as _warnings

#: The level of Great Expectations' loggers (checks/gx.py applies it to the one GX resets on import).
GX_LOG_LEVEL = _os.environ.get("EXPORT_GX_LOG_LEVEL", "WARNING").upper()
_logging.getLogger("great_expectations").setLevel(GX_LOG_LEVEL)
_warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
