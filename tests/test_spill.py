"""SpilledArrays: arrays kept in a temporary file, read back exactly, in any order."""

from __future__ import annotations

import numpy as np
import pytest

from flowseg._spill import SpilledArrays


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.uint16, bool])
def test_arrays_come_back_exactly_in_any_order(dtype) -> None:
    rng = np.random.default_rng(0)
    arrays = [(rng.random((5, 7, 3)) * 200).astype(dtype) for _ in range(4)]
    with SpilledArrays() as held:
        for array in arrays:
            held.append(array)
        assert len(held) == 4
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(held, arrays))
        assert all(np.array_equal(a, b) for a, b in zip(reversed(held), arrays[::-1]))
        assert np.array_equal(held[-1], arrays[3]) and np.array_equal(held[1], arrays[1])
        assert not held[0].flags.writeable


def test_a_strided_view_is_written_as_its_values() -> None:
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    with SpilledArrays() as held:
        held.append(image[::-1, ::2])  # a negative-stride, non-contiguous view
        assert np.array_equal(held[0], image[::-1, ::2])


def test_wrong_shape_dtype_or_index_is_refused() -> None:
    with SpilledArrays() as held:
        held.append(np.zeros((2, 3), np.uint8))
        with pytest.raises(ValueError, match=r"uint8 \(2, 3\)"):
            held.append(np.zeros((3, 2), np.uint8))
        with pytest.raises(ValueError, match="float32"):
            held.append(np.zeros((2, 3), np.float32))
        with pytest.raises(IndexError, match="index 1 is out of range for 1 arrays"):
            held[1]
        with pytest.raises(IndexError):
            held[-2]
        assert len(held) == 1
