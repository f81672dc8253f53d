"""Training sites: positives at known deposits, negatives by K-means or from a site list (numpy/sklearn only).

The paper's negatives: cluster one element (Au there; Li stands in on the Li belt) into K groups with
K-means on its log values, keep the cells of the lowest cluster(s), drop the cells near faults and near
deposits, and draw the negatives from what is left, spread out over the area.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..core.types import Raster
from .layers import rowcol_to_xy, xy_to_rowcol


@dataclass(frozen=True)
class Sites:
    """Labelled cells: ``rows``, ``cols`` (int, on the layers' grid), ``labels`` (1 deposit, 0 not),
    ``x``, ``y`` (cell centres), ``ids``. Built by :func:`make_sites`."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.size)

    def subset(self, index) -> "Sites":
        return Sites(*(np.asarray(a)[index] for a in (self.rows, self.cols, self.labels, self.x, self.y, self.ids)))


def sites_to_cells(x, y, transform, shape, mask: np.ndarray | None = None, what: str = "sites",
                   dedupe: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of points: ``(rows, cols, kept_index)``. Points outside the grid or outside ``mask`` are
    dropped; with ``dedupe`` two points in one cell count once. Raises when none is left."""
    rows, cols = xy_to_rowcol(transform, x, y)
    H, W = shape
    ok = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    if mask is not None:
        ok[ok] &= np.asarray(mask, bool)[rows[ok], cols[ok]]
    keep = np.flatnonzero(ok)
    if dedupe and keep.size:
        _, first = np.unique(rows[keep] * W + cols[keep], return_index=True)
        keep = keep[np.sort(first)]
    if keep.size == 0:
        raise InputError(f"none of the {len(np.atleast_1d(x))} {what} falls on a scored cell of the layers' grid; "
                         "check that the site x/y are in the layers' CRS and inside the study area")
    return rows[keep], cols[keep], keep


def _cell_distance(rows_a, cols_a, rows_b, cols_b) -> np.ndarray:
    """For each cell a, the Euclidean distance (in cells) to the nearest cell b."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    if len(rows_b) == 0:
        return np.full(len(rows_a), np.inf)
    d, _ = cKDTree(np.column_stack([rows_b, cols_b])).query(np.column_stack([rows_a, cols_a]))
    return d


def kmeans_low_cells(layer: np.ndarray, mask: np.ndarray, n_clusters: int = 5, low_clusters: int = 1,
                     log: bool = True, seed: int = 0) -> np.ndarray:
    """Boolean (H, W): cells of the ``low_clusters`` K-means clusters with the lowest centres, K-means on
    the (log) values of one layer over the study area."""
    from sklearn.cluster import KMeans  # noqa: PLC0415

    if not 1 <= low_clusters < n_clusters:
        raise InputError(f"low_clusters must be in 1..{n_clusters - 1}, got {low_clusters}")
    v = np.asarray(layer, dtype=np.float64)
    ok = np.asarray(mask, bool) & np.isfinite(v)
    if log:
        ok &= v > 0
    vals = np.log(v[ok]) if log else v[ok]
    if vals.size < n_clusters:
        raise InputError(f"only {vals.size} cells with data for K-means with {n_clusters} clusters")
    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(vals[:, None])
    order = np.argsort(km.cluster_centers_.ravel())
    low = np.isin(km.labels_, order[:low_clusters])
    out = np.zeros(v.shape, bool)
    out[ok] = low
    return out


def kmeans_negatives(layer: np.ndarray, mask: np.ndarray, pos_rows, pos_cols, n: int, *,
                     fault_score: np.ndarray | None = None, fault_quantile: float = 0.5,
                     min_distance_cells: float = 8.0, n_clusters: int = 5, low_clusters: int = 1,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Negative cells as in the paper: low K-means clusters of ``layer`` (e.g. Au, or Li on a Li belt), at
    least ``min_distance_cells`` from every deposit, and (with ``fault_score``) in the part of the area
    where the fault influence is below its ``fault_quantile`` quantile, i.e. far from faults.

    ``n`` cells are drawn spread out: farthest-point sampling from a seeded random start, so negatives cover
    the area instead of piling up in one low-valued corner. Returns ``(rows, cols)``.
    """
    cand = kmeans_low_cells(layer, mask, n_clusters, low_clusters, seed=seed)
    if fault_score is not None:
        fs = np.asarray(fault_score, dtype=np.float64)
        inside = np.asarray(mask, bool) & np.isfinite(fs)
        cand &= np.isfinite(fs) & (fs <= np.quantile(fs[inside], fault_quantile))
    r, c = np.nonzero(cand)
    far = _cell_distance(r, c, np.asarray(pos_rows), np.asarray(pos_cols)) >= min_distance_cells
    r, c = r[far], c[far]
    if r.size < n:
        raise InputError(f"only {r.size} candidate negative cells (low K-means cluster, far from faults and "
                         f"deposits) for {n} negatives; lower min_distance_cells, raise fault_quantile or "
                         "low_clusters, or give a negative site list")
    rng = np.random.default_rng(seed)
    pick = [int(rng.integers(r.size))]
    d = np.hypot(r - r[pick[0]], c - c[pick[0]])
    for _ in range(n - 1):
        j = int(np.argmax(d))
        pick.append(j)
        d = np.minimum(d, np.hypot(r - r[j], c - c[j]))
    pick = np.asarray(pick)
    return r[pick], c[pick]


def make_sites(layers: Raster, deposits_xy: tuple, negatives_xy: tuple | None = None, *,
               negative_layer: str | None = "Au", n_negatives: int | None = None,
               fault_layer: str | None = None, min_distance_cells: float | None = None,
               n_clusters: int = 5, low_clusters: int = 1, seed: int = 0,
               deposit_ids=None, negative_ids=None) -> Sites:
    """Positives at the deposit cells and negatives from ``negatives_xy`` or by :func:`kmeans_negatives`.

    ``layers`` is the raw (untransformed) layer stack with its study-area mask; ``negative_layer`` is the
    element clustered for negatives (falls back to an error listing the layers if absent); ``fault_layer``
    is the fault influence layer (high = near faults) used to keep negatives away from faults.
    ``n_negatives`` defaults to the number of positive cells; ``min_distance_cells`` to a quarter of the
    grid's shorter side, at most 16.
    """
    mask = layers.mask if layers.mask is not None else np.all(np.isfinite(layers.values), axis=-1)
    px, py = np.asarray(deposits_xy[0], float), np.asarray(deposits_xy[1], float)
    pr, pc, pk = sites_to_cells(px, py, layers.transform, layers.shape, mask, "deposits")
    pid = np.arange(len(px)) if deposit_ids is None else np.asarray(deposit_ids)
    if negatives_xy is not None:
        nx, ny = np.asarray(negatives_xy[0], float), np.asarray(negatives_xy[1], float)
        nr, nc, nk = sites_to_cells(nx, ny, layers.transform, layers.shape, mask, "negative sites")
        clash = np.isin(nr * layers.shape[1] + nc, pr * layers.shape[1] + pc)
        nr, nc, nk = nr[~clash], nc[~clash], nk[~clash]
        nid = (np.arange(len(nx)) if negative_ids is None else np.asarray(negative_ids))[nk]
    else:
        if negative_layer not in layers.layer_names:
            raise InputError(f"no layer {negative_layer!r} for K-means negatives; choose one of "
                             f"{', '.join(layers.layer_names)} (--negative-layer) or give --negatives SITES.csv")
        fs = None
        if fault_layer is not None:
            fs = layers.values[..., layers.layer_names.index(fault_layer)]
        n = int(n_negatives or len(pr))
        mind = float(min_distance_cells if min_distance_cells is not None else min(16.0, min(layers.shape) / 4))
        nr, nc = kmeans_negatives(layers.values[..., layers.layer_names.index(negative_layer)], mask, pr, pc, n,
                                  fault_score=fs, min_distance_cells=mind, n_clusters=n_clusters,
                                  low_clusters=low_clusters, seed=seed)
        nid = np.array([f"kmeans{i}" for i in range(len(nr))])
    rows = np.concatenate([pr, nr])
    cols = np.concatenate([pc, nc])
    labels = np.concatenate([np.ones(len(pr), np.int8), np.zeros(len(nr), np.int8)])
    x, y = rowcol_to_xy(layers.transform, rows, cols)
    ids = np.concatenate([np.asarray(pid)[pk].astype(str), np.asarray(nid).astype(str)])
    return Sites(rows, cols, labels, x, y, ids)
