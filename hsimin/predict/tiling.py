"""Tiling for inference on whole cubes: line blocks with a halo, spatial tiles with overlap, and the two facts
about a spatial model that make stitching seamless.

A model that looks at neighbouring pixels (a patch classifier, a dense U-Net) gives the right answer for a
pixel only if it sees every input pixel that can influence it. Two properties of the network decide what
"every" means, and both are *measured* here on the model itself, so no code needs to know an architecture's
name or its layer list:

* :func:`receptive_radius` — how far (in pixels) an input pixel can influence an output pixel. Measured by
  back-propagating from the centre output pixel of a probe tile and finding the farthest input pixel with a
  non-zero gradient (probe tiles grow until the influence stops short of their border).
* :func:`translation_period` — the smallest shift under which the network is translation-equivariant. A plain
  convolution stack has period 1; a network with ``L`` stride-2 poolings (a U-Net) has period ``2 ** L``: its
  pooling grid is anchored at the input's top-left corner, so a tile must start at a multiple of the period
  for its output to match the whole-image output.

A tile of the output then needs its input window widened by a halo of at least the receptive radius, with
window starts at multiples of the period; inside that, the output equals the output of one whole-image pass
(up to floating-point summation order). :func:`plan_tiles` lays out such tiles; :func:`iter_halo_blocks`
streams a cube in line blocks with the same halo above and below (through :func:`hsimin.core.blocks.iter_blocks`,
reading every line once), so memory stays bounded on cubes larger than RAM.
"""
from __future__ import annotations

import math
import weakref
from typing import Iterator, NamedTuple

import numpy as np
import torch
from torch import nn

from ..core.blocks import iter_blocks
from ..core.errors import InputError, ModelError
from ..core.types import Cube

__all__ = ["HaloBlock", "Tile", "iter_halo_blocks", "plan_tiles", "receptive_radius", "round_up",
           "translation_period"]

_MEASURED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()
"""Per-model cache of measured facts (receptive radius, translation period)."""


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple`` (>= 1)."""
    m = max(1, int(multiple))
    return int(math.ceil(int(value) / m) * m)


def _cache(model: nn.Module) -> dict:
    try:
        return _MEASURED.setdefault(model, {})
    except TypeError:  # pragma: no cover - a module that cannot be weakly referenced: measure every time
        return {}


def _dense_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = model(x)
    if y.ndim != 4:
        raise ModelError(f"a dense model must return (N, K, H, W) outputs, got shape {tuple(y.shape)}")
    return y


def receptive_radius(model: nn.Module, in_bands: int, *, start: int = 32, limit: int = 1024,
                     seed: int = 0) -> int:
    """Receptive radius (pixels) of a dense model: the farthest input pixel, in rows or columns, that changes
    the centre output pixel.

    Probes a random ``(1, in_bands, P, P)`` tile (P = ``start``, doubled while the influence reaches the probe's
    border, up to ``limit``); the gradient of the centre output pixel's class scores with respect to the input
    marks the pixels that influence it. Two random probes are taken and the farther extent kept (a ReLU can
    zero a path on one input, not on every input). The model is run in eval mode; the result is cached per
    model object. Raises :class:`ModelError` if the influence still reaches the border of a ``limit`` probe.
    """
    cache = _cache(model)
    if "radius" in cache:
        return cache["radius"]
    was = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            radius = _measure_radius(model, int(in_bands), max(8, int(start)), int(limit), gen, device)
    finally:
        model.train(was)
    cache["radius"] = radius
    return radius


def _measure_radius(model, in_bands: int, size: int, limit: int, gen, device) -> int:
    """Farthest influence on the centre output pixel over two random probes of side ``size``, doubling ``size``
    while the influence reaches the probe's border."""
    while True:
        radius = 0
        for _ in range(2):
            x = torch.randn(1, in_bands, size, size, generator=gen).to(device).requires_grad_(True)
            y = _dense_forward(model, x)
            c = size // 2
            y[0, :, c, c].abs().sum().backward()
            g = x.grad.detach().abs().sum(dim=(0, 1)).cpu().numpy()
            rows, cols = np.nonzero(g > 0)
            if rows.size:
                radius = max(radius, int(np.abs(rows - c).max()), int(np.abs(cols - c).max()))
        if radius < size // 2 - 1:
            return radius
        if size >= limit:
            raise ModelError(f"the model's receptive field reaches beyond a {size} x {size} probe; it cannot be "
                             "tiled exactly (pass an explicit overlap)")
        size *= 2


def translation_period(model: nn.Module, in_bands: int, radius: int | None = None, *, max_period: int = 64,
                       seed: int = 1, rtol: float = 1e-4, atol: float = 1e-5) -> int:
    """Smallest power-of-two shift ``s`` (1, 2, 4, ... ``max_period``) under which a dense model is translation
    equivariant: ``model(x[..., s:, s:])`` equals ``model(x)[..., s:, s:]`` away from the borders (beyond the
    receptive radius). Pooling networks (U-Net) give ``2 ** levels``. Cached per model object."""
    cache = _cache(model)
    if "period" in cache:
        return cache["period"]
    r = receptive_radius(model, in_bands) if radius is None else int(radius)
    was = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    size = round_up(2 * r + 2 * max_period + 16, max_period)
    period = None
    try:
        with torch.inference_mode():
            x = torch.randn(2, int(in_bands), size, size, generator=gen).to(device)
            x[1] *= 3.0                                               # a second probe at another contrast
            full = _dense_forward(model, x)
            s = 1
            while s <= max_period:
                shifted = _dense_forward(model, x[..., s:, s:])
                lo, hi = r + 1, size - s - r - 1                      # interior of the shifted frame
                if hi > lo and torch.allclose(shifted[..., lo:hi, lo:hi], full[..., s + lo:s + hi, s + lo:s + hi],
                                              rtol=rtol, atol=atol):
                    period = s
                    break
                s *= 2
    finally:
        model.train(was)
    if period is None:
        raise ModelError(f"the model is not translation-equivariant for any shift up to {max_period} pixels; it "
                         "cannot be tiled exactly (use one tile: tile >= the cube's size)")
    cache["period"] = period
    return period


