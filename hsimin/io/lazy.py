"""Lazy, reader-backed cube arrays: :attr:`Cube.data` without loading the file.

A reader subclasses :class:`LazyCubeArray` and implements ``_read_lines(r0, r1)``, which returns lines
``r0:r1`` as a (h, W, B) float32 array in reflectance (scale applied, ignore values as NaN, bands in
increasing-wavelength order). Indexing reads only the lines it needs; ``np.asarray`` reads everything.
"""
from __future__ import annotations

import numpy as np


__all__ = ["LazyCubeArray", "expand_key"]


def expand_key(key, ndim: int = 3) -> tuple:
    """A numpy index as a tuple of exactly ``ndim`` entries: a lone key becomes a 1-tuple, ``...`` becomes the
    full slices it stands for, missing trailing axes become ``slice(None)``. Raises IndexError for too many
    indices. (``None``/newaxis is not supported: lazy cube views are indexed by readers and viewers, which never
    add axes.)"""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - (len(key) - 1)) + key[i + 1:]
    if len(key) > ndim:
        raise IndexError(f"too many indices for a {ndim}-D cube: {len(key)}")
    return key + (slice(None),) * (ndim - len(key))


class LazyCubeArray:
    """Array-like (H, W, B) float32 view of a cube on disk.

    Supports ``shape``, ``dtype``, ``ndim``, ``len``, ``np.asarray(x)`` and indexing with any numpy key
    (the first axis is resolved to a line range, read, then the rest of the key is applied).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, shape: tuple[int, int, int]):
        self._shape = tuple(int(s) for s in shape)

    # --- to implement -------------------------------------------------------------------------------
    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        """Lines r0:r1 (0 <= r0 <= r1 <= H) as a new (r1 - r0, W, B) float32 array."""
        raise NotImplementedError

    # --- array protocol -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def ndim(self) -> int:
        return 3

    @property
    def size(self) -> int:
        H, W, B = self._shape
        return H * W * B

    @property
    def nbytes(self) -> int:
        return self.size * 4

    def __len__(self) -> int:
        return self._shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self._read_lines(0, self._shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        first, *rest = expand_key(key)
        rest = tuple(rest)
        H = self._shape[0]
        if isinstance(first, (int, np.integer)):
            r = int(first) + H if first < 0 else int(first)
            if not 0 <= r < H:
                raise IndexError(f"line {first} out of range for {H} lines")
            return self._read_lines(r, r + 1)[(0,) + rest]
        if isinstance(first, slice):
            r0, r1, step = first.indices(H)
            if step == 1:
                block = self._read_lines(r0, max(r0, r1))
                return block[(slice(None),) + rest]
            lo, hi = (r0, r1) if step > 0 else (r1 + 1, r0 + 1)
            lo, hi = max(lo, 0), min(max(hi, lo), H)
            block = self._read_lines(lo, hi)
            return block[(slice(r0 - lo, (r1 - lo) if r1 - lo >= 0 else None, step),) + rest]
        idx = np.arange(H)[first]
        if idx.size == 0:
            return np.empty((0,) + self._shape[1:], np.float32)[(slice(None),) + rest]
        lo, hi = int(idx.min()), int(idx.max()) + 1
        return self._read_lines(lo, hi)[(idx - lo,) + rest]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self._shape}, dtype=float32)"
