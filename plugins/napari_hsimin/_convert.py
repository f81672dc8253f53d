"""The one module that knows both napari layer data and hsimin types.

Layer data go out as napari ``LayerData`` tuples ``(data, kwargs, layer_type)`` (plain arrays, dicts and pandas tables,
so this module imports neither Qt nor napari); layers come back in duck-typed (``.data``,
``.metadata``, ``.features``). Conventions:

* a cube is an Image layer of shape (B, H, W): the band axis first so napari's slider walks the bands (a cube
  bigger than :data:`LAZY_LAYER_BYTES` stays on disk: a :class:`BandFirstCube` view reads the band planes
  napari asks for in bounded line blocks); its ``metadata`` holds ``wavelengths`` (nm), ``fwhm``, ``bad_bands``, ``mask``, ``scan_meta`` and
  ``hsimin_kind = "cube"``;
* a mineral map is a Labels layer: napari value ``v = label + 1`` (0 = unclassified, transparent), class
  colours from :func:`hsimin.io.colors.class_colors`, ``features`` with one row per napari value
  (``index``, ``class``, ``pixels``, ``fraction``), ``metadata`` with ``classes`` and provenance,
  ``hsimin_kind = "mineral_map"`` (or ``"training_labels"`` for a layer to paint);
* confidence, feature scalars and attribution maps are (H, W) Image layers with a fitting colour map.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hsimin.core import UNCLASSIFIED, Cube, InputError, MineralMap, ScanMeta
from hsimin.core.plain import to_plain
from hsimin.io.lazy import expand_key

CUBE_KIND = "cube"
MAP_KIND = "mineral_map"
TRAINING_KIND = "training_labels"
UNCLASSIFIED_NAME = "unclassified"

__all__ = ["BandFirstCube", "CUBE_KIND", "LAZY_LAYER_BYTES", "MAP_KIND", "TRAINING_KIND", "attribution_to_layer_data", "band_label", "classes_of",
           "cube_to_layer_data", "feature_maps_to_layer_data", "is_cube_layer", "is_labels_with_classes",
           "label_colormap", "labels_to_map", "layer_to_cube", "legend_entries", "legend_html",
           "map_to_layer_data", "pixel_of", "spectrum_of", "suggestions_to_layer_data", "training_layer_data"]


# --------------------------------------------------------------------------- cubes

LAZY_LAYER_BYTES = 512 * 2**20
"""A cube whose float32 data would take more than this many bytes is not loaded into the viewer: its layer
holds a :class:`BandFirstCube` over the file instead (a 384 x 3000 x 270 tray is 1.2 GB as float32)."""

PLANE_CACHE = 8
"""Band planes a :class:`BandFirstCube` keeps (napari asks for the same plane again on every redraw)."""


class BandFirstCube:
    """Lazy (B, H, W) float32 view of a band-last cube array on disk, for napari's band slider.

    ``band_last`` is the cube's own (H, W, B) array (e.g. the ENVI reader's lazy array). Indexing follows
    numpy's rules for integers and slices (and integer arrays on one axis); the lines a key needs are read in
    blocks of at most ``block_bytes`` of cube data, so a band plane of a tray larger than memory costs one plane
    of memory, and a spectrum ``[:, row, col]`` reads one line. Recent full band planes are cached.
    ``np.asarray`` of the whole view loads the cube (as the in-memory layer would have).
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, band_last, block_bytes: int = 64 * 2**20):
        H, W, B = (int(n) for n in band_last.shape)
        self.band_last = band_last
        self.shape = (B, H, W)
        self._lines = max(1, int(block_bytes) // max(1, W * B * 4))
        self._planes: dict[int, np.ndarray] = {}

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, np.float32)
        for a in range(0, self.shape[1], self._lines):
            b = min(self.shape[1], a + self._lines)
            out[:, a:b] = np.moveaxis(np.asarray(self.band_last[a:b], np.float32), -1, 0)
        return out if dtype is None else out.astype(dtype, copy=False)

    def _plane(self, band: int) -> np.ndarray:
        plane = self._planes.pop(band, None)
        if plane is None:
            H, W = self.shape[1:]
            plane = np.empty((H, W), np.float32)
            for a in range(0, H, self._lines):
                b = min(H, a + self._lines)
                plane[a:b] = np.asarray(self.band_last[a:b, :, band], np.float32)
            while len(self._planes) >= PLANE_CACHE:
                self._planes.pop(next(iter(self._planes)))
        self._planes[band] = plane  # most recent last
        return plane

    def __getitem__(self, key):
        kb, kr, kc = expand_key(key)
        B, H, W = self.shape
        if isinstance(kb, (int, np.integer)):
            band = int(kb) + B if kb < 0 else int(kb)
            if not 0 <= band < B:
                raise IndexError(f"band {kb} out of range for {B} bands")
            return self._plane(band)[kr, kc]
        rows = np.arange(H)[kr]
        scalar_row = rows.ndim == 0
        rows = np.atleast_1d(rows)
        parts = []
        # contiguous runs of the lines asked for, each read in blocks of at most self._lines lines
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for run in np.split(rows, breaks):
            if run.size == 0:
                continue
            for a in range(int(run[0]), int(run[-1]) + 1, self._lines):
                b = min(int(run[-1]) + 1, a + self._lines)
                block = np.asarray(self.band_last[a:b], np.float32)    # (h, W, B)
                parts.append(block[:, kc][..., kb])
        got = (np.concatenate(parts, axis=0) if parts
               else np.empty((0,) + np.empty((1, W, B), np.float32)[:, kc][..., kb].shape[1:], np.float32))
        # the runs follow the key's own line order (a reversed slice or an index array gives one-line runs)
        if scalar_row:
            got = got[0]
        return np.moveaxis(got, -1, 0)  # the band axis (last here) first, as numpy gives for a slice of bands

    def __repr__(self) -> str:
        return f"BandFirstCube(shape={self.shape}, over {type(self.band_last).__name__})"


