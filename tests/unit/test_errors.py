"""Retry semantics: each error class says whether a retry can help, and the DAG glue obeys it."""

from __future__ import annotations

import pytest

from transforms import errors
from transforms.orchestration import run_task

RETRYABLE = {
    errors.RawDayMissing: True,  # the day may still be arriving
    errors.RawDataError: False,  # the files are there but damaged: a re-delivery, not a wait
    errors.RunInProgressError: True,  # another run of the day holds the lock
    errors.ExportBusyError: True,  # another night of the export holds its turn
    errors.PublishError: True,  # a filesystem error; the previous partition is kept
    errors.RawSchemaError: False,
    errors.UnclassifiedColumnError: False,  # a person must classify the new field
    errors.PolicyError: False,
    errors.KeyConfigError: False,
    errors.PrivacyError: False,
    errors.CapacityError: False,  # the same worker runs out of memory the same way
    errors.ValidationFailed: False,
    errors.StageOrderError: False,
    errors.StorageError: False,  # a root on a store this engine or kind cannot use: a setting to change
    errors.StoreUnreachableError: True,  # the store did not answer: it may be passing
    errors.ExportError: False,
}


@pytest.mark.parametrize(("cls", "retryable"), list(RETRYABLE.items()), ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_error_class_states_whether_a_retry_can_help(cls, retryable):
    assert cls.retryable is retryable


def test_every_error_class_is_covered():
    classes = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ExportError)}
    assert classes == set(RETRYABLE)


class Failed(Exception):
    """Stands in for AirflowFailException."""


@pytest.mark.parametrize(("cls", "retryable"), list(RETRYABLE.items()), ids=lambda v: getattr(v, "__name__", str(v)))
def test_the_task_glue_retries_only_retryable_errors(monkeypatch, cls, retryable):
    def boom(*args, **kwargs):
        raise cls("what went wrong; how to fix it")

    monkeypatch.setattr("transforms.pipeline.run_stage", boom)
    ctx = {"policy_path": "p", "day": "2026-11-23", "run_id": "r", "raw_root": "a", "out_root": "b", "work_root": "c"}
    with pytest.raises(cls if retryable else Failed, match="what went wrong"):
        run_task("pull", ctx, Failed)


@pytest.mark.parametrize(("exc", "retried"), [(OSError("disk full"), True), (KeyError("x"), False)])
def test_an_error_outside_the_family_is_retried_only_if_it_is_the_filesystem(monkeypatch, exc, retried):
    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr("transforms.pipeline.run_stage", boom)
    ctx = {"policy_path": "p", "day": "2026-11-23", "run_id": "r", "raw_root": "a", "out_root": "b", "work_root": "c"}
    with pytest.raises(type(exc) if retried else Failed) as info:
        run_task("pull", ctx, Failed)
    if not retried:
        assert "unexpected KeyError in pull" in str(info.value)


def test_the_key_is_checked_before_the_stage_reads_anything(monkeypatch):
    ran = []
    monkeypatch.setattr("transforms.pipeline.run_stage", lambda *a, **k: ran.append(a))

    def no_key():
        raise errors.KeyConfigError("no pseudonymization key: set the Airflow Variable pseudonymization_secret")

    ctx = {"policy_path": "p", "day": "2026-11-23", "run_id": "r", "raw_root": "a", "out_root": "b", "work_root": "c"}
    with pytest.raises(Failed, match="no pseudonymization key"):
        run_task("pull", ctx, Failed, no_key)
    assert ran == []


def test_an_engine_io_error_is_retried_like_any_filesystem_error(monkeypatch):
    from transforms.backends import InputError

    def boom(*args, **kwargs):
        raise InputError("IO Error: could not write file (disk full)")

    monkeypatch.setattr("transforms.pipeline.run_stage", boom)
    ctx = {"policy_path": "p", "day": "2026-11-23", "run_id": "r", "raw_root": "a", "out_root": "b", "work_root": "c"}
    with pytest.raises(InputError):
        run_task("validate", ctx, Failed)
