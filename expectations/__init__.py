"""Great Expectations suites for the published tables, one module per export."""
