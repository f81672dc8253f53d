"""Down-hole logs from the trays' HDF5 outputs: per depth interval, the fraction of core pixels of each mineral and
the mean feature scalars (:class:`HoleLog`, :func:`hole_log`), written as ``downhole_log.csv`` and the strip log
``downhole_log.png``; and the hole's ``mosaic.png`` (every tray in depth order, false colour beside the map).

Built from the trays' outputs (labels, core mask, pixel depths, features, thumbnails), never from the cubes, so
they are rewritten in seconds on every run (see :mod:`hsimin.batch.products` for the session's report).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core.errors import InputError
from ..io.writers import save_figure, write_bytes, write_text

__all__ = ["COMPOSITION_SCALARS", "HoleLog", "LogAccumulator", "TrayData", "hole_log", "log_edges", "read_tray_data",
           "write_hole_log_csv", "write_mosaic_png", "write_strip_log_png"]

LOG_QUANTITIES = ("wavelength_nm", "depth")
"""Feature quantities averaged into the log (per window: ``f2200_wavelength_nm``, ``f2200_depth``...)."""

COMPOSITION_SCALARS = (("white_mica", "f2200_wavelength_nm"), ("chlorite", "f2250_wavelength_nm"),
                       ("chlorite", "f2330_wavelength_nm"))
"""(mineral, scalar) pairs averaged over that mineral's pixels only: composition indicators."""

MAX_TRACKS = 12
MOSAIC_CELL_HEIGHT = 260
MOSAIC_MAX_PER_ROW = 8


# --------------------------------------------------------------------------------------------- reading

@dataclass
class TrayData:
    """What the products need of one processed tray (read from its HDF5 output)."""

    hole_id: str
    tray_id: str
    depth_from_m: float | None
    depth_to_m: float | None
    classes: tuple[str, ...]
    labels: np.ndarray            # (H, W) int16
    core: np.ndarray              # (H, W) bool
    depth: np.ndarray             # (H, W) float32 m, NaN off core
    features: dict[str, np.ndarray] = field(default_factory=dict)
    rgb: np.ndarray | None = None  # (h, w, 3) uint8 thumbnail
    thumb_step: int = 1
    qa: dict = field(default_factory=dict)


def read_tray_data(h5_path, *, features: bool = True) -> TrayData:
    """Read a tray's batch HDF5 output (``/maps/mineral``, ``/depth``, ``/features``, ``/quicklook``, ``/tray``)."""
    from ..io import open_map
    from ..io.hdf5 import read_arrays_hdf5
    mm = open_map(h5_path)
    depth = read_arrays_hdf5(h5_path, "depth")
    q, qattrs = read_arrays_hdf5(h5_path, "quicklook", return_attrs=True)
    _, tattrs = read_arrays_hdf5(h5_path, "tray", return_attrs=True)
    feats = {}
    if features:
        f = read_arrays_hdf5(h5_path, "features")
        feats = {k: v for k, v in f.items() if k.endswith(tuple("_" + q_ for q_ in LOG_QUANTITIES))}
    return TrayData(hole_id=str(tattrs.get("hole_id", mm.meta.hole_id)), tray_id=str(tattrs.get("tray_id",
                    mm.meta.tray_id)), depth_from_m=tattrs.get("depth_from_m"), depth_to_m=tattrs.get("depth_to_m"),
                    classes=tuple(mm.classes), labels=mm.labels, core=np.asarray(depth["core"]).astype(bool),
                    depth=np.asarray(depth["depth_m"]), features=feats, rgb=q.get("rgb"),
                    thumb_step=int(qattrs.get("step", 1)), qa=dict(tattrs.get("qa") or {}))


# --------------------------------------------------------------------------------------------- the log

@dataclass
class HoleLog:
    """A down-hole log: ``edges`` (n + 1,) m; ``core_pixels`` (n,); ``minerals`` M names; ``abundance`` (n, M)
    fraction of core pixels (NaN where an interval has no core); ``features`` name -> (n,) means (NaN: none)."""

    hole_id: str
    edges: np.ndarray
    core_pixels: np.ndarray
    minerals: list[str]
    abundance: np.ndarray
    features: dict[str, np.ndarray]

    @property
    def columns(self) -> list[str]:
        return ["depth_from_m", "depth_to_m", "core_pixels", *self.minerals, *self.features]

    def rows(self) -> list[list[str]]:
        """CSV cells (strings): depths to 1 mm (more if the interval needs it), abundances to 4 decimals."""
        iv = float(np.min(np.diff(self.edges))) if self.edges.size > 1 else 1.0
        dp = max(3, int(math.ceil(-math.log10(iv))) + 2) if iv > 0 else 3
        out = []
        for i in range(self.edges.size - 1):
            row = [f"{self.edges[i]:.{dp}f}", f"{self.edges[i + 1]:.{dp}f}", str(int(self.core_pixels[i]))]
            row += ["" if not np.isfinite(v) else f"{v:.4f}" for v in self.abundance[i]]
            for name, vals in self.features.items():
                v = vals[i]
                row.append("" if not np.isfinite(v) else (f"{v:.2f}" if "wavelength" in name else f"{v:.4f}"))
            out.append(row)
        return out