def _display_limits(data: np.ndarray) -> tuple[float, float]:
    """Robust 1-99 % contrast limits from a subsample (a few bright tray or NaN pixels do not wash it out)."""
    sub = np.asarray(data[:, ::max(1, data.shape[1] // 64), ::max(1, data.shape[2] // 64)], dtype=np.float32)
    finite = sub[np.isfinite(sub)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    return (float(lo), float(hi)) if hi > lo else (float(lo), float(lo) + 1.0)


def band_label(wavelengths, index: int) -> str:
    """The slider label of band ``index``: its wavelength, e.g. ``'2203.5 nm'``."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    i = int(np.clip(index, 0, wl.size - 1))
    return f"{wl[i]:.1f} nm"


def cube_to_layer_data(cube: Cube, name: str | None = None):
    """``(data (B, H, W) float32, kwargs, 'image')`` of a cube: wavelengths, fwhm, bad bands, mask and scan
    metadata in the layer metadata; the band axis labelled with the wavelength of the first band."""
    if isinstance(cube.data, np.ndarray) or 4 * int(np.prod(cube.shape)) <= LAZY_LAYER_BYTES:
        data = np.ascontiguousarray(np.moveaxis(np.asarray(cube.data, dtype=np.float32), -1, 0))
    else:
        data = BandFirstCube(cube.data)
    if name is None:
        name = Path(cube.meta.source).stem if cube.meta.source else "cube"
    meta = {"hsimin_kind": CUBE_KIND, "wavelengths": np.asarray(cube.wavelengths, dtype=np.float64),
            "fwhm": cube.fwhm, "bad_bands": cube.bad_bands, "mask": cube.mask, "scan_meta": cube.meta.to_dict()}
    kwargs = {"name": name, "metadata": meta, "colormap": "gray", "contrast_limits": _display_limits(data),
              "axis_labels": (band_label(cube.wavelengths, 0), "line", "sample")}
    return data, kwargs, "image"


def is_cube_layer(layer) -> bool:
    """True for an image layer holding a cube: 3-D data and wavelengths (one per band) in its metadata."""
    md = getattr(layer, "metadata", None) or {}
    wl = md.get("wavelengths")
    data = getattr(layer, "data", None)
    return (wl is not None and data is not None and getattr(data, "ndim", 0) == 3
            and not getattr(layer, "rgb", False) and int(np.size(wl)) == int(data.shape[0]))


def layer_to_cube(layer) -> Cube:
    """A :class:`Cube` view of a cube layer (no copy: the data are the layer's, transposed to band-last; for a
    :class:`BandFirstCube` layer, the lazy cube array it reads from)."""
    if not is_cube_layer(layer):
        raise InputError(f"layer {getattr(layer, 'name', '?')!r} is not a hyperspectral cube: open a cube with the "
                         "hsimin reader (its metadata must hold one wavelength per band)")
    md = layer.metadata
    if isinstance(layer.data, BandFirstCube):
        data = layer.data.band_last  # still on disk: hsimin streams it in blocks
    else:
        data = np.moveaxis(np.asarray(layer.data), 0, -1)
        if data.dtype != np.float32:
            data = data.astype(np.float32)
    return Cube(data=data, wavelengths=md["wavelengths"], fwhm=md.get("fwhm"), bad_bands=md.get("bad_bands"),
                mask=md.get("mask"), meta=ScanMeta.from_dict(md.get("scan_meta")))


def pixel_of(layer, world_position) -> tuple[int, int] | None:
    """(row, col) of the pixel under a world position in a layer whose last two axes are lines and samples, or
    None outside the layer."""
    pos = np.asarray(layer.world_to_data(tuple(world_position)), dtype=np.float64)
    if pos.size < 2 or not np.all(np.isfinite(pos[-2:])):
        return None
    r, c = (int(np.floor(v + 0.5)) for v in pos[-2:])
    H, W = layer.data.shape[-2:]
    if 0 <= r < H and 0 <= c < W:
        return r, c
    return None


def spectrum_of(layer, row: int, col: int) -> np.ndarray:
    """(B,) float64 spectrum of a pixel of a cube layer."""
    return np.asarray(layer.data[:, int(row), int(col)], dtype=np.float64)


# --------------------------------------------------------------------------- mineral maps

ARTEFACT_ALPHA = 0.35
"""Opacity of tray-artefact classes (plastic, wood, metal, cardboard) in a map layer: the tray stays visible
but does not outshine the core."""


def label_colormap(classes: Sequence[str]) -> dict:
    """napari colour dict for a class list: value 0 (unclassified) and unknown values transparent, value i + 1
    the class colour of ``classes[i]`` (:func:`hsimin.io.colors.class_colors`), tray artefacts half transparent."""
    from hsimin.core.vocabulary import ARTEFACT_CLASSES
    from hsimin.io.colors import class_colors, normalise_name

    cols = class_colors(list(classes)) if len(classes) else np.zeros((0, 3), np.uint8)
    cmap: dict[Any, Any] = {0: (0.0, 0.0, 0.0, 0.0), None: (0.0, 0.0, 0.0, 0.0)}
    for i, rgb in enumerate(cols):
        alpha = ARTEFACT_ALPHA if normalise_name(classes[i]) in ARTEFACT_CLASSES else 1.0
        cmap[i + 1] = tuple(float(v) / 255.0 for v in rgb) + (alpha,)
    return cmap


def _features_table(classes: Sequence[str], labels: np.ndarray | None):
    import pandas as pd

    n = len(classes)
    counts = np.zeros(n + 1, np.int64)
    if labels is not None:
        v = np.asarray(labels).reshape(-1)
        v = v[(v >= 0) & (v <= n)]
        counts = np.bincount(v, minlength=n + 1)[:n + 1]
    total = max(1, int(counts[1:].sum()))
    return pd.DataFrame({"index": np.arange(n + 1), "class": [UNCLASSIFIED_NAME, *map(str, classes)],
                         "pixels": counts, "fraction": np.r_[0.0, counts[1:] / total]})


def map_to_layer_data(mineral_map: MineralMap, name: str = "minerals", *, min_confidence: float = 0.0,
                      confidence: bool = True) -> list:
    """LayerData of a mineral map: a Labels layer (class names in ``features`` and ``metadata['classes']``, class
    colours) and, when the map has one and ``confidence`` is set, its confidence as an Image layer.

    Pixels whose confidence is below ``min_confidence`` are shown unclassified (value 0).
    """
    labels = np.asarray(mineral_map.labels, dtype=np.int32)
    if min_confidence > 0 and mineral_map.confidence is not None:
        labels = np.where(mineral_map.confidence >= float(min_confidence), labels, UNCLASSIFIED)
    values = np.where(labels >= 0, labels + 1, 0).astype(np.int32)
    classes = list(mineral_map.classes)
    meta = {"hsimin_kind": MAP_KIND, "classes": classes, "produced_by": mineral_map.produced_by,
            "provenance": to_plain(mineral_map.provenance), "scan_meta": mineral_map.meta.to_dict(),
            "min_confidence": float(min_confidence), "mineral_map": mineral_map}
    out = [(values, {"name": name, "colormap": label_colormap(classes), "features": _features_table(classes, values),
                     "metadata": meta, "opacity": 0.8}, "labels")]
    if confidence and mineral_map.confidence is not None:
        out.append((np.asarray(mineral_map.confidence, dtype=np.float32),
                    {"name": f"{name} confidence", "colormap": "viridis", "contrast_limits": (0.0, 1.0),
                     "visible": False, "metadata": {"hsimin_kind": "confidence", "classes": classes}}, "image"))
    return out


def classes_of(layer_or_attributes) -> list[str] | None:
    """Class names (index -> name, unclassified excluded) of a Labels layer, from ``metadata['classes']`` or the
    ``class`` column of its ``features`` (row = napari value); None when it has neither."""
    if isinstance(layer_or_attributes, Mapping):
        md = layer_or_attributes.get("metadata") or {}
        feats = layer_or_attributes.get("features")
    else:
        md = getattr(layer_or_attributes, "metadata", None) or {}
        feats = getattr(layer_or_attributes, "features", None)
    if md.get("classes") is not None:
        return [str(c) for c in md["classes"]]
    if feats is not None and len(feats) and "class" in getattr(feats, "columns", ()):
        idx = np.asarray(feats["index"]) if "index" in feats.columns else np.arange(len(feats))
        names = {int(i): str(n) for i, n in zip(idx, feats["class"])}
        top = max(names)
        return [names.get(v, f"class_{v}") for v in range(1, top + 1)]
    return None


def is_labels_with_classes(layer) -> bool:
    """True for a 2-D labels layer that carries class names."""
    data = getattr(layer, "data", None)
    return data is not None and getattr(data, "ndim", 0) == 2 and classes_of(layer) is not None


def labels_to_map(data, attributes: Mapping[str, Any] | None = None) -> MineralMap:
    """A :class:`MineralMap` from a Labels layer's data (napari value 0 = unclassified, v = class v - 1) and its
    attributes (``metadata``, ``features``, ``name``). Without class names the classes are ``class_1`` ...
    ``class_N`` after the largest value."""
    lab = np.asarray(data)
    if lab.ndim != 2:
        raise InputError(f"a mineral map is 2-D (lines, samples); this labels layer has shape {lab.shape}")
    if lab.dtype.kind not in "iu":
        raise InputError(f"labels must be integers, got {lab.dtype}")
    attributes = dict(attributes or {})
    classes = classes_of(attributes)
    top = int(lab.max(initial=0))
    if classes is None:
        classes = [f"class_{v}" for v in range(1, top + 1)]
    if top > len(classes):
        raise InputError(f"the labels reach value {top} but only {len(classes)} classes are named")
    md = attributes.get("metadata") or {}
    labels = np.where(lab > 0, lab - 1, UNCLASSIFIED).astype(np.int16)
    previous = md.get("mineral_map")
    keep_prev = isinstance(previous, MineralMap) and previous.shape == labels.shape and \
        list(previous.classes) == list(classes) and np.array_equal(np.where(previous.labels >= 0, previous.labels, -1),
                                                                   labels)
    meta = ScanMeta.from_dict(md.get("scan_meta"))
    if keep_prev:
        return previous
    prov = {"source": "napari labels layer", "layer": str(attributes.get("name", ""))}
    return MineralMap(labels=labels, classes=classes, meta=meta,
                      produced_by=str(md.get("produced_by") or "napari-hsimin: painted labels"), provenance=prov)


def training_layer_data(shape: Sequence[int], classes: Sequence[str], name: str = "training labels",
                        meta: ScanMeta | None = None):
    """An empty Labels layer to paint training labels on: value i + 1 = ``classes[i]``."""
    H, W = (int(s) for s in shape[-2:])
    md = {"hsimin_kind": TRAINING_KIND, "classes": [str(c) for c in classes],
          "scan_meta": (meta or ScanMeta()).to_dict()}
    return (np.zeros((H, W), np.int32), {"name": name, "colormap": label_colormap(classes),
                                          "features": _features_table(classes, None), "metadata": md}, "labels")


def legend_entries(classes: Sequence[str], values: np.ndarray | None = None, *, min_fraction: float = 0.0
                   ) -> list[tuple[str, str, float]]:
    """``[(class, '#rrggbb', fraction of classified pixels), ...]`` for the classes present in napari ``values``
    (all classes when None), most frequent first."""
    from hsimin.io.colors import class_colors

    cols = class_colors(list(classes)) if len(classes) else np.zeros((0, 3), np.uint8)
    if values is None:
        frac = np.full(len(classes), 1.0 / max(1, len(classes)))
        order = np.arange(len(classes))
    else:
        v = np.asarray(values).reshape(-1)
        counts = np.bincount(v[(v > 0) & (v <= len(classes))], minlength=len(classes) + 1)[1:len(classes) + 1]
        frac = counts / max(1, counts.sum())
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] > 0]
    return [(str(classes[i]), "#%02x%02x%02x" % tuple(int(c) for c in cols[i]), float(frac[i]))
            for i in order if frac[i] >= min_fraction]


def legend_html(entries: Sequence[tuple[str, str, float]], title: str = "", *, min_fraction: float = 0.001) -> str:
    """Rich text of a legend (coloured squares, names, % of classified pixels) for a Qt label; classes under
    ``min_fraction`` are summed up in one last line."""
    shown = [e for e in entries if e[2] >= min_fraction]
    rest = [e for e in entries if e[2] < min_fraction]
    rows = "".join(f"<tr><td style='color:{col}; font-size:15px'>&#9632;</td><td>{name}</td>"
                   f"<td align='right'>&nbsp;{100 * f:.1f}%</td></tr>" for name, col, f in shown)
    if rest:
        rows += (f"<tr><td></td><td><i>{len(rest)} more: {', '.join(n for n, _, _ in rest[:6])}"
                 f"{' ...' if len(rest) > 6 else ''}</i></td>"
                 f"<td align='right'>&nbsp;{100 * sum(f for _, _, f in rest):.1f}%</td></tr>")
    head = f"<b>{title}</b>" if title else ""
    return f"{head}<table cellspacing='0' cellpadding='1'>{rows}</table>"


# --------------------------------------------------------------------------- other rasters

_FEATURE_STYLE = {
    "wavelength_nm": ("turbo", None),
    "depth": ("magma", None),
    "width_nm": ("viridis", None),
    "asymmetry": ("PiYG", (-1.0, 1.0)),
}


def _robust(v: np.ndarray, lo_p: float = 1, hi_p: float = 99) -> tuple[float, float]:
    f = v[np.isfinite(v)]
    if f.size == 0:
        return 0.0, 1.0
    lo, hi = (float(x) for x in np.percentile(f, [lo_p, hi_p]))
    return (lo, hi) if hi > lo else (lo, lo + 1e-6)


def feature_maps_to_layer_data(features: Mapping[str, np.ndarray], prefix: str = "", *,
                               visible: Sequence[str] = ("f2200_wavelength_nm",)) -> list:
    """Image LayerData of absorption-feature scalar maps (``f2200_wavelength_nm`` ...): positions in ``turbo``
    (contrast on the window's range), depths in ``magma``, widths in ``viridis``, asymmetry in ``PiYG``. Only
    the names in ``visible`` are shown at first."""
    out = []
    for key, arr in features.items():
        a = np.asarray(arr, dtype=np.float32)
        quantity = next((q for q in _FEATURE_STYLE if key.endswith(q)), None)
        cmap, limits = _FEATURE_STYLE.get(quantity, ("viridis", None))
        if limits is None:
            limits = (0.0, _robust(a)[1]) if quantity == "depth" else _robust(a)
        out.append((a, {"name": f"{prefix}{key}", "colormap": cmap, "contrast_limits": limits,
                        "visible": key in visible, "metadata": {"hsimin_kind": "feature", "feature": key}},
                    "image"))
    return out


def attribution_to_layer_data(values: np.ndarray, name: str, *, target: str = "", band_window=(),
                              method: str = "") -> tuple:
    """Image LayerData of an attribution map: diverging colours (``PiYG``: green pushes towards the class,
    magenta away) with symmetric contrast limits."""
    a = np.asarray(values, dtype=np.float32)
    finite = a[np.isfinite(a)]
    m = float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0
    m = m if m > 0 else 1.0
    md = {"hsimin_kind": "attribution", "target": target, "band_window_nm": [float(v) for v in band_window],
          "method": method}
    return a, {"name": name, "colormap": "PiYG", "contrast_limits": (-m, m), "metadata": md}, "image"


def suggestions_to_layer_data(rows_cols: np.ndarray, margins: np.ndarray | None = None,
                              predicted: Sequence[str] | None = None, name: str = "label next") -> tuple:
    """Points LayerData of the pixels suggested for labelling (rings, least certain first)."""
    import pandas as pd

    pts = np.asarray(rows_cols, dtype=np.float64).reshape(-1, 2)
    n = pts.shape[0]
    feats = pd.DataFrame({"rank": np.arange(1, n + 1),
                          "margin": np.asarray(margins, np.float64) if margins is not None else np.full(n, np.nan),
                          "predicted": list(predicted) if predicted is not None else [""] * n})
    return pts, {"name": name, "symbol": "ring", "size": 7, "face_color": "transparent", "border_color": "#ff2a2a",
                 "border_width": 0.25, "features": feats,
                 "metadata": {"hsimin_kind": "suggestions"}}, "points"
