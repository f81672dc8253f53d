"""Figures of the prospectivity workflow (matplotlib ``Figure`` objects, no pyplot state, no files).

Write them with :func:`hsimin.io.writers.save_figure`. Every map is drawn in the layers' CRS coordinates
(km), so deposits and negatives given as x/y overlay directly.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def _figure(w: float, h: float):
    from matplotlib.figure import Figure  # noqa: PLC0415 - plotting is optional for library users

    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _extent_km(transform, shape) -> list[float]:
    a, _, c, _, e, f = transform
    H, W = shape
    return [c / 1e3, (c + a * W) / 1e3, (f + e * H) / 1e3, f / 1e3]


def _sites(ax, deposits_xy, negatives_xy=None) -> None:
    if negatives_xy is not None and len(negatives_xy[0]):
        ax.scatter(np.asarray(negatives_xy[0]) / 1e3, np.asarray(negatives_xy[1]) / 1e3, s=18, marker="o",
                   facecolors="white", edgecolors="black", linewidths=0.6, label="negative sites", zorder=3)
    if deposits_xy is not None and len(deposits_xy[0]):
        ax.scatter(np.asarray(deposits_xy[0]) / 1e3, np.asarray(deposits_xy[1]) / 1e3, s=36, marker="^",
                   c="red", edgecolors="black", linewidths=0.6, label="known deposits", zorder=4)


def map_figure(prob: np.ndarray, classes: np.ndarray, transform, deposits_xy, negatives_xy=None, *,
               thresholds: Sequence[float] = (), title: str = "Prospectivity", crs: str | None = None):
    """Two panels: the probability map and the A/B/C classes, with deposits (triangles) and negative sites
    (circles) overlaid."""
    from matplotlib.colors import ListedColormap  # noqa: PLC0415

    fig = _figure(13, 6.2)
    ax1, ax2 = fig.subplots(1, 2, sharex=True, sharey=True)
    ext = _extent_km(transform, prob.shape)
    im = ax1.imshow(np.ma.masked_invalid(prob), extent=ext, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax1, shrink=0.8, label="probability of a deposit")
    _sites(ax1, deposits_xy, negatives_xy)
    ax1.set_title(title)
    cls = np.ma.masked_less(np.asarray(classes, dtype=float), 0)
    cmap = ListedColormap(["#e8e8e8", "#fdd49e", "#fc8d59", "#b30000"])
    im2 = ax2.imshow(cls, extent=ext, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest")
    cb = fig.colorbar(im2, ax=ax2, shrink=0.8, ticks=[0, 1, 2, 3])
    labels = ["none", "C", "B", "A"]
    if len(thresholds) == 3:
        labels = ["none", f"C ≥{thresholds[2]:.3g}", f"B ≥{thresholds[1]:.3g}", f"A ≥{thresholds[0]:.3g}"]
    cb.ax.set_yticklabels(labels)
    _sites(ax2, deposits_xy, None)
    ax2.set_title("Prospectivity classes")
    unit = f" ({crs}, km)" if crs else " (km)"
    for ax in (ax1, ax2):
        ax.set_xlabel("easting" + unit)
        ax.set_aspect("equal")
    ax1.set_ylabel("northing" + unit)
    ax1.legend(loc="lower right", fontsize=8)
    return fig


def roc_figure(curves: Mapping[str, dict]):
    """ROC curves of the pooled out-of-fold predictions, one per model. ``curves[name]`` holds ``fpr``,
    ``tpr``, ``auc_mean``, ``auc_std`` (fold AUCs)."""
    fig = _figure(6, 5.5)
    ax = fig.subplots()
    for name, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], lw=1.6, label=f"{name}: AUC {c['auc_mean']:.3f} ± {c['auc_std']:.3f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, spatially blocked CV (out-of-fold)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    return fig


def success_rate_figure(curves: Mapping[str, Mapping[str, np.ndarray]]):
    """Success-rate (prediction-area) curves, one per mapped model: fraction of the study area ranked by
    probability vs fraction of known deposits captured."""
    fig = _figure(6, 5.5)
    ax = fig.subplots()
    for name, curve in curves.items():
        ax.step(curve["area"], curve["captured"], where="post", lw=1.8,
                label=f"{name} (area under curve {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance")
    ax.set_xlabel("fraction of study area (highest probability first)")
    ax.set_ylabel("fraction of known deposits")
    ax.set_title("Success-rate curve (deposits used in training)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    return fig


def attribution_figure(layer_names: Sequence[str], mean_abs: Sequence[float], mean_signed: Sequence[float],
                       method: str = "", model: str = ""):
    """Per-layer importance: mean |attribution| (bars, sorted) and the mean signed attribution at deposits."""
    names = np.asarray(layer_names)
    a = np.asarray(mean_abs, dtype=float)
    s = np.asarray(mean_signed, dtype=float)
    order = np.argsort(a)
    fig = _figure(11, 0.32 * len(names) + 1.8)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    ax1.barh(np.arange(len(names)), a[order], color="#3182bd")
    ax1.set_yticks(np.arange(len(names)), names[order])
    ax1.set_xlabel("mean |attribution| (all sites)")
    ax1.set_title(f"Layer importance, {method} {model}".strip())
    ax2.barh(np.arange(len(names)), s[order], color=np.where(s[order] >= 0, "#de2d26", "#3182bd"))
    ax2.axvline(0, color="k", lw=0.6)
    ax2.set_xlabel("mean attribution at deposits (+ raises probability)")
    return fig


def layers_figure(values: np.ndarray, mask: np.ndarray, names: Sequence[str], transform, deposits_xy=None):
    """Small multiples of the model-ready (scaled) input layers, deposits overlaid."""
    L = values.shape[2]
    cols = min(5, L)
    rows = int(np.ceil(L / cols))
    fig = _figure(2.6 * cols, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    ext = _extent_km(transform, values.shape[:2])
    for i, ax in enumerate(axes):
        if i >= L:
            ax.set_axis_off()
            continue
        v = np.where(mask, values[..., i], np.nan)
        lo, hi = np.nanpercentile(v, [2, 98]) if np.isfinite(v).any() else (0, 1)
        ax.imshow(np.ma.masked_invalid(v), extent=ext, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        if deposits_xy is not None:
            ax.scatter(np.asarray(deposits_xy[0]) / 1e3, np.asarray(deposits_xy[1]) / 1e3, s=6, c="cyan",
                       marker="^", linewidths=0)
        ax.set_title(names[i], fontsize=9)
        ax.tick_params(labelsize=6)
    return fig