def _grid(lo: float, hi: float, interval_m: float) -> np.ndarray:
    k0 = math.floor(lo / interval_m + 1e-9)
    k1 = max(k0 + 1, math.ceil(hi / interval_m - 1e-9))
    return np.round(np.arange(k0, k1 + 1) * interval_m, 9)


class LogAccumulator:
    """Interval sums of one hole, fed one tray at a time (memory: the sums, never the trays)."""

    def __init__(self, hole_id: str, edges: np.ndarray, interval_m: float):
        self.hole_id, self.edges, self.interval_m = hole_id, edges, float(interval_m)
        self.n = edges.size - 1
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.counts = np.zeros((self.n, 0), np.int64)
        self.core_pixels = np.zeros(self.n, np.int64)
        self.fsum: dict[str, np.ndarray] = {}
        self.fcnt: dict[str, np.ndarray] = {}

    def _acc(self, name, bins, values):
        n = self.n
        ok = np.isfinite(values)
        if name not in self.fsum:
            self.fsum[name], self.fcnt[name] = np.zeros(n), np.zeros(n, np.int64)
        self.fsum[name] += np.bincount(bins[ok], weights=values[ok].astype(np.float64), minlength=n)[:n]
        self.fcnt[name] += np.bincount(bins[ok], minlength=n)[:n]

    def add(self, t: TrayData) -> None:
        if t.depth_from_m is None or t.depth_to_m is None:
            return
        n = self.n
        sel = t.core & np.isfinite(t.depth) & (t.labels >= 0)
        if not sel.any():
            return
        d = t.depth[sel].astype(np.float64)
        bins = np.clip(np.floor((d - self.edges[0]) / self.interval_m + 1e-9).astype(np.int64), 0, n - 1)
        lab = t.labels[sel].astype(np.int64)
        for c in t.classes:
            if c not in self.index:
                self.index[c] = len(self.names)
                self.names.append(c)
        K = len(self.names)
        if self.counts.shape[1] < K:
            self.counts = np.pad(self.counts, ((0, 0), (0, K - self.counts.shape[1])))
        g = np.array([self.index[c] for c in t.classes], np.int64)[lab]
        self.counts += np.bincount(bins * K + g, minlength=n * K)[: n * K].reshape(n, K)
        self.core_pixels += np.bincount(bins, minlength=n)[:n]
        for fname, arr in sorted(t.features.items()):
            self._acc("mean_" + fname, bins, arr[sel])
        for mineral, fname in COMPOSITION_SCALARS:
            if fname in t.features and mineral in t.classes:
                m = lab == t.classes.index(mineral)
                if m.any():
                    self._acc(f"mean_{fname}_{mineral}", bins[m], t.features[fname][sel][m])

    def result(self) -> HoleLog:
        n = self.n
        total = self.counts.sum(axis=0)
        keep = [int(i) for i in np.argsort(-total, kind="stable") if total[i] > 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            abundance = self.counts[:, keep] / self.core_pixels[:, None].astype(np.float64)
            abundance[self.core_pixels == 0] = np.nan
            feats = {k: np.where(self.fcnt[k] > 0, self.fsum[k] / np.maximum(self.fcnt[k], 1), np.nan)
                     for k in self.fsum}
        ordered = {k: feats[k] for k in sorted(feats, key=_feature_order) if np.isfinite(feats[k]).any()}
        return HoleLog(self.hole_id, self.edges, self.core_pixels.copy(), [self.names[i] for i in keep],
                       abundance.reshape(n, len(keep)), ordered)


def log_edges(ranges: Iterable[tuple[float | None, float | None]], interval_m: float) -> np.ndarray | None:
    if not (math.isfinite(interval_m) and interval_m > 0):
        raise InputError(f"the log interval must be a positive number of metres, got {interval_m}")
    r = [(float(a), float(b)) for a, b in ranges if a is not None and b is not None]
    if not r:
        return None
    return _grid(min(a for a, _ in r), max(b for _, b in r), interval_m)


def hole_log(trays: Sequence[TrayData], interval_m: float = 1.0) -> HoleLog | None:
    """The down-hole log of one hole's trays (see the module docstring); None when no tray has depths.

    The intervals run from the shallowest ``depth_from_m`` to the deepest ``depth_to_m`` of the trays,
    aligned on multiples of ``interval_m``; a pixel counts in the interval holding its registered depth."""
    edges = log_edges(((t.depth_from_m, t.depth_to_m) for t in trays), interval_m)
    if edges is None:
        return None
    acc = LogAccumulator(trays[0].hole_id, edges, interval_m)
    for t in trays:
        acc.add(t)
    return acc.result()


def _feature_order(name: str):
    specific = any(name.endswith("_" + m) for m, _ in COMPOSITION_SCALARS)
    return (specific, name)


# --------------------------------------------------------------------------------------------- writers

def write_hole_log_csv(log: HoleLog, path) -> Path:
    """Write a :class:`HoleLog` as CSV (atomic)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(log.columns)
    w.writerows(log.rows())
    return write_text(path, buf.getvalue(), overwrite=True)


def write_strip_log_png(log: HoleLog, path, *, title: str | None = None) -> Path:
    """Strip log of a :class:`HoleLog` (atomic): depth down; a dominant-mineral column, an abundance track per
    mineral (at most twelve, most abundant first) and the feature-position tracks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from ..io.colors import class_colors

    minerals = log.minerals[:MAX_TRACKS]
    comp = [k for k in log.features if "wavelength" in k and any(k.endswith("_" + m) for m, _ in COMPOSITION_SCALARS)]
    if not comp:
        comp = [k for k in ("mean_f2200_wavelength_nm",) if k in log.features]
    n_tracks = 1 + len(minerals) + len(comp)
    n = log.edges.size - 1
    height = min(30.0, max(6.0, 0.25 * n + 3.0))
    fig = Figure(figsize=(1.2 + 1.05 * n_tracks, height), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n_tracks, sharey=True, gridspec_kw={"wspace": 0.08})
    axes = np.atleast_1d(axes)
    top, bottom = float(log.edges[0]), float(log.edges[-1])
    heights = np.diff(log.edges)
    colors = class_colors(minerals).reshape(-1, 3) / 255.0 if minerals else np.zeros((0, 3))
    ax = axes[0]
    if minerals:
        ab = np.nan_to_num(log.abundance[:, :len(minerals)], nan=-1.0)
        dom = np.argmax(ab, axis=1)
        has = ab.max(axis=1) > 0
        for i in range(n):
            if has[i]:
                ax.barh(log.edges[i], 1.0, height=heights[i], align="edge", color=colors[dom[i]], linewidth=0)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.set_title("dominant", fontsize=8, rotation=30, ha="left")
    ax.set_ylabel("depth (m)")
    for j, m in enumerate(minerals):
        ax = axes[1 + j]
        vals = np.nan_to_num(log.abundance[:, j], nan=0.0)
        ax.barh(log.edges[:-1], vals, height=heights, align="edge", color=colors[j], linewidth=0)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.5, 1])
        ax.set_xticklabels(["0", "", "1"], fontsize=7)
        ax.set_title(m, fontsize=8, rotation=30, ha="left")
        ax.grid(axis="x", color="0.85", linewidth=0.5)
    for j, k in enumerate(comp):
        ax = axes[1 + len(minerals) + j]
        v = log.features[k]
        mid = 0.5 * (log.edges[:-1] + log.edges[1:])
        ok = np.isfinite(v)
        ax.plot(v, mid, "o-", color="0.2", markersize=2.5, linewidth=0.8)  # NaN breaks the line at gaps
        if ok.any():
            lo, hi = float(np.min(v[ok])), float(np.max(v[ok]))
            pad = max(2.0, 0.15 * (hi - lo))
            ax.set_xlim(lo - pad, hi + pad)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(2))
        ax.set_title(k.replace("mean_", "").replace("_wavelength_nm", " nm"), fontsize=8, rotation=30, ha="left")
        ax.grid(color="0.85", linewidth=0.5)
    axes[0].set_ylim(bottom, top)
    if title:
        fig.suptitle(title, fontsize=10, y=0.995)
    fig.subplots_adjust(left=0.8 / fig.get_figwidth() + 0.02, right=0.98, top=1 - 1.4 / height, bottom=0.3 / height)
    return save_figure(fig, path, overwrite=True)


