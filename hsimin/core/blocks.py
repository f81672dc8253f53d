"""Streaming a cube in line blocks, so any step runs in bounded memory on cubes larger than RAM."""
from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

from .errors import InputError
from .types import Cube

DEFAULT_BLOCK_BYTES = 256 * 2**20
"""Default memory budget of one block of float32 reflectance: 256 MiB."""


class Block(NamedTuple):
    """One block of lines: ``rows`` is the slice of cube lines it covers, ``data`` (h, W, B) float32
    reflectance, ``mask`` (h, W) bool or None (True = core)."""

    rows: slice
    data: np.ndarray
    mask: np.ndarray | None


def block_lines(cube: Cube, lines: int | None = None, max_bytes: int | None = None) -> int:
    """Number of lines per block: ``lines`` if given, else as many as fit ``max_bytes`` (default 256 MiB)."""
    H, W, B = cube.shape
    if lines is not None:
        if int(lines) < 1:
            raise InputError(f"lines per block must be >= 1, got {lines}")
        return int(lines)
    budget = DEFAULT_BLOCK_BYTES if max_bytes is None else int(max_bytes)
    return max(1, min(H, budget // max(1, W * B * 4)))


def iter_blocks(cube: Cube, lines: int | None = None, *, max_bytes: int | None = None) -> Iterator[Block]:
    """Yield the cube as consecutive line blocks.

    Parameters
    ----------
    cube : Cube, whose data may be a memmap or a lazy reader-backed array
    lines : lines per block; default: as many as fit ``max_bytes``
    max_bytes : memory budget per block (float32), default 256 MiB

    Each block is read from disk when it is reached and released when the caller drops it, so peak
    memory is one or two blocks whatever the cube's size.
    """
    H = cube.shape[0]
    n = block_lines(cube, lines, max_bytes)
    for r0 in range(0, H, n):
        r1 = min(H, r0 + n)
        data = np.asarray(cube.data[r0:r1], dtype=np.float32)
        mask = None if cube.mask is None else cube.mask[r0:r1]
        yield Block(slice(r0, r1), data, mask)
