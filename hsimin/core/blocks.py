"""Streaming a cube in line blocks, so any step runs in bounded memory on cubes larger than RAM."""
from __future__ import annotations

import os
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


def available_memory() -> int | None:
    """Bytes of memory this machine can still give a process without swapping (``MemAvailable`` of
    ``/proc/meminfo`` on Linux, free pages elsewhere), or None when it cannot tell."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_output_memory(cube: Cube, nbytes: int, what: str = "its output maps") -> None:
    """Refuse, before any work, a job whose in-memory outputs (``nbytes``: the (H, W, ...) arrays it will fill)
    would not fit in the memory left: streaming keeps the *input* in bounded memory, but the maps of a huge cube are
    themselves huge, and running out of memory half-way gives a MemoryError or the kernel's OOM killer, not an
    answer. Raises :class:`InputError` naming the cube."""
    free = available_memory()
    if free is None or nbytes <= 0.9 * free:
        return
    H, W = cube.shape[:2]
    source = cube.meta.source if cube.meta is not None else None
    raise InputError(f"mapping this cube's {H} x {W} pixels needs about {nbytes / 1e9:.1f} GB of memory for {what}, "
                     f"more than the {free / 1e9:.1f} GB available; run it on a machine with more memory, or split "
                     "the cube into parts", path=source)
