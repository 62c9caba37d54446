"""The engine's heap setting (privacy/heap.py): on where glibc is, off when configured off."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = "from transforms.privacy.heap import keep_freed_memory as k; first = k(); print(first, k() == first)"


def _probe(**env: str) -> str:
    environ = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's parameters are glibc's")
def test_on_by_default_with_glibc_and_once_per_process():
    assert _probe(EXPORT_ENGINE_KEEP_FREED_MEMORY="1").split() == ["True", "True"]


@pytest.mark.parametrize("value", ["0", "false", "no"])
def test_off_when_configured_off(value):
    assert _probe(EXPORT_ENGINE_KEEP_FREED_MEMORY=value).split() == ["False", "True"]
