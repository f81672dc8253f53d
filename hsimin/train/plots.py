"""Training figures (matplotlib's object API with the Agg canvas: no pyplot state, no display needed).

:func:`plot_history` draws loss and accuracy curves, :func:`plot_confusion` a confusion matrix; both return a
``matplotlib.figure.Figure`` (write it with :func:`hsimin.io.writers.save_figure`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


__all__ = ["plot_confusion", "plot_history"]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_history(history: Sequence[dict], title: str = "") -> Figure:
    """Loss (left) and accuracy (right) per epoch, train and validation, with the best epoch marked.

    ``history``: one dict per epoch with ``epoch`` and any of ``train_loss``, ``val_loss``, ``train_acc``,
    ``val_acc``, ``lr`` (the learning rate is drawn on a second axis of the loss panel).
    """
    fig = _figure(9.0, 3.6)
    ax_l, ax_a = fig.subplots(1, 2)
    ep = np.array([h.get("epoch", i + 1) for i, h in enumerate(history)])

    def series(key):
        return np.array([h.get(key, np.nan) if h.get(key) is not None else np.nan for h in history], dtype=float)

    for key, style in (("train_loss", "-"), ("val_loss", "--")):
        v = series(key)
        if np.isfinite(v).any():
            ax_l.plot(ep, v, style, label=key.replace("_", " "))
    for key, style in (("train_acc", "-"), ("val_acc", "--")):
        v = series(key)
        if np.isfinite(v).any():
            ax_a.plot(ep, v, style, label=key.replace("_", " "))
    val = series("val_loss")
    if np.isfinite(val).any():
        best = ep[int(np.nanargmin(val))]
        for ax in (ax_l, ax_a):
            ax.axvline(best, color="0.6", lw=0.8, ls=":", label="best epoch" if ax is ax_l else None)
    lr = series("lr")
    if np.isfinite(lr).any():
        ax_r = ax_l.twinx()
        ax_r.plot(ep, lr, color="0.75", lw=0.8)
        ax_r.set_ylabel("learning rate", color="0.5")
        ax_r.tick_params(axis="y", colors="0.5", labelsize=7)
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("accuracy")
    ax_a.set_ylim(0.0, 1.02)
    for ax in (ax_l, ax_a):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_confusion(confusion, class_names: Sequence[str], *, normalise: bool = True, title: str = "") -> Figure:
    """Confusion matrix (rows true, columns predicted); ``normalise``: colours are row fractions (recall),
    cells show the counts."""
    cm = np.asarray(confusion, dtype=np.float64)
    K = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalise else cm
    size = 2.5 + 0.45 * K
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0 if normalise else max(cm.max(), 1.0))
    ax.set_xticks(range(K), [str(c) for c in class_names], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(K), [str(c) for c in class_names], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if K <= 30:
        for i in range(K):
            for j in range(K):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if shown[i, j] > 0.6 * (1.0 if normalise else cm.max()) else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of true class" if normalise else "count")
    if title:
        ax.set_title(title, fontsize=9)
    return fig
