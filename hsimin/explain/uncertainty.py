"""How sure a mineral map is, and which pixels to label next (active learning). numpy only.

:func:`margin_map` is the gap between the best and the second-best class score of every pixel (1 = certain,
0 = a tie between two classes). :func:`suggest_pixels` picks the pixels with the smallest margins, spread out
so that one confusing patch does not take every suggestion: the ones whose label would teach a model most.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.types import MineralMap

__all__ = ["margin_map", "suggest_pixels"]


def margin_map(mineral_map: MineralMap) -> np.ndarray:
    """(H, W) float32 margin between the best and second-best class of every pixel, NaN where there is no score.

    Uses ``scores`` (H, W, K) when the map has them (probabilities of a model, similarities of a matcher), else
    ``extra['topk_scores']`` (the k best scores, k >= 2), else ``confidence``.
    """
    if not isinstance(mineral_map, MineralMap):
        raise InputError(f"margin_map needs a MineralMap, got {type(mineral_map).__name__}")
    if mineral_map.scores is not None and mineral_map.scores.shape[2] >= 2:
        s = np.asarray(mineral_map.scores, dtype=np.float32)
        finite = np.isfinite(s).all(axis=2)
        top2 = -np.partition(-np.nan_to_num(s, nan=-np.inf), 1, axis=2)[:, :, :2]
        m = top2[:, :, 0] - top2[:, :, 1]
        return np.where(finite, m, np.nan).astype(np.float32)
    topk = mineral_map.extra.get("topk_scores")
    if topk is not None and np.ndim(topk) == 3 and np.shape(topk)[2] >= 2:
        t = np.asarray(topk, dtype=np.float32)
        return (t[:, :, 0] - t[:, :, 1]).astype(np.float32)
    if mineral_map.confidence is not None:
        c = np.asarray(mineral_map.confidence, dtype=np.float32).copy()
        c[mineral_map.labels < 0] = np.nan
        return c
    raise InputError("the map has no scores, top-k scores or confidence to measure its certainty by")


def suggest_pixels(uncertainty_or_map, n: int = 20, *, min_distance: int = 4, mask=None, exclude=None,
                   max_candidates: int = 200_000) -> np.ndarray:
    """The ``n`` least certain pixels, at least ``min_distance`` pixels apart (Chebyshev distance).

    Parameters
    ----------
    uncertainty_or_map : a :class:`MineralMap` (its :func:`margin_map` is used: smallest margin first) or an
        (H, W) array of margins (smallest first); NaN pixels are never suggested
    n : how many pixels
    min_distance : suggestions closer than this to an earlier one are skipped (0: no spreading)
    mask : (H, W) bool, optional: only pixels where True (e.g. core pixels)
    exclude : (H, W) bool, optional: never these pixels (e.g. those labelled already)
    max_candidates : look at most at this many of the least certain pixels

    Returns (m, 2) int64 ``(row, col)``, m <= n, least certain first.
    """
    if isinstance(uncertainty_or_map, MineralMap):
        margin = margin_map(uncertainty_or_map)
    else:
        margin = np.asarray(uncertainty_or_map, dtype=np.float64)
    if margin.ndim != 2:
        raise InputError(f"want an (H, W) margin map, got shape {margin.shape}")
    if int(n) < 0 or int(min_distance) < 0:
        raise InputError("n and min_distance must be >= 0")
    ok = np.isfinite(margin)
    for what, m in (("mask", mask), ("exclude", exclude)):
        if m is not None:
            m = np.asarray(m, dtype=bool)
            if m.shape != margin.shape:
                raise InputError(f"{what} has shape {m.shape}, want {margin.shape}")
            ok &= m if what == "mask" else ~m
    flat = np.flatnonzero(ok)
    if flat.size == 0 or int(n) == 0:
        return np.zeros((0, 2), np.int64)
    vals = margin.reshape(-1)[flat]
    take = min(flat.size, int(max_candidates))
    part = np.argpartition(vals, take - 1)[:take] if take < flat.size else np.arange(flat.size)
    order = part[np.argsort(vals[part], kind="stable")]
    W = margin.shape[1]
    rows, cols = flat[order] // W, flat[order] % W
    picked_r: list[int] = []
    picked_c: list[int] = []
    d = int(min_distance)
    for r, c in zip(rows, cols):
        if d and picked_r:
            pr, pc = np.asarray(picked_r), np.asarray(picked_c)
            if np.any(np.maximum(np.abs(pr - r), np.abs(pc - c)) < d):
                continue
        picked_r.append(int(r))
        picked_c.append(int(c))
        if len(picked_r) >= int(n):
            break
    return np.stack([np.asarray(picked_r, np.int64), np.asarray(picked_c, np.int64)], axis=1)