class Tile(NamedTuple):
    """One output tile and the input window that feeds it, in the coordinates of the array being tiled.

    ``out_rows``/``out_cols``: the output pixels this tile decides; ``in_rows``/``in_cols``: the input window
    (the tile widened by the halo, clipped to the array); ``crop``: the output pixels' position inside the
    window's output, as ``(row slice, col slice)``.
    """

    out_rows: slice
    out_cols: slice
    in_rows: slice
    in_cols: slice
    crop: tuple[slice, slice]


def plan_tiles(height: int, width: int, tile: int, halo: int, *, row_offset: int = 0,
               rows: slice | None = None) -> list[Tile]:
    """Tiles of ``tile`` x ``tile`` output pixels covering ``rows`` (default all) x all columns of a
    ``height`` x ``width`` array, each fed by a window widened by ``halo`` on every side (clipped to the array).

    ``row_offset`` is the array's first row in cube coordinates: tile rows start at cube rows that are multiples
    of ``tile`` (so tiles of consecutive line blocks line up with those of one whole-cube pass). Make ``tile``
    and ``halo`` multiples of the model's :func:`translation_period`.
    """
    if tile < 1 or halo < 0:
        raise InputError(f"tile must be >= 1 and halo >= 0, got tile {tile}, halo {halo}")
    r_lo, r_hi = (0, height) if rows is None else (rows.start or 0, height if rows.stop is None else rows.stop)
    out = []
    first = (row_offset + r_lo) // tile * tile - row_offset
    for r0 in range(first, r_hi, tile):
        a0, a1 = max(r0, r_lo), min(r0 + tile, r_hi)
        if a1 <= a0:
            continue
        i0, i1 = max(0, r0 - halo), min(height, r0 + tile + halo)
        for c0 in range(0, width, tile):
            c1 = min(c0 + tile, width)
            j0, j1 = max(0, c0 - halo), min(width, c1 + halo)
            out.append(Tile(slice(a0, a1), slice(c0, c1), slice(i0, i1), slice(j0, j1),
                            (slice(a0 - i0, a1 - i0), slice(c0 - j0, c1 - j0))))
    return out


class HaloBlock(NamedTuple):
    """A line block with ``halo`` lines of context above and below (fewer at the cube's top and bottom).

    ``rows``: the cube lines this block decides; ``data`` (h', W, B) float32 and ``mask`` (h', W) or None cover
    cube lines ``start .. start + h'``; ``core``: ``rows`` as a slice into ``data``.
    """

    rows: slice
    start: int
    data: np.ndarray
    mask: np.ndarray | None
    core: slice


def iter_halo_blocks(cube: Cube, lines: int, halo: int, *, max_bytes: int | None = None) -> Iterator[HaloBlock]:
    """Stream a cube in blocks of ``lines`` lines, each with ``halo`` lines of context above and below.

    Built on :func:`hsimin.core.blocks.iter_blocks`: every line is read once; a block is yielded when the next
    one has been read (its first ``halo`` lines are the bottom context), so at most two blocks (plus the
    context) are in memory. ``lines`` is raised to ``halo`` if smaller.
    """
    halo = max(0, int(halo))
    lines = max(int(lines), halo, 1)
    prev = None              # (rows, data, mask) of the block waiting for its bottom context
    top_data = top_mask = None
    for blk in iter_blocks(cube, lines, max_bytes=max_bytes):
        if prev is not None:
            yield _assemble(prev, top_data, top_mask, blk.data[:halo], None if blk.mask is None else blk.mask[:halo])
            top_data, top_mask = _tail(prev, halo)
        prev = (blk.rows, blk.data, blk.mask)
    if prev is not None:
        yield _assemble(prev, top_data, top_mask, None, None)


def _tail(prev, halo: int):
    _, data, mask = prev
    if halo == 0:
        return None, None
    return data[-halo:], None if mask is None else mask[-halo:]


def _assemble(prev, top_data, top_mask, bottom_data, bottom_mask) -> HaloBlock:
    rows, data, mask = prev
    parts = [p for p in (top_data, data, bottom_data) if p is not None and len(p)]
    full = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    if mask is None:
        full_mask = None
    else:
        mparts = [p for p in (top_mask, mask, bottom_mask) if p is not None and len(p)]
        full_mask = mparts[0] if len(mparts) == 1 else np.concatenate(mparts, axis=0)
    n_top = 0 if top_data is None else len(top_data)
    return HaloBlock(rows, rows.start - n_top, full, full_mask, slice(n_top, n_top + (rows.stop - rows.start)))