def _map_thumb(t: TrayData) -> np.ndarray:
    from ..io.colors import UNCLASSIFIED_COLOR, class_colors
    K = len(t.classes)
    lut = np.vstack([class_colors(t.classes).reshape(K, 3), np.asarray(UNCLASSIFIED_COLOR, np.uint8)[None]])
    lab = t.labels[::t.thumb_step, ::t.thumb_step]
    return lut[np.where(lab >= 0, lab, K)]


def _resize(img: np.ndarray, height: int, nearest: bool) -> "Image.Image":  # noqa: F821
    from PIL import Image
    im = Image.fromarray(np.ascontiguousarray(img))
    h, w = img.shape[:2]
    width = max(1, int(round(w * height / max(1, h))))
    if width > 3 * height:  # very wide trays: cap the width, keep the aspect
        height = max(1, int(round(height * 3 * height / width)))
        width = 3 * height if width > 3 * height else width
    return im.resize((width, height), Image.NEAREST if nearest else Image.BILINEAR)


def write_mosaic_png(trays: Sequence[TrayData], path, *, title: str | None = None,
                     cell_height: int = MOSAIC_CELL_HEIGHT, per_row: int = MOSAIC_MAX_PER_ROW) -> Path:
    """Mosaic of a hole's trays in the order given: each tray's false-colour thumbnail beside its mineral map,
    captioned with its id and depths, and a legend of the minerals shown (atomic)."""
    from PIL import Image, ImageDraw

    from ..io.colors import class_colors, normalise_name

    if not trays:
        raise InputError("a mosaic needs at least one tray")
    cells = []
    for t in trays:
        mp = _resize(_map_thumb(t), cell_height, nearest=True)
        rgb = _resize(t.rgb, cell_height, nearest=False) if t.rgb is not None else None
        w = mp.width + (rgb.width + 4 if rgb is not None else 0)
        caption = [str(t.tray_id)[:24]]
        if t.depth_from_m is not None and t.depth_to_m is not None:
            caption.append(f"{t.depth_from_m:.2f}-{t.depth_to_m:.2f} m")
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        text_w = int(max(probe.textlength(c) for c in caption)) + 6
        cell = Image.new("RGB", (max(w, text_w), mp.height + 30), (255, 255, 255))
        x = 0
        if rgb is not None:
            cell.paste(rgb, (0, 28))
            x = rgb.width + 4
        cell.paste(mp, (x, 28))
        d = ImageDraw.Draw(cell)
        for i, c in enumerate(caption):
            d.text((2, 1 + 13 * i), c, fill=(0, 0, 0) if i == 0 else (60, 60, 60))
        cells.append(cell)
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    gap = 10
    width = max(sum(c.width for c in r) + gap * (len(r) + 1) for r in rows)
    present: dict[str, int] = {}
    for t in trays:
        lab = t.labels[t.labels >= 0]
        cnt = np.bincount(lab.astype(np.int64), minlength=len(t.classes))
        for i, c in enumerate(t.classes):
            if cnt[i]:
                present[c] = present.get(c, 0) + int(cnt[i])
    legend = sorted(present, key=lambda c: -present[c])[:24]
    width = max(width, 2 * 150 + 2 * gap) if len(legend) > 8 else width
    leg_cols = max(1, (width - gap) // 150)
    leg_h = 16 * math.ceil(len(legend) / leg_cols) + 8 if legend else 0
    head = 24 if title else 4
    height = head + sum(max(c.height for c in r) + gap for r in rows) + leg_h + gap
    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    if title:
        d.text((gap, 6), title, fill=(0, 0, 0))
    y = head
    for r in rows:
        x = gap
        for c in r:
            img.paste(c, (x, y))
            x += c.width + gap
        y += max(c.height for c in r) + gap
    if legend:
        cols = class_colors(legend).reshape(-1, 3)
        for i, name in enumerate(legend):
            lx = gap + (i % leg_cols) * 150
            ly = y + 16 * (i // leg_cols)
            d.rectangle([lx, ly + 2, lx + 10, ly + 12], fill=tuple(int(v) for v in cols[i]), outline=(80, 80, 80))
            d.text((lx + 14, ly + 1), normalise_name(name)[:20], fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return write_bytes(path, buf.getvalue(), overwrite=True)
