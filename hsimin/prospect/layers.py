"""Evidence layers for prospectivity, numpy/scipy only (no torch).

From raw inputs to a stack of scaled layers on one grid:

* :func:`idw_grid` — point samples to inverse-distance-weighted grids (power, search radius, cell size, CRS);
* :func:`fault_distance` / :func:`fault_buffer_score` — fault polylines to multi-ring buffers (default
  500-3000 m in 6 rings) reclassified to an influence score in [0, 1];
* :func:`resample_raster` — bilinear (upsampling), cell-average (downsampling) or nearest, NaN-aware;
* :func:`stack_rasters` — layers on one grid into one :class:`~hsimin.core.Raster` with a study-area mask;
* :func:`transform_layers` — log or centred log-ratio (CLR) for compositional element data;
* :func:`robust_scale` — per-layer (x - median) / IQR over the study area; :func:`prepare_layers` chains them.

NaN is no data everywhere; ``Raster.mask`` (True = inside the study area) is respected by every function.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import Raster

DEFAULT_RINGS_M = (500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0)
"""Default fault buffer ring radii (m): 6 rings from 500 to 3000 m."""


# ----------------------------------------------------------------------------------------------- grids
def grid_for_extent(xmin: float, ymin: float, xmax: float, ymax: float, cell_size: float) -> tuple[tuple, tuple]:
    """North-up grid covering an extent: ``(transform, (H, W))`` with the top-left corner at (xmin, ymax)."""
    if not cell_size > 0:
        raise InputError(f"cell size must be > 0, got {cell_size}")
    if not (xmax > xmin and ymax > ymin):
        raise InputError(f"empty extent x {xmin}..{xmax}, y {ymin}..{ymax}")
    W = max(1, int(np.ceil((xmax - xmin) / cell_size - 1e-9)))
    H = max(1, int(np.ceil((ymax - ymin) / cell_size - 1e-9)))
    return (float(cell_size), 0.0, float(xmin), 0.0, -float(cell_size), float(ymax)), (H, W)


def _check_north_up(transform) -> None:
    a, b, _, d, e, _ = transform
    if b != 0 or d != 0 or a <= 0 or e >= 0:
        raise InputError(f"only north-up grids without rotation are supported (transform {tuple(transform)}); "
                         "warp the raster to a north-up grid first")


def cell_centres(transform, shape) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every cell centre, each (H, W) float64."""
    return Raster(np.zeros((*shape, 1), np.float32), transform).cell_centres()


