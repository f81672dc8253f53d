"""Prospectivity for every cell of the study area: sliding k x k windows, batched, bounded memory.

Numpy only: the model enters as a function ``predict(windows) -> probabilities`` taking band-last windows
``(n, k, k, L)``, so the same code maps a torch network, a random forest or anything else. Peak memory is
the padded layer stack plus one batch of windows (``batch_size * k * k * L * 4`` bytes), whatever the size
of the area. Also: A/B/C classes from thresholds and the success-rate (prediction-area) curve.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..core.errors import InputError
from .windows import extract_windows, iter_cell_batches, padded

DEFAULT_THRESHOLDS = (0.95, 0.90, 0.85)
"""Paper default: class A >= 0.95, B >= 0.90, C >= 0.85 (probabilities)."""

CLASS_NAMES = ("none", "C", "B", "A")
"""Class codes of :func:`classify`: 0 none, 1 C, 2 B, 3 A; -1 outside the study area."""


def predict_map(predict: Callable[[np.ndarray], np.ndarray], values: np.ndarray, mask: np.ndarray, k: int, *,
                batch_size: int = 1024, fill: float = 0.0,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Probability map ``(H, W)`` float32: ``predict`` applied to the window of every cell where ``mask``
    is True, NaN elsewhere.

    ``values`` (H, W, L) are model-ready layers (scaled, no NaN); ``progress(done, total)`` is called after
    each batch.
    """
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, bool)
    if values.ndim != 3 or mask.shape != values.shape[:2]:
        raise InputError(f"values must be (H, W, L) and mask (H, W); got {values.shape} and {mask.shape}")
    P = padded(values, k, fill)
    out = np.full(mask.shape, np.nan, dtype=np.float32)
    total, done = int(mask.sum()), 0
    for rows, cols in iter_cell_batches(mask, batch_size):
        p = np.asarray(predict(extract_windows(values, rows, cols, k, fill, padded_values=P)), dtype=np.float32)
        if p.shape != rows.shape:
            raise InputError(f"the model returned {p.shape} values for {rows.size} windows; it must return one "
                             "probability per window")
        out[rows, cols] = p
        done += rows.size
        if progress:
            progress(done, total)
    return out


def histogram_thresholds(prob: np.ndarray, area_fractions: Sequence[float] = (0.05, 0.10, 0.15)) -> tuple:
    """Thresholds from the score distribution: the scores above which the top ``area_fractions`` of the
    study area lie (A = top 5 %, B = top 10 %, C = top 15 % by default)."""
    v = np.asarray(prob, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("the probability map has no finite cells")
    fr = np.asarray(area_fractions, dtype=np.float64)
    if np.any(fr <= 0) or np.any(fr >= 1) or np.any(np.diff(fr) <= 0):
        raise InputError(f"area fractions must increase within (0, 1), got {list(area_fractions)}")
    return tuple(float(t) for t in np.quantile(v, 1.0 - fr))


def classify(prob: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Classes from probabilities: 3 (A) where ``prob >= thresholds[0]``, 2 (B) ``>= thresholds[1]``,
    1 (C) ``>= thresholds[2]``, 0 below, -1 where ``prob`` is NaN. int8 ``(H, W)``."""
    t = [float(x) for x in thresholds]
    if len(t) != 3 or not t[0] >= t[1] >= t[2]:
        raise InputError(f"give three decreasing thresholds for classes A, B, C, got {list(thresholds)}")
    p = np.asarray(prob, dtype=np.float64)
    out = np.zeros(p.shape, np.int8)
    fin = np.isfinite(p)
    out[~fin] = -1
    for code, thr in zip((1, 2, 3), t[::-1]):
        out[fin & (p >= thr)] = code
    return out


def success_rate_curve(prob: np.ndarray, rows, cols) -> dict:
    """Success-rate (prediction-area) curve: cells ranked by decreasing probability; for each area fraction
    (x) the fraction of deposit cells (y) lying in it. Returns ``{'area', 'captured', 'auc'}`` (arrays of
    ``n + 1`` points from (0, 0) to (1, 1) and the area under the curve; 0.5 = no better than chance).

    Deposits used to train the model make this a *success* rate (fit), not a prediction rate.
    """
    p = np.asarray(prob, dtype=np.float64)
    fin = np.isfinite(p)
    vals = np.sort(p[fin])[::-1]
    n = vals.size
    if n == 0:
        raise InputError("the probability map has no finite cells")
    dep = p[np.asarray(rows), np.asarray(cols)]
    dep = dep[np.isfinite(dep)]
    if dep.size == 0:
        raise InputError("no deposit falls on a mapped cell")
    # Fraction of the area with probability >= each deposit's probability (ties count as captured).
    area_at = np.searchsorted(-vals, -dep, side="right") / n
    area = np.concatenate([[0.0], np.sort(area_at), [1.0]])
    captured = np.concatenate([[0.0], np.arange(1, dep.size + 1) / dep.size, [1.0]])
    # The curve steps up by 1/n_deposits at each deposit's area fraction: its area is the mean of (1 - a_i).
    return {"area": area, "captured": captured, "auc": float(np.mean(1.0 - area_at))}
