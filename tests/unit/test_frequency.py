"""The frequency table's helpers: `unique` must be np.unique exactly, on any order of keys."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.privacy.frequency import unique


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=60), st.booleans())
def test_unique_is_numpys_unique(values, in_order):
    key = np.array(sorted(values) if in_order else values, dtype=np.int64)
    expected, expected_inverse = np.unique(key, return_inverse=True)
    got, inverse = unique(key, return_inverse=True)
    assert got.dtype == np.int64 and inverse.dtype == np.int64
    assert np.array_equal(got, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())
    assert np.array_equal(unique(key), expected)


def test_unique_on_person_ordered_keys():
    # The shape it is used on: keys leading with a person, each person's items in any order.
    pid = np.repeat(np.arange(5), [3, 1, 4, 2, 2])
    item = np.array([7, 2, 7, 5, 9, 1, 9, 3, 4, 4, 8, 0])
    got, inverse = unique(pid * 10 + item, return_inverse=True)
    assert got.tolist() == [2, 7, 15, 21, 23, 29, 34, 40, 48]
    assert inverse.tolist() == [1, 0, 1, 2, 5, 3, 5, 4, 6, 6, 8, 7]
