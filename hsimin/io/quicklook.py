"""PNG quicklooks: a false-colour picture of a cube, and a colour map of mineral labels with a legend.

Both write through :func:`hsimin.io.atomic.atomic_output`; neither needs a display (Pillow for the cube
picture, matplotlib's Agg canvas without pyplot for the map). A quicklook streams the cube in line blocks
and keeps only the three bands it shows, decimated to at most ``max_pixels``, so a 2 GB tray costs a few
tens of MB.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError, OutputError
from ..core.types import Cube, MineralMap
from .atomic import atomic_output
from .blocks import iter_blocks
from .colors import UNCLASSIFIED_COLOR, class_colors

RGB_PRESETS: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("true colour", (640.0, 550.0, 460.0)),
    ("SWIR false colour", (2200.0, 1700.0, 1300.0)),
)
"""Default (R, G, B) wavelengths in nm, the first preset the cube covers wins. A cube covering neither
gets three wavelengths at 85 %, 50 % and 15 % of its range (longest in red)."""

DEFAULT_MAX_PIXELS = 4_000_000
"""A quicklook larger than this (lines x samples) is decimated by an integer step on both axes."""

QUICKLOOK_BLOCK_BYTES = 64 * 2**20
"""Default block budget of a quicklook (it keeps 3 bands of each block, so small blocks cost no speed)."""


def choose_rgb_bands(wavelengths: ArrayLike, rgb_nm: Sequence[float] | None = None,
                     bad_bands: ArrayLike | None=None) -> tuple[np.ndarray, np.ndarray]:
    """Band indices (3,) and their wavelengths (3,) nm for the red, green and blue channels.

    ``rgb_nm`` asks for three wavelengths (nearest good band each; :class:`InputError` if one lies outside
    the cube's range by more than two band steps). By default the first of :data:`RGB_PRESETS` inside the
    range is used, else 85/50/15 % of the range. Bad bands are never picked while a good one exists.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1 or wl.size == 0:
        raise InputError("a quicklook needs at least one band")
    good = np.ones(wl.size, bool) if bad_bands is None else ~np.asarray(bad_bands, bool)
    if not good.any():
        good = np.ones(wl.size, bool)
    lo, hi = float(wl[good].min()), float(wl[good].max())
    step = float(np.median(np.diff(wl))) if wl.size > 1 else 0.0
    if rgb_nm is not None:
        want = np.asarray(rgb_nm, dtype=np.float64).ravel()
        if want.size != 3 or not np.all(np.isfinite(want)):
            raise InputError(f"rgb_nm must be three wavelengths in nm (red, green, blue), got {rgb_nm!r}")
        outside = [w for w in want if w < lo - 2 * step or w > hi + 2 * step]
        if outside:
            raise InputError(f"rgb_nm {outside[0]:g} nm is outside the cube's range {lo:g}-{hi:g} nm; pick three "
                             "wavelengths inside it")
    else:
        want = None
        for _, preset in RGB_PRESETS:
            if min(preset) >= lo - step and max(preset) <= hi + step:
                want = np.asarray(preset)
                break
        if want is None:
            want = lo + np.array([0.85, 0.5, 0.15]) * (hi - lo)
    cand = np.flatnonzero(good)
    idx = np.array([cand[np.argmin(np.abs(wl[cand] - w))] for w in want], dtype=np.intp)
    return idx, wl[idx]


def _stretch(values: np.ndarray, valid: np.ndarray, stretch) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (lo, hi) percentiles of ``values`` (N, 3) where ``valid`` (N,)."""
    p_lo, p_hi = (float(s) for s in stretch)
    if not 0 <= p_lo < p_hi <= 100:
        raise InputError(f"stretch must be two percentiles 0 <= low < high <= 100, got {stretch!r}")
    v = values[valid]
    if v.shape[0] == 0:
        return np.zeros(3), np.ones(3)
    lo, hi = np.percentile(v, [p_lo, p_hi], axis=0)
    flat = hi <= lo
    hi = np.where(flat, lo + 1.0, hi)
    return lo, hi


def quicklook_rgb(cube: Cube, *, rgb_nm: Sequence[float] | None = None, stretch=(2, 98),
                  max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None) -> np.ndarray:
    """(h, w, 3) uint8 false-colour picture of a cube.

    Three bands (:func:`choose_rgb_bands`), each stretched between its ``stretch`` percentiles (computed
    over valid pixels of the picture itself) to 0-255. Pixels that are NaN in a shown band, or False in
    ``cube.mask``, are black. The cube is streamed in line blocks of at most ``max_bytes`` (default
    64 MiB); the picture keeps every ``step``-th line and sample, ``step`` the smallest integer giving at
    most ``max_pixels`` pixels.
    """
    H, W, B = cube.shape
    if int(max_pixels) < 1:
        raise InputError(f"max_pixels must be >= 1, got {max_pixels}")
    idx, _ = choose_rgb_bands(cube.wavelengths, rgb_nm, cube.bad_bands)
    step = max(1, math.ceil(math.sqrt(H * W / int(max_pixels)))) if H * W else 1
    rows = range(0, H, step)
    out = np.zeros((len(rows), len(range(0, W, step)), 3), dtype=np.float32)
    valid = np.zeros(out.shape[:2], dtype=bool)
    for block in iter_blocks(cube, max_bytes=QUICKLOOK_BLOCK_BYTES if max_bytes is None else max_bytes):
        r0, r1 = block.rows.start, block.rows.stop
        first = -(-r0 // step) * step  # first kept line in this block
        if first >= r1:
            continue
        local = slice(first - r0, r1 - r0, step)
        pix = block.data[local, ::step][..., idx]
        o0 = first // step
        o1 = o0 + pix.shape[0]
        out[o0:o1] = pix
        ok = np.isfinite(pix).all(axis=-1)
        if block.mask is not None:
            ok &= np.asarray(block.mask, bool)[local, ::step]
        valid[o0:o1] = ok
    flat = out.reshape(-1, 3)
    lo, hi = _stretch(flat, valid.ravel(), stretch)
    scaled = (out - lo.astype(np.float32)) / (hi - lo).astype(np.float32)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled[~valid] = 0.0
    return np.round(scaled * 255.0).astype(np.uint8)


def save_quicklook(cube: Cube, path: str | os.PathLike, *, overwrite: bool = False,
                   rgb_nm: Sequence[float] | None = None, stretch=(2, 98),
                   max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None) -> Path:
    """Write a false-colour PNG of a cube (see :func:`quicklook_rgb` for the picture). Atomic.

    Parameters
    ----------
    cube : (H, W, B) cube, read in line blocks (memory: one block plus the picture)
    path : the PNG to write
    overwrite : replace an existing file
    rgb_nm : (red, green, blue) wavelengths in nm; default (640, 550, 460) for cubes covering the visible,
        (2200, 1700, 1300) for SWIR cubes, else spread over the cube's range
    stretch : (low, high) percentiles mapped to 0 and 255, per channel
    max_pixels, max_bytes : picture size limit and block budget

    The PNG holds the wavelengths shown as a text chunk. Returns the path written.
    """
    from PIL import Image, PngImagePlugin  # Pillow comes with matplotlib

    p = Path(path)
    _, shown = choose_rgb_bands(cube.wavelengths, rgb_nm, cube.bad_bands)
    rgb = quicklook_rgb(cube, rgb_nm=rgb_nm, stretch=stretch, max_pixels=max_pixels, max_bytes=max_bytes)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "hsimin")
    info.add_text("Description", "hsimin quicklook: R={:.1f} nm, G={:.1f} nm, B={:.1f} nm, stretch {:g}-{:g} %"
                  .format(*shown, *stretch))
    with atomic_output(p, overwrite=overwrite) as tmp:
        try:
            Image.fromarray(np.ascontiguousarray(rgb)).save(tmp, format="PNG", pnginfo=info)
        except OSError as exc:  # disk full, quota, I/O error
            raise OutputError(f"writing the PNG failed ({exc})", path=p) from None
    return p


def map_rgb(mineral_map: MineralMap) -> np.ndarray:
    """(H, W, 3) uint8 colours of a map's labels (:func:`hsimin.io.colors.class_colors`; unclassified black)."""
    K = len(mineral_map.classes)
    lut = np.vstack([class_colors(mineral_map.classes).reshape(K, 3),
                     np.asarray(UNCLASSIFIED_COLOR, np.uint8)[None]])
    lab = np.asarray(mineral_map.labels)
    return lut[np.where(lab >= 0, lab, K)]


def class_fractions(mineral_map: MineralMap) -> tuple[np.ndarray, float]:
    """Fraction of all pixels in each class (K,) and the unclassified fraction."""
    lab = np.asarray(mineral_map.labels, dtype=np.int64).ravel()
    K = len(mineral_map.classes)
    counts = np.bincount(lab + 1, minlength=K + 1).astype(np.float64)
    total = max(1, lab.size)
    return counts[1:] / total, counts[0] / total


def save_map_png(mineral_map: MineralMap, path: str | os.PathLike, *, overwrite: bool = False,
                 legend: bool = True, title: str | None = None, dpi: int = 100,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> Path:
    """Write a mineral map as a PNG: class colours (unclassified black), and a legend of the classes present
    with the percentage of all pixels each covers, largest first. Atomic.

    The picture is drawn at about its pixel size (long side scaled into 300-1600 px, maps larger than
    ``max_pixels`` decimated by an integer step, nearest neighbour so labels never blend). Uses
    matplotlib's Agg canvas directly: no pyplot state, no display. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    p = Path(path)
    H, W = mineral_map.shape
    rgb = map_rgb(mineral_map)
    step = max(1, math.ceil(math.sqrt(H * W / int(max_pixels)))) if H * W else 1
    shown = rgb[::step, ::step] if H * W else np.zeros((1, 1, 3), np.uint8)
    h, w = shown.shape[:2]
    long_side = max(h, w)
    scale = min(max(long_side, 300), 1600) / long_side
    fig = Figure(figsize=(max(w * scale / dpi, 1.0), max(h * scale / dpi, 1.0)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(shown, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    if title:
        ax.set_title(str(title), fontsize=10)
    if legend:
        fractions, unclassified = class_fractions(mineral_map)
        colors = class_colors(mineral_map.classes).reshape(-1, 3) / 255.0
        order = sorted((i for i in range(len(fractions)) if fractions[i] > 0), key=lambda i: (-fractions[i], i))
        handles = [Patch(facecolor=colors[i], edgecolor="0.3", label=f"{mineral_map.classes[i]}  "
                                                                     f"{100 * fractions[i]:.1f} %")
                   for i in order]
        if unclassified > 0:
            handles.append(Patch(facecolor=np.asarray(UNCLASSIFIED_COLOR) / 255.0, edgecolor="0.3",
                                 label=f"unclassified  {100 * unclassified:.1f} %"))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                      frameon=False, fontsize=8, title="pixels", title_fontsize=8)
    with atomic_output(p, overwrite=overwrite) as tmp:
        try:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1,
                        metadata={"Software": "hsimin"})
        except OSError as exc:  # disk full, quota, I/O error
            raise OutputError(f"writing the PNG failed ({exc})", path=p) from None
    return p
