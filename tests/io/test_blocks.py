"""iter_blocks streams line blocks that tile the cube exactly."""
import numpy as np
import pytest

from hsimin.core import Cube, InputError
from hsimin.io import iter_blocks
from hsimin.io.blocks import block_lines


def test_blocks_tile_the_cube_and_carry_the_mask():
    rng = np.random.default_rng(3)
    data = rng.random((11, 4, 6), dtype=np.float32)
    mask = rng.random((11, 4)) > 0.3
    cube = Cube(data, np.linspace(1000, 2000, 6), mask=mask)
    blocks = list(iter_blocks(cube, lines=4))
    assert [b.rows for b in blocks] == [slice(0, 4), slice(4, 8), slice(8, 11)]
    np.testing.assert_array_equal(np.concatenate([b.data for b in blocks]), data)
    np.testing.assert_array_equal(np.concatenate([b.mask for b in blocks]), mask)


def test_block_budget_in_bytes():
    cube = Cube(np.zeros((100, 10, 10), np.float32), np.arange(10.0) + 1000)
    assert block_lines(cube, max_bytes=10 * 10 * 4 * 7) == 7
    assert block_lines(cube, max_bytes=1) == 1
    with pytest.raises(InputError):
        block_lines(cube, lines=0)