def xy_to_rowcol(transform, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (int) of the cells containing points (x, y) on a north-up grid (may be outside)."""
    _check_north_up(transform)
    a, _, c, _, e, f = transform
    cols = np.floor((np.asarray(x, dtype=np.float64) - c) / a).astype(np.int64)
    rows = np.floor((np.asarray(y, dtype=np.float64) - f) / e).astype(np.int64)
    return rows, cols


def rowcol_to_xy(transform, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates of (row, col) pairs."""
    a, b, c, d, e, f = transform
    r = np.asarray(rows, dtype=np.float64) + 0.5
    q = np.asarray(cols, dtype=np.float64) + 0.5
    return a * q + b * r + c, d * q + e * r + f


# ------------------------------------------------------------------------------------------------- IDW
def idw_grid(x, y, values: Mapping[str, np.ndarray] | np.ndarray, *, cell_size: float | None = None,
             power: float = 2.0, search_radius: float | None = None, max_points: int = 12, min_points: int = 1,
             transform=None, shape=None, crs: str | None = None, mask: np.ndarray | None = None,
             chunk: int = 65536) -> Raster:
    """Inverse-distance-weighted grids from point samples.

    Parameters
    ----------
    x, y : (N,) point coordinates (in ``crs``)
    values : ``{name: (N,) values}`` (one layer per entry) or an (N,) / (N, L) array; NaN values are skipped
        per layer
    cell_size : cell size of a new grid covering the points (ignored when ``transform``/``shape`` given)
    power : IDW exponent (weights ``1 / d**power``)
    search_radius : only points within this distance count; cells with fewer than ``min_points`` points in
        reach are NaN. None = no limit.
    max_points : at most this many nearest points per cell
    transform, shape : put the grid on an existing grid (e.g. another layer's) instead
    mask : (H, W) study-area mask of the output grid (cells outside are NaN)

    A cell centre that coincides with a sample takes that sample's value.
    """
    from scipy.spatial import cKDTree  # noqa: PLC0415

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise InputError(f"x and y must be non-empty and the same length, got {x.size} and {y.size}")
    if isinstance(values, Mapping):
        names = [str(k) for k in values]
        V = np.column_stack([np.asarray(values[k], dtype=np.float64).ravel() for k in values])
    else:
        V = np.asarray(values, dtype=np.float64)
        V = V[:, None] if V.ndim == 1 else V
        names = [f"layer{i}" for i in range(V.shape[1])]
    if V.shape[0] != x.size:
        raise InputError(f"{V.shape[0]} values for {x.size} points")
    if not power > 0:
        raise InputError(f"IDW power must be > 0, got {power}")
    if transform is None or shape is None:
        if cell_size is None:
            raise InputError("give a cell size (cell_size=...) or an existing grid (transform=..., shape=...)")
        half = cell_size / 2.0
        transform, shape = grid_for_extent(x.min() - half, y.min() - half, x.max() + half, y.max() + half,
                                           cell_size)
    _check_north_up(transform)
    H, W = shape
    cx, cy = cell_centres(transform, shape)
    targets = np.column_stack([cx.ravel(), cy.ravel()])
    inside = np.ones(H * W, bool) if mask is None else np.asarray(mask, bool).ravel()
    out = np.full((H * W, V.shape[1]), np.nan, dtype=np.float32)
    ub = np.inf if search_radius is None else float(search_radius)
    for j in range(V.shape[1]):
        ok = np.isfinite(V[:, j]) & np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        pts, vals = np.column_stack([x[ok], y[ok]]), V[ok, j]
        tree = cKDTree(pts)
        k = int(min(max_points, len(vals)))
        todo = np.flatnonzero(inside)
        for s in range(0, todo.size, chunk):
            idx = todo[s:s + chunk]
            d, nn = tree.query(targets[idx], k=k, distance_upper_bound=ub)
            d, nn = d.reshape(len(idx), k), nn.reshape(len(idx), k)
            valid = np.isfinite(d)
            nn = np.where(valid, nn, 0)
            with np.errstate(divide="ignore"):
                w = np.where(valid, 1.0 / np.maximum(d, 1e-12) ** power, 0.0)
            exact = valid & (d <= 1e-9 * max(1.0, abs(transform[0])))
            w = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), w)
            wsum = w.sum(axis=1)
            est = (w * vals[nn]).sum(axis=1) / np.where(wsum > 0, wsum, 1.0)
            enough = valid.sum(axis=1) >= min_points
            out[idx, j] = np.where(enough & (wsum > 0), est, np.nan)
    return Raster(out.reshape(H, W, -1), transform, crs, names,
                  mask=None if mask is None else np.asarray(mask, bool))


# ---------------------------------------------------------------------------------------------- faults
def fault_distance(lines: Sequence[np.ndarray], transform, shape, max_distance: float | None = None) -> np.ndarray:
    """Distance (CRS units) from every cell centre to the nearest fault segment, (H, W) float64.

    Exact point-to-segment distances. With ``max_distance`` only cells within that distance of a segment's
    bounding box are computed (the rest are +inf), which keeps large grids with many faults fast.
    """
    _check_north_up(transform)
    H, W = shape
    a, _, c, _, e, f = transform
    dist = np.full((H, W), np.inf)
    reach = np.inf if max_distance is None else float(max_distance)
    for line in lines:
        pts = np.asarray(line, dtype=np.float64)[:, :2]
        if pts.ndim != 2 or len(pts) == 0:
            continue
        segs = [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)] or [(pts[0], pts[0])]
        for p0, p1 in segs:
            if np.isfinite(reach):
                x0, x1 = min(p0[0], p1[0]) - reach, max(p0[0], p1[0]) + reach
                y0, y1 = min(p0[1], p1[1]) - reach, max(p0[1], p1[1]) + reach
                c0, c1 = max(0, int(np.floor((x0 - c) / a))), min(W, int(np.ceil((x1 - c) / a)) + 1)
                r0, r1 = max(0, int(np.floor((y1 - f) / e))), min(H, int(np.ceil((y0 - f) / e)) + 1)
                if c0 >= c1 or r0 >= r1:
                    continue
            else:
                r0, r1, c0, c1 = 0, H, 0, W
            px = c + a * (np.arange(c0, c1) + 0.5)
            py = f + e * (np.arange(r0, r1) + 0.5)
            PX, PY = np.meshgrid(px, py)
            v = p1 - p0
            vv = float(v @ v)
            t = 0.0 if vv == 0 else np.clip(((PX - p0[0]) * v[0] + (PY - p0[1]) * v[1]) / vv, 0.0, 1.0)
            d = np.hypot(PX - (p0[0] + t * v[0]), PY - (p0[1] + t * v[1]))
            np.minimum(dist[r0:r1, c0:c1], d, out=dist[r0:r1, c0:c1])
    return dist


