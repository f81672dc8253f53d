"""Writers of the side-by-side products of a comparison with TSA: JSON, CSVs, a confusion matrix and a strip log.

:func:`write_comparison` takes an :class:`hsimin.classical.agreement.Agreement` and writes, into a folder:

* ``agreement.json``: the figures (overall, strict, consistent, mixtures, per TSA group, confusion counts);
* ``spectra.csv``: one row per spectrum TSA names: depth, TSA Min1/Wt1/Min2/Wt2/Error, hsimin's answer, both
  groups, and whether they agree;
* ``confusion.csv`` and ``confusion.png``: TSA's Min1 group (rows) against hsimin's group (columns);
* ``strip_log.png``: depth down, TSA's Min1 and Min2 (Min2 drawn at its weight) beside hsimin's answer and an
  agreement track.

Every file is written atomically (:mod:`hsimin.io.atomic`).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .writers import save_figure, write_text

__all__ = ["COMPARISON_FILES", "write_comparison", "write_confusion_png", "write_comparison_strip_log"]

COMPARISON_FILES = ("agreement.json", "spectra.csv", "confusion.csv", "confusion.png", "strip_log.png")


def write_confusion_png(agreement, path, *, title: str | None = None) -> Path:
    """Confusion matrix (TSA Min1 group down, hsimin's group across; counts, rows shaded by fraction)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, M = agreement.confusion
    k = max(1, len(labels))
    fig = Figure(figsize=(2.5 + 0.55 * k, 2.0 + 0.45 * k), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = M / np.maximum(M.sum(axis=1, keepdims=True), 1)
    ax.imshow(frac if M.size else np.zeros((1, 1)), cmap="Blues", vmin=0, vmax=1)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if M[i, j]:
                ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if frac[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("hsimin")
    ax.set_ylabel(f"TSA ({agreement.run}) Min1")
    ax.set_title(title or f"agreement {agreement.overall:.0%} overall, {agreement.consistent:.0%} consistent",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, overwrite=True)


def write_comparison_strip_log(agreement, path, *, title: str | None = None) -> Path:
    """Strip log: depth down; TSA Min1, TSA Min2 (drawn at its weight), hsimin's answer (and its second mineral at
    its weight, when the map has one), and agreement."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from ..core.vocabulary import tsa_mineral
    from .colors import class_colors

    rows = agreement.rows
    depth = np.array([np.nan if r["depth_m"] is None else r["depth_m"] for r in rows], np.float64)
    if not np.isfinite(depth).any():  # no depths: spectra in file order
        depth = np.array([r["index"] for r in rows], np.float64)
        unit = "spectrum"
    else:
        unit = "depth (m)"
    order = np.argsort(depth, kind="stable")
    d = depth[order]
    gaps = np.diff(d)
    step = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
    tops, heights = d - step / 2, np.full(d.size, step)

    def name(x):
        return tsa_mineral(x) or ""
    t1 = [name(rows[i]["tsa_min1"]) for i in order]
    t2 = [name(rows[i]["tsa_min2"]) for i in order]
    w2 = [rows[i]["tsa_wt2"] or 0.0 for i in order]
    hs = [rows[i]["hsimin"] for i in order]
    h2 = [rows[i].get("hsimin_min2") or "" for i in order]
    hw2 = [rows[i].get("hsimin_wt2") or 0.0 for i in order]
    with_h2 = any(h2)
    ag = [rows[i]["consistent"] for i in order]
    names = sorted({x for x in t1 + t2 + hs + h2 if x})
    colors = {n_: c / 255.0 for n_, c in zip(names, class_colors(names).reshape(-1, 3))} if names else {}
    height = min(28.0, max(5.0, 0.12 * d.size + 2.5))
    tracks = [(t1, None, f"TSA Min1\n({agreement.run})"), (t2, w2, "TSA Min2\n(at weight)"), (hs, None, "hsimin")]
    if with_h2:
        tracks.append((h2, hw2, "hsimin Min2\n(at weight)"))
    fig = Figure(figsize=(2.0 + 1.4 * len(tracks), height), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(tracks) + 1, sharey=True,
                        gridspec_kw={"wspace": 0.06, "width_ratios": [1] * len(tracks) + [0.4]})
    for ax, (vals, weights, label) in zip(axes, tracks):
        for i, v in enumerate(vals):
            if v:
                width = 1.0 if weights is None else float(np.clip(weights[i] / 0.5, 0.0, 1.0))
                ax.barh(tops[i], width, height=heights[i], align="edge", color=colors[v], linewidth=0)
        ax.set_xlim(0, 1)
        ax.set_xticks([])
        ax.set_title(label, fontsize=8)
    axa = axes[-1]
    for i, v in enumerate(ag):
        c = "0.8" if v is None else ("#2ca02c" if v else "#d62728")
        axa.barh(tops[i], 1.0, height=heights[i], align="edge", color=c, linewidth=0)
    axa.set_xlim(0, 1)
    axa.set_xticks([])
    axa.set_title("agree", fontsize=8)
    axes[0].set_ylim(float(d.max() + step / 2), float(d.min() - step / 2))
    axes[0].set_ylabel(unit)
    handles = [Patch(color=colors[n_], label=n_) for n_ in names]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), fontsize=7, frameon=False)
    fig.suptitle(title or agreement.line(), fontsize=8, y=0.995, wrap=True)
    legend_rows = -(-len(handles) // 4)
    fig.subplots_adjust(left=0.12, right=0.98, top=1 - 1.0 / height, bottom=(0.3 + 0.2 * legend_rows) / height)
    return save_figure(fig, path, overwrite=True)


def write_comparison(agreement, folder, *, title: str | None = None, extra: dict | None = None) -> dict[str, Path]:
    """Write the comparison products (see the module docstring) into ``folder`` (created if missing).

    ``extra``: JSON-able facts added to ``agreement.json`` (map and package paths, method). Returns name -> path.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {n: out / n for n in COMPARISON_FILES}
    doc = {**(extra or {}), **agreement.summary()}
    write_text(paths["agreement.json"], json.dumps(doc, indent=2) + "\n", overwrite=True)
    cols = ["index", "depth_m", "tsa_min1", "tsa_wt1", "tsa_min2", "tsa_wt2", "tsa_error", "tsa_group", "hsimin",
            "hsimin_group", "hsimin_min2", "hsimin_wt2", "agree", "consistent", "confident", "mixture"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in agreement.rows:
        w.writerow(["" if r.get(c) is None else (f"{r[c]:.4f}" if isinstance(r[c], float) else r[c]) for c in cols])
    write_text(paths["spectra.csv"], buf.getvalue(), overwrite=True)
    labels, M = agreement.confusion
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["tsa_group \\ hsimin_group", *labels])
    for lab, row in zip(labels, M):
        w.writerow([lab, *[int(v) for v in row]])
    write_text(paths["confusion.csv"], buf.getvalue(), overwrite=True)
    write_confusion_png(agreement, paths["confusion.png"], title=title)
    write_comparison_strip_log(agreement, paths["strip_log.png"], title=title)
    return paths
