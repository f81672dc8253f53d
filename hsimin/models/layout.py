"""The one place that converts between numpy band-last arrays and torch ``(N, B, H, W)`` tensors
(ARCHITECTURE §3). Nothing else in hsimin transposes between the two layouts.

numpy side (band last)          torch side
``(B,)`` one spectrum           ``(1, B, 1, 1)``
``(N, B)`` spectra / pixels     ``(N, B, 1, 1)``
``(H, W, B)`` a cube block      ``(1, B, H, W)``
``(N, H, W, B)`` patches        ``(N, B, H, W)``
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import InputError

__all__ = ["to_torch", "to_numpy", "extract_patches"]


def _as_float32(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype.kind not in "fiub":
        raise InputError(f"expected a numeric array of reflectance, got dtype {a.dtype}")
    if a.dtype != np.float32 or not a.flags.writeable or any(s < 0 for s in a.strides):
        a = a.astype(np.float32)        # a copy: torch cannot share read-only (memmap) or reversed buffers
    return a


def to_torch(array, *, device: str | torch.device | None = None) -> torch.Tensor:
    """A band-last numpy array as a float32 ``(N, B, H, W)`` tensor.

    ``(B,)`` -> ``(1, B, 1, 1)``; ``(N, B)`` -> ``(N, B, 1, 1)``; ``(H, W, B)`` -> ``(1, B, H, W)``;
    ``(N, H, W, B)`` -> ``(N, B, H, W)``. Writable float32 input is shared, not copied (the tensor is then a
    channels-last view of it; convolutions accept that layout directly); other dtypes and read-only arrays
    (memmaps) are copied to float32. ``device`` moves the result (e.g. ``"cuda"``).
    """
    a = _as_float32(array)
    if a.ndim == 1:
        t = torch.from_numpy(a).reshape(1, -1, 1, 1)
    elif a.ndim == 2:
        t = torch.from_numpy(a)[:, :, None, None]
    elif a.ndim == 3:
        t = torch.from_numpy(a).permute(2, 0, 1)[None]
    elif a.ndim == 4:
        t = torch.from_numpy(a).permute(0, 3, 1, 2)
    else:
        raise InputError(f"to_torch takes (B,), (N, B), (H, W, B) or (N, H, W, B) band-last arrays, got shape "
                         f"{a.shape}")
    return t if device is None else t.to(device)


def to_numpy(tensor: torch.Tensor, ndim: int | None = None) -> np.ndarray:
    """A torch tensor back as a band-last (channel-last) numpy array: the inverse of :func:`to_torch`.

    ``(N, C, H, W)`` -> ``(N, H, W, C)`` by default; ``(N, C)`` (pooled outputs, logits) stays ``(N, C)``.
    ``ndim`` asks for the numpy form of that rank: 4 -> ``(N, H, W, C)``; 3 -> ``(H, W, C)`` (needs N = 1);
    2 -> ``(N, C)`` (needs H = W = 1); 1 -> ``(C,)`` (needs N = H = W = 1). So
    ``to_numpy(to_torch(a), ndim=a.ndim)`` equals ``a``. Detaches and moves to the CPU; the dtype is kept.
    """
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.ndim == 2:
        t = t[:, :, None, None]
    if t.ndim != 4:
        raise InputError(f"to_numpy takes (N, C, H, W) or (N, C) tensors, got shape {tuple(t.shape)}")
    out = t.permute(0, 2, 3, 1).numpy()
    want = (2 if tensor.ndim == 2 else 4) if ndim is None else int(ndim)
    n, h, w, c = out.shape
    needs = {4: True, 3: n == 1, 2: h == w == 1, 1: n == h == w == 1}
    if want not in needs:
        raise InputError(f"to_numpy ndim must be 1, 2, 3 or 4, got {ndim!r}")
    if not needs[want]:
        raise InputError(f"cannot return a tensor of shape {tuple(tensor.shape)} as a {want}-D band-last array")
    shapes = {4: out.shape, 3: (h, w, c), 2: (n, c), 1: (c,)}
    return out.reshape(shapes[want])


def extract_patches(cube_block, rows, cols, size: int, *, pad_mode: str = "edge") -> torch.Tensor:
    """``size`` x ``size`` windows of a band-last block, centred on pixels ``(rows[i], cols[i])``.

    Parameters
    ----------
    cube_block : ``(H, W, B)`` array (e.g. a :class:`hsimin.core.blocks.Block`'s ``data``)
    rows, cols : ``(M,)`` integer pixel coordinates inside the block
    size : window side; the centre pixel sits at index ``size // 2`` (the same convention as the backbones'
        centre-pixel models, so even sizes extend one pixel further up/left)
    pad_mode : how windows that cross the block edge are filled: a :func:`numpy.pad` mode
        (``"edge"`` replicates the border pixel, ``"reflect"``, ``"constant"`` = zeros)

    Returns a float32 tensor ``(M, B, size, size)``, a fresh copy (the block is not kept alive).
    """
    block = np.asarray(cube_block)
    if block.ndim != 3:
        raise InputError(f"extract_patches takes an (H, W, B) block, got shape {block.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"patch size must be a positive integer, got {size!r}")
    size = int(size)
    rows = np.asarray(rows).reshape(-1)
    cols = np.asarray(cols).reshape(-1)
    if rows.shape != cols.shape or (rows.size and (rows.dtype.kind not in "iu" or cols.dtype.kind not in "iu")):
        raise InputError(f"rows and cols must be integer arrays of one length, got {rows.shape} {rows.dtype} and "
                         f"{cols.shape} {cols.dtype}")
    H, W, B = block.shape
    if rows.size and (rows.min() < 0 or rows.max() >= H or cols.min() < 0 or cols.max() >= W):
        raise InputError(f"patch centres must lie inside the {H} x {W} block; rows span "
                         f"{rows.min()}..{rows.max()}, cols {cols.min()}..{cols.max()}")
    before, after = size // 2, size - 1 - size // 2
    crosses = rows.size and (rows.min() < before or cols.min() < before
                             or rows.max() + after >= H or cols.max() + after >= W)
    if crosses:
        try:
            block = np.pad(block, ((before, after), (before, after), (0, 0)), mode=pad_mode)
        except ValueError as exc:
            raise InputError(f"cannot pad the block with mode {pad_mode!r} ({exc}); use 'edge' or 'constant'") \
                from None
        r0, c0 = rows, cols
    else:
        r0, c0 = rows - before, cols - before
    windows = np.lib.stride_tricks.sliding_window_view(block, (size, size), axis=(0, 1))   # (H', W', B, s, s)
    patches = windows[r0, c0]                                                              # (M, B, s, s) copy
    return torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
