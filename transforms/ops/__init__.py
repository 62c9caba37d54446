"""Operational building blocks with no data logic: keys, locks, atomic exchange, fault injection."""
