"""Pseudonymization and k-anonymity export pipeline for viewing logs.

Stages, in the order the data travels: pull, pseudonymize, generalize, anonymize, validate,
publish, purge. Each is a plain function in the module of the same name; `pipeline` runs
them over one day, and `python -m transforms` is the command line.
"""
