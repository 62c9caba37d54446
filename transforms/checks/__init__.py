"""The gate's checks: the self-test against raw identifiers, and Great Expectations."""
