"""Depth registration: which pixels of a tray lie at which depth down the hole.

A core tray holds the core in **sticks**: parallel channels separated by dividers, each laid in the order it
came out of the hole. Scanned, the sticks run either down the lines (a Specim scan of a tray whose channels lie
along the direction of travel, like hsimin's sample tray) or across them. :func:`find_sticks` finds them from the
core mask alone:

1. the core fraction of every column and of every line is computed; along the axis across the sticks the
   dividers and walls show as runs of (almost) no core. Positions whose core fraction is at least
   ``threshold`` times the profile's maximum are stick positions; runs of them at least ``min_width`` wide are
   sticks (narrower runs are debris or labels). The orientation with more sticks wins; on a tie, sticks run
   along the longer side of the core's bounding box;
2. within each stick, positions along it whose core fraction (across the stick's width) is at least
   ``threshold`` are core; the stick spans from its first to its last core position. Positions inside that
   span without core are **gaps** (broken core pushed apart, missing pieces).

:func:`register_depth` then gives every core pixel a depth, in reading order: sticks left to right (or top to
bottom), each from its start (top or left) to its end; ``order='reversed'`` reads a tray scanned the other way
round (rotated 180 degrees). Depth grows linearly along the concatenated sticks from ``depth_from_m`` to
``depth_to_m``. With ``gaps='keep'`` (default) a gap keeps its own length of depth (the core on either side is
not stretched to close it) and its pixels get no depth; with ``gaps='close'`` only core positions count, so the
depth range is shared out over the core alone (for trays where gaps are only pieces pushed apart). Per-stick
depth ranges (from a manifest) replace the tray range: each stick is registered within its own range.

Pixels outside the mask, in gaps or outside every stick get NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import InputError

__all__ = ["GAP_MODES", "ORDERS", "Stick", "find_sticks", "register_depth"]

GAP_MODES = ("keep", "close")
ORDERS = ("default", "reversed")


@dataclass(frozen=True)
class Stick:
    """One core stick of a tray.

    Attributes
    ----------
    index : position in reading order (0 first)
    runs_along : ``'lines'`` (the stick runs down the lines; it occupies columns ``across``) or ``'samples'``
        (it runs along the samples; it occupies lines ``across``)
    across : (start, stop) positions across the stick (columns for ``'lines'``, lines for ``'samples'``)
    along : (start, stop) positions along the stick from its first to its last core position (stop exclusive)
    core_positions : positions along the stick holding core (``along`` less gaps)
    depth_from_m, depth_to_m : depth at the start and the end of the stick (NaN when not registered)
    """

    index: int
    runs_along: str
    across: tuple[int, int]
    along: tuple[int, int]
    core_positions: int
    depth_from_m: float = float("nan")
    depth_to_m: float = float("nan")

    @property
    def length(self) -> int:
        return int(self.along[1] - self.along[0])

    def to_dict(self) -> dict:
        return {"index": self.index, "runs_along": self.runs_along, "across": list(self.across),
                "along": list(self.along), "core_positions": self.core_positions,
                "depth_from_m": None if np.isnan(self.depth_from_m) else float(self.depth_from_m),
                "depth_to_m": None if np.isnan(self.depth_to_m) else float(self.depth_to_m)}


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True."""
    f = np.concatenate([[False], np.asarray(flags, bool), [False]])
    d = np.diff(f.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _candidate(mask: np.ndarray, runs_along: str, threshold: float, min_width: int) -> list[tuple[int, int]]:
    prof = mask.mean(axis=0 if runs_along == "lines" else 1)
    top = float(prof.max()) if prof.size else 0.0
    if top <= 0:
        return []
    return [r for r in _runs(prof >= threshold * top) if r[1] - r[0] >= min_width]


def find_sticks(mask, *, runs_along: str = "auto", threshold: float = 0.2, min_width: int | None = None,
                min_length: int | None = None, order: str = "default") -> list[Stick]:
    """The core sticks of a tray from its core mask (see the module docstring).

    Parameters
    ----------
    mask : (H, W) bool, True on core
    runs_along : ``'auto'``, ``'lines'`` or ``'samples'``
    threshold : fraction of the profile maximum (across) and of the stick width (along) that counts as core
    min_width : narrowest stick in pixels (default: 2 % of the side across the sticks, at least 2)
    min_length : shortest stick in pixels along (default: 2 % of the side along the sticks, at least 2)
    order : ``'default'`` (left to right / top to bottom, each stick from its start) or ``'reversed'``

    Returns the sticks in reading order (empty when the mask holds no core).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise InputError(f"a core mask is (H, W); got shape {m.shape}")
    if runs_along not in ("auto", "lines", "samples"):
        raise InputError(f"runs_along must be 'auto', 'lines' or 'samples', got {runs_along!r}")
    if order not in ORDERS:
        raise InputError(f"order must be one of {ORDERS}, got {order!r}")
    if not 0 < threshold < 1:
        raise InputError(f"threshold must be between 0 and 1, got {threshold}")
    H, W = m.shape
    if not m.any():
        return []

    def width_for(ra):
        across_len = W if ra == "lines" else H
        return max(2, int(round(0.02 * across_len))) if min_width is None else max(1, int(min_width))

    if runs_along == "auto":
        cands = {ra: _candidate(m, ra, threshold, width_for(ra)) for ra in ("lines", "samples")}
        n_l, n_s = len(cands["lines"]), len(cands["samples"])
        if n_l != n_s:
            runs_along = "lines" if n_l > n_s else "samples"
        else:
            rows = np.flatnonzero(m.any(axis=1))
            cols = np.flatnonzero(m.any(axis=0))
            runs_along = "lines" if (rows[-1] - rows[0]) >= (cols[-1] - cols[0]) else "samples"
    across_runs = _candidate(m, runs_along, threshold, width_for(runs_along))
    along_len = H if runs_along == "lines" else W
    min_len = max(2, int(round(0.02 * along_len))) if min_length is None else max(1, int(min_length))
    sticks = []
    for a0, a1 in across_runs:
        part = m[:, a0:a1] if runs_along == "lines" else m[a0:a1, :].T
        frac = part.mean(axis=1)  # core fraction at each position along the stick
        core = frac >= threshold
        pos = np.flatnonzero(core)
        if pos.size == 0:
            continue
        b0, b1 = int(pos[0]), int(pos[-1]) + 1
        if b1 - b0 < min_len:
            continue
        sticks.append((a0, a1, b0, b1, int(core[b0:b1].sum())))
    if order == "reversed":
        sticks = sticks[::-1]
    return [Stick(i, runs_along, (a0, a1), (b0, b1), n) for i, (a0, a1, b0, b1, n) in enumerate(sticks)]


def register_depth(mask, depth_from_m: float | None, depth_to_m: float | None, *,
                   sticks: Sequence[Stick] | None = None, stick_depths_m: Sequence[tuple[float, float]] | None = None,
                   gaps: str = "keep", order: str = "default", **find_options) -> tuple[np.ndarray, list[Stick]]:
    """Depth of every core pixel of a tray (see the module docstring).

    Parameters
    ----------
    mask : (H, W) bool, True on core
    depth_from_m, depth_to_m : depth range of the tray (None: no depths; NaN everywhere unless
        ``stick_depths_m`` is given)
    sticks : sticks from :func:`find_sticks` (found here from ``mask`` if None)
    stick_depths_m : (from, to) per stick in reading order; must have one entry per stick found
    gaps : ``'keep'`` (gaps take their length of depth, their pixels get none) or ``'close'``
    order : reading order, ``'default'`` or ``'reversed'`` (used when the sticks are found here)
    find_options : passed to :func:`find_sticks`

    Returns
    -------
    depth : (H, W) float64 metres, NaN off core, in gaps and outside sticks
    sticks : the sticks with their depth ranges filled in

    Raises :class:`InputError` when ``stick_depths_m`` does not match the number of sticks found.
    """
    m = np.asarray(mask, dtype=bool)
    if gaps not in GAP_MODES:
        raise InputError(f"gaps must be one of {GAP_MODES}, got {gaps!r}")
    if sticks is None:
        sticks = find_sticks(m, order=order, **find_options)
    sticks = list(sticks)
    H, W = m.shape
    depth = np.full((H, W), np.nan, dtype=np.float64)
    have_range = depth_from_m is not None and depth_to_m is not None
    if stick_depths_m is not None:
        ranges = [(float(a), float(b)) for a, b in stick_depths_m]
        if len(ranges) != len(sticks):
            raise InputError(f"{len(ranges)} per-stick depth ranges were given but {len(sticks)} core sticks were "
                             "found in the tray; give one range per stick in reading order, or the tray's range only")
    elif have_range and sticks:
        # Share the tray's range out over the sticks in proportion to their length (or their core, gaps='close').
        lengths = np.array([s.length if gaps == "keep" else s.core_positions for s in sticks], np.float64)
        total = lengths.sum()
        span = float(depth_to_m) - float(depth_from_m)
        edges = float(depth_from_m) + span * np.concatenate([[0.0], np.cumsum(lengths)]) / max(total, 1.0)
        ranges = [(float(edges[i]), float(edges[i + 1])) for i in range(len(sticks))]
    else:
        return depth, sticks
    out = []
    for s, (d0, d1) in zip(sticks, ranges):
        a0, a1 = s.across
        b0, b1 = s.along
        view = depth[:, a0:a1] if s.runs_along == "lines" else depth[a0:a1, :].T
        part = m[:, a0:a1] if s.runs_along == "lines" else m[a0:a1, :].T
        n = b1 - b0
        reverse = order == "reversed"
        if gaps == "keep":
            t = (np.arange(n, dtype=np.float64) + 0.5) / n
        else:
            core = part[b0:b1].mean(axis=1) >= find_options.get("threshold", 0.2)
            rank = np.cumsum(core) - 0.5
            t = np.where(core, rank / max(int(core.sum()), 1), np.nan)
        if reverse:
            t = 1.0 - t if gaps == "keep" else np.where(np.isnan(t), np.nan, 1.0 - t)
        pos_depth = d0 + (d1 - d0) * t
        block = np.where(part[b0:b1], pos_depth[:, None], np.nan)
        view[b0:b1] = block
        out.append(Stick(s.index, s.runs_along, s.across, s.along, s.core_positions, d0, d1))
    return depth, out