def ring_score(distance: np.ndarray, rings: Sequence[float] = DEFAULT_RINGS_M) -> np.ndarray:
    """Reclassify distances into buffer rings: inside ring i (0-based, radii ascending) scores
    ``1 - i / n``; beyond the last ring 0. With 6 rings: 1, 5/6, ..., 1/6, 0."""
    r = np.asarray(rings, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or np.any(np.diff(r) <= 0) or r[0] <= 0:
        raise InputError(f"buffer rings must be positive and strictly increasing, got {list(rings)}")
    i = np.searchsorted(r, np.asarray(distance, dtype=np.float64), side="left")
    return np.where(i < r.size, 1.0 - i / r.size, 0.0).astype(np.float32)


def fault_buffer_score(lines: Sequence[np.ndarray], transform, shape, *, rings: Sequence[float] = DEFAULT_RINGS_M,
                       crs: str | None = None, mask: np.ndarray | None = None, name: str = "faults") -> Raster:
    """Fault influence layer: multi-ring buffers around fault polylines reclassified by :func:`ring_score`
    (1 at the fault, falling ring by ring, 0 beyond the outer ring). NaN outside ``mask``."""
    if not lines:
        raise InputError("no fault lines given")
    d = fault_distance(lines, transform, shape, max_distance=float(max(rings)))
    score = ring_score(d, rings)
    if mask is not None:
        score = np.where(mask, score, np.nan).astype(np.float32)
    return Raster(score, transform, crs, [name], mask=mask)


# -------------------------------------------------------------------------------------------- resample
def resample_raster(raster: Raster, transform, shape, method: str = "bilinear") -> Raster:
    """A raster on another north-up grid (same CRS assumed).

    ``method``: ``'bilinear'`` (upsampling; NaN-aware: weights of missing neighbours are dropped),
    ``'average'`` (downsampling: mean of the source cells whose centres fall in each target cell; target
    cells that receive none fall back to bilinear), ``'nearest'`` (masks, classes). The mask is resampled
    by nearest neighbour; target cells outside the source grid are NaN / outside the mask.
    """
    from scipy import ndimage  # noqa: PLC0415

    if method not in ("bilinear", "average", "nearest"):
        raise InputError(f"unknown resampling method {method!r}; use 'bilinear', 'average' or 'nearest'")
    _check_north_up(raster.transform)
    _check_north_up(transform)
    H, W = shape
    sa, _, sc, _, se, sf = raster.transform
    cx, cy = cell_centres(transform, shape)
    fc = (cx - sc) / sa - 0.5          # fractional source column of each target centre
    fr = (cy - sf) / se - 0.5
    sh, sw = raster.shape
    inside = (fr > -1.0) & (fr < sh) & (fc > -1.0) & (fc < sw)
    src = raster.values
    if raster.mask is not None:
        src = np.where(raster.mask[..., None], src, np.nan)
    L = src.shape[2]
    out = np.full((H, W, L), np.nan, dtype=np.float32)
    if method == "nearest":
        ri = np.clip(np.rint(fr).astype(int), 0, sh - 1)
        ci = np.clip(np.rint(fc).astype(int), 0, sw - 1)
        out[inside] = src[ri[inside], ci[inside]]
    else:
        coords = np.array([fr[inside], fc[inside]])
        for j in range(L):
            v = src[..., j].astype(np.float64)
            ok = np.isfinite(v)
            num = ndimage.map_coordinates(np.where(ok, v, 0.0), coords, order=1, mode="nearest")
            den = ndimage.map_coordinates(ok.astype(np.float64), coords, order=1, mode="nearest")
            out[inside, j] = np.where(den > 1e-6, num / np.maximum(den, 1e-12), np.nan)
        if method == "average":
            tr_rows, tr_cols = xy_to_rowcol(transform, *cell_centres(raster.transform, raster.shape))
            ok_cell = (tr_rows >= 0) & (tr_rows < H) & (tr_cols >= 0) & (tr_cols < W)
            flat = (tr_rows * W + tr_cols)[ok_cell]
            for j in range(L):
                v = src[..., j][ok_cell].astype(np.float64)
                fin = np.isfinite(v)
                s = np.bincount(flat[fin], weights=v[fin], minlength=H * W)
                n = np.bincount(flat[fin], minlength=H * W)
                avg = (s / np.maximum(n, 1)).reshape(H, W)
                out[..., j] = np.where(n.reshape(H, W) > 0, avg, out[..., j])
    mask = None
    if raster.mask is not None:
        ri = np.clip(np.rint(fr).astype(int), 0, sh - 1)
        ci = np.clip(np.rint(fc).astype(int), 0, sw - 1)
        mask = inside & raster.mask[ri, ci]
    return Raster(out, transform, raster.crs, raster.layer_names, mask=mask)


def stack_rasters(rasters: Sequence[Raster], mask: np.ndarray | None = None) -> Raster:
    """Put layers that share one grid into one raster. The result's mask is the AND of the given ``mask``,
    every input's mask and "every layer has data" (a cell that lacks any layer cannot be scored)."""
    if not rasters:
        raise InputError("no rasters to stack")
    first = rasters[0]
    for r in rasters[1:]:
        if r.shape != first.shape or not np.allclose(r.transform, first.transform, rtol=1e-9, atol=1e-6):
            raise InputError(f"layers {r.layer_names} are not on the grid of {first.layer_names}; resample first")
    values = np.concatenate([r.values for r in rasters], axis=-1)
    names = [n for r in rasters for n in r.layer_names]
    if len(set(names)) != len(names):
        raise InputError(f"layer names repeat: {names}; give every layer a distinct name")
    m = np.all(np.isfinite(values), axis=-1)
    for r in rasters:
        if r.mask is not None:
            m &= r.mask
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != first.shape:
            raise InputError(f"study-area mask has shape {mask.shape}, want {first.shape}")
        m &= mask
    return Raster(values, first.transform, first.crs or next((r.crs for r in rasters if r.crs), None), names, mask=m)


def select_layers(raster: Raster, names: Sequence[str]) -> Raster:
    """The named layers of a raster, in the order given."""
    missing = [n for n in names if n not in raster.layer_names]
    if missing:
        raise InputError(f"layers {missing} not found; available: {', '.join(raster.layer_names)}")
    idx = [raster.layer_names.index(n) for n in names]
    return Raster(raster.values[..., idx], raster.transform, raster.crs, list(names), mask=raster.mask)


# ------------------------------------------------------------------------------ transforms and scaling
TRANSFORMS = ("none", "log", "clr")


def transform_layers(raster: Raster, method: str = "log", layers: Sequence[str] | None = None,
                     nonpositive: str = "half_min") -> Raster:
    """Log or centred log-ratio (CLR) transform of compositional (element) layers.

    ``layers`` are the layers to transform (default: all); the others pass unchanged. CLR replaces each
    transformed layer by ``log(x) - mean over the transformed layers of log(x)``, cell by cell. Mixed units
    (ppb, ppm, wt%) only add a constant per layer to ``log(x)`` and to the CLR, which per-layer scaling
    removes.

    Values <= 0 have no logarithm (below-detection values are often stored as 0): ``nonpositive='half_min'``
    (default) replaces them by half the layer's smallest positive value in the study area, the usual
    detection-limit substitution; ``'error'`` refuses them.
    """
    if nonpositive not in ("half_min", "error"):
        raise InputError(f"nonpositive must be 'half_min' or 'error', got {nonpositive!r}")
    if method not in TRANSFORMS:
        raise InputError(f"unknown transform {method!r}; use one of {', '.join(TRANSFORMS)}")
    names = list(raster.layer_names if layers is None else layers)
    missing = [n for n in names if n not in raster.layer_names]
    if missing:
        raise InputError(f"cannot transform layers {missing}: not among {list(raster.layer_names)}")
    if method == "none" or not names:
        return raster
    idx = [raster.layer_names.index(n) for n in names]
    v = raster.values.astype(np.float64)
    sub = v[..., idx]
    inside = np.ones(raster.shape, bool) if raster.mask is None else raster.mask
    bad = inside[..., None] & np.isfinite(sub) & (sub <= 0)
    if bad.any():
        which = [names[j] for j in range(len(idx)) if bad[..., j].any()]
        if nonpositive == "error":
            raise InputError(f"layers {which} have values <= 0 in the study area, which have no logarithm; use "
                             "transform 'none' for them (--raw-layers on the command line) or shift them first")
        for j in range(len(idx)):
            col = sub[..., j]
            pos = col[inside & np.isfinite(col) & (col > 0)]
            if not pos.size:
                raise InputError(f"layer {names[j]!r} has no positive value in the study area; it cannot be "
                                 "log-transformed (pass it as a raw layer)")
            sub[..., j] = np.where(np.isfinite(col) & (col <= 0), pos.min() / 2.0, col)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(np.where(sub > 0, sub, np.nan))
    if method == "clr":
        lg = lg - np.mean(lg, axis=-1, keepdims=True)
    v[..., idx] = lg
    return Raster(v.astype(np.float32), raster.transform, raster.crs, raster.layer_names, mask=raster.mask)


@dataclass(frozen=True)
class Scaling:
    """Per-layer robust scaling parameters: ``(x - centre) / spread``, then clipped to ``±clip``."""

    centre: np.ndarray
    spread: np.ndarray
    clip: float = 8.0
    layer_names: tuple = field(default_factory=tuple)

    def apply(self, values: np.ndarray) -> np.ndarray:
        z = (np.asarray(values, dtype=np.float32) - self.centre.astype(np.float32)) / self.spread.astype(np.float32)
        return np.clip(z, -self.clip, self.clip) if self.clip else z

    def to_dict(self) -> dict:
        return {"centre": self.centre.tolist(), "spread": self.spread.tolist(), "clip": self.clip,
                "layer_names": list(self.layer_names)}


def fit_robust_scaling(raster: Raster, clip: float = 8.0) -> Scaling:
    """Median and inter-quartile range of each layer over the study area (finite cells inside the mask).
    A layer with zero IQR uses its standard deviation, then 1."""
    v = raster.values.reshape(-1, raster.values.shape[2]).astype(np.float64)
    inside = np.ones(v.shape[0], bool) if raster.mask is None else raster.mask.ravel()
    centre = np.zeros(v.shape[1])
    spread = np.ones(v.shape[1])
    for j in range(v.shape[1]):
        col = v[inside, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            raise InputError(f"layer {raster.layer_names[j]!r} has no data inside the study area")
        q1, med, q3 = np.percentile(col, [25, 50, 75])
        s = q3 - q1
        if not s > 0:
            s = col.std()
        centre[j], spread[j] = med, (s if s > 0 else 1.0)
    return Scaling(centre, spread, clip, tuple(raster.layer_names))


def robust_scale(raster: Raster, scaling: Scaling | None = None, clip: float = 8.0) -> tuple[Raster, Scaling]:
    """Per-layer robust scaling ``(x - median) / IQR`` over the study area, clipped to ``±clip``.
    Returns the scaled raster and the :class:`Scaling` (reuse it to scale another area identically)."""
    scaling = scaling or fit_robust_scaling(raster, clip)
    if len(scaling.centre) != raster.values.shape[2]:
        raise InputError(f"scaling has {len(scaling.centre)} layers, raster {raster.values.shape[2]}")
    return (Raster(scaling.apply(raster.values), raster.transform, raster.crs, raster.layer_names,
                   mask=raster.mask), scaling)


@dataclass(frozen=True)
class PreparedLayers:
    """Model-ready layers: ``values`` (H, W, L) float32 scaled, with no-data and out-of-area cells filled
    with 0 (the study-area median after scaling); ``mask`` (H, W) True where a cell can be scored."""

    raster: Raster
    scaling: Scaling
    transform_method: str
    transformed_layers: tuple

    @property
    def values(self) -> np.ndarray:
        return self.raster.values

    @property
    def mask(self) -> np.ndarray:
        return self.raster.mask

    def recipe(self) -> dict:
        return {"transform": self.transform_method, "transformed_layers": list(self.transformed_layers),
                "scaling": self.scaling.to_dict(), "fill": 0.0}


def prepare_layers(raster: Raster, transform: str = "log", transform_layers_: Sequence[str] | None = None,
                   clip: float = 8.0, mask: np.ndarray | None = None) -> PreparedLayers:
    """Transform (log/CLR on ``transform_layers_``, default all), robust-scale over the study area, fill
    no data and out-of-area cells with 0. The mask is ``raster.mask & mask & every layer finite``."""
    m = np.all(np.isfinite(raster.values), axis=-1)
    if raster.mask is not None:
        m &= raster.mask
    if mask is not None:
        m &= np.asarray(mask, bool)
    if not m.any():
        raise InputError("no cell of the study area has data in every layer; check the mask and the layers' "
                         "no-data values")
    r = Raster(raster.values, raster.transform, raster.crs, raster.layer_names, mask=m)
    names = tuple(r.layer_names if transform_layers_ is None else transform_layers_)
    t = transform_layers(r, transform, names)
    scaled, scaling = robust_scale(t, clip=clip)
    v = np.where(m[..., None] & np.isfinite(scaled.values), scaled.values, 0.0).astype(np.float32)
    out = Raster(v, r.transform, r.crs, r.layer_names, mask=m)
    return PreparedLayers(out, scaling, transform, names if transform != "none" else ())
