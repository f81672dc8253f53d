"""Core data types (numpy only): Cube, ScanMeta, SpectrumTable, SpectralLibrary, MineralMap, Raster.

All are frozen dataclasses validated once, in ``__post_init__``. Arrays are band-last; wavelengths are
nm, float64, strictly increasing (see :mod:`hsimin.core.units`). Operations on them are free functions
elsewhere (``hsimin.io``, ``hsimin.preprocess``, ...), never methods piled onto these classes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import InputError
from .units import check_wavelengths

UNCLASSIFIED = -1
"""Label value of unclassified, masked or 'unknown' pixels in a :class:`MineralMap`."""


@runtime_checkable
class ArrayLike3D(Protocol):
    """What :attr:`Cube.data` must offer: a numpy array, a memmap, or a lazy reader-backed array.

    ``shape`` is (H, W, B); ``dtype`` is float32; indexing returns float32 numpy arrays in reflectance
    (scale factors applied, ignore values as NaN); ``np.asarray(data)`` loads the whole cube.
    """

    shape: tuple
    dtype: np.dtype

    def __getitem__(self, key): ...

    def __array__(self, dtype=None, copy=None): ...


@dataclass(frozen=True)
class ScanMeta:
    """Where a cube or map comes from. Every field is optional.

    ``attrs`` holds reader-specific facts (interleave, dtype on disk, byte order, header offset...) as
    plain JSON-able values; they are informative, not used for processing.
    """

    hole_id: str | None = None
    tray_id: str | None = None
    depth_from_m: float | None = None
    depth_to_m: float | None = None
    sensor: str | None = None
    pixel_size_mm: float | None = None
    source: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("depth_from_m", "depth_to_m", "pixel_size_mm"):
            v = getattr(self, name)
            if v is not None:
                try:
                    object.__setattr__(self, name, float(v))
                except (TypeError, ValueError):
                    raise InputError(f"ScanMeta.{name} must be a number, got {v!r}") from None
        if (self.depth_from_m is not None and self.depth_to_m is not None
                and self.depth_to_m < self.depth_from_m):
            raise InputError(f"ScanMeta depth_to_m ({self.depth_to_m}) is above depth_from_m ({self.depth_from_m})")
        object.__setattr__(self, "attrs", dict(self.attrs or {}))

    def to_dict(self) -> dict:
        """Plain dict (JSON-able) of every field."""
        return {f.name: (dict(getattr(self, f.name)) if f.name == "attrs" else getattr(self, f.name))
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "ScanMeta":
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True, eq=False)
class SpectrumTable:
    """Per-spectrum facts: one row per pixel of a cube or map, in row-major (H, W) order.

    A point-spectrometer scan (a HyLogger/TSG package: one pixel per spectrum, ``H`` spectra x ``W = 1``)
    carries a table of where each spectrum was taken (hole, tray, section, point, depth) and what the scanner's
    software made of it (TSA minerals, weights, errors, scalars). Image cubes usually have none.

    Attributes
    ----------
    columns : name -> (N,) array, in insertion order. Numeric columns are float64 (or float32, when a reader
        keeps a file's own single precision) with NaN for a missing value; text columns are object arrays of
        ``str`` with ``''`` for a missing value (a repeated label is one shared string, so a 100 000-row column
        of TSA mineral names costs 8 bytes a row). Nothing else is stored. Columns are read-only.
    descriptions : name -> one line (unit, meaning, where the column came from), optional per column

    Standard column names (readers use these where the format has the fact): ``sample`` (the scanner's name of
    the spectrum), ``hole_id``, ``tray_id``, ``section``, ``point``, ``depth_m`` (metres down the hole),
    ``position_mm`` (along the section). Other columns keep the names the scanner gave them (``Min1 sTSAS``).
    """

    columns: Mapping[str, Any]
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        cols: dict[str, np.ndarray] = {}
        n = None
        for name, values in dict(self.columns or {}).items():
            key = str(name)
            if not key or "\x00" in key:
                raise InputError(f"SpectrumTable column name {name!r} is empty or holds NUL")
            a = np.asarray(values)
            if a.ndim != 1:
                raise InputError(f"SpectrumTable column {key!r} has shape {a.shape}, want (N,)")
            if a.dtype.kind in "biuf":
                a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
            elif a.dtype.kind in "USO":
                if a.dtype.kind != "O" or set(map(type, a.tolist())) - {str}:
                    a = _text_column(a)
            else:
                raise InputError(f"SpectrumTable column {key!r} has dtype {a.dtype}; want numbers or text")
            if n is None:
                n = a.size
            elif a.size != n:
                raise InputError(f"SpectrumTable column {key!r} has {a.size} rows, the others {n}")
            a.setflags(write=False)
            cols[key] = a
        if not cols:
            raise InputError("SpectrumTable needs at least one column")
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "descriptions", {str(k): str(v) for k, v in dict(self.descriptions or {}).items()
                                                  if str(k) in cols})

    def __len__(self) -> int:
        return int(next(iter(self.columns.values())).size)

    def __contains__(self, name) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r} (columns: {', '.join(self.columns)})") from None

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return list(self.columns)

    def get(self, name: str, default=None):
        return self.columns.get(name, default)

    def is_numeric(self, name: str) -> bool:
        return self.columns[name].dtype.kind == "f"

    def select(self, names) -> "SpectrumTable":
        """A table of the named columns only (in the order given; unknown names are skipped)."""
        keep = {n: self.columns[n] for n in names if n in self.columns}
        if not keep:
            raise InputError("SpectrumTable.select: none of the named columns exists")
        return SpectrumTable(keep, {k: v for k, v in self.descriptions.items() if k in keep})

    def take(self, rows) -> "SpectrumTable":
        """A table of the rows selected by ``rows`` (boolean mask or integer indices), in that order."""
        idx = np.arange(len(self))[rows]
        return SpectrumTable({k: v[idx] for k, v in self.columns.items()}, self.descriptions)


def _text_column(values: np.ndarray) -> np.ndarray:
    """(N,) object array of str from any text-like array; ``None`` -> ``''``; repeated values share one str."""
    seen: dict = {}
    out = np.empty(values.size, dtype=object)
    for i, v in enumerate(values.tolist()):
        t = seen.get(v)
        if t is None:
            t = "" if v is None else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            seen[v] = t
        out[i] = t
    return out


def _check_table(table, n_pixels: int, what: str):
    if table is None:
        return None
    if not isinstance(table, SpectrumTable):
        table = SpectrumTable(table)
    if len(table) != n_pixels:
        raise InputError(f"{what} has {len(table)} rows for {n_pixels} pixels (one row per pixel, row-major)")
    return table


def _optional_band_vector(value, n: int, what: str, dtype) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != (n,):
        raise InputError(f"{what} has shape {arr.shape}, want ({n},): one value per band")
    return arr


@dataclass(frozen=True, eq=False)
class Cube:
    """A hyperspectral image in reflectance.

    Attributes
    ----------
    data : (H, W, B) float32 array-like
        Reflectance as a 0-1 fraction. May be a read-only memmap or a lazy reader-backed array
        (see :class:`ArrayLike3D`); ``np.asarray(cube.data)`` loads it, ``hsimin.io.iter_blocks``
        streams it. NaN marks missing values (ENVI ``data ignore value``, failed calibration).
    wavelengths : (B,) float64
        Band centres in nm, strictly increasing.
    fwhm : (B,) float64 or None
        Band full width at half maximum in nm.
    bad_bands : (B,) bool or None
        True where a band is bad (ENVI ``bbl`` = 0).
    mask : (H, W) bool or None
        True where a pixel is core (valid), False for tray, background, gaps and invalid pixels.
    meta : ScanMeta
    table : SpectrumTable or None
        One row per pixel (row-major): per-spectrum depth, tray, scanner interpretations... (TSG packages).
    """

    data: Any
    wavelengths: np.ndarray
    fwhm: np.ndarray | None = None
    bad_bands: np.ndarray | None = None
    mask: np.ndarray | None = None
    meta: ScanMeta = field(default_factory=ScanMeta)
    table: SpectrumTable | None = None

    def __post_init__(self):
        data = self.data
        if not hasattr(data, "shape") or not hasattr(data, "__getitem__"):
            data = np.asarray(data, dtype=np.float32)
            object.__setattr__(self, "data", data)
        if len(data.shape) != 3:
            raise InputError(f"Cube.data must be (H, W, B), got shape {tuple(data.shape)}")
        H, W, B = (int(s) for s in data.shape)
        object.__setattr__(self, "wavelengths", check_wavelengths(self.wavelengths, B, "Cube.wavelengths"))
        object.__setattr__(self, "fwhm", _optional_band_vector(self.fwhm, B, "Cube.fwhm", np.float64))
        object.__setattr__(self, "bad_bands", _optional_band_vector(self.bad_bands, B, "Cube.bad_bands", bool))
        if self.mask is not None:
            m = np.asarray(self.mask, dtype=bool)
            if m.shape != (H, W):
                raise InputError(f"Cube.mask has shape {m.shape}, want {(H, W)}")
            object.__setattr__(self, "mask", m)
        if self.meta is None:
            object.__setattr__(self, "meta", ScanMeta())
        object.__setattr__(self, "table", _check_table(self.table, H * W, "Cube.table"))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, B): lines, samples, bands."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def nbytes(self) -> int:
        """Size of the cube in memory as float32, in bytes."""
        H, W, B = self.shape
        return H * W * B * 4

    def load(self) -> "Cube":
        """The same cube with its data read fully into memory as a float32 ndarray."""
        return dataclasses.replace(self, data=np.ascontiguousarray(np.asarray(self.data, dtype=np.float32)))


def _string_tuple(values, what: str) -> tuple[str, ...]:
    out = []
    for v in values:
        out.append(v.decode() if isinstance(v, bytes) else str(v))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class SpectralLibrary:
    """Reference spectra on one wavelength grid.

    Attributes
    ----------
    spectra : (N, B) float64 reflectance (0-1), NaN where a source has no data
    wavelengths : (B,) float64 nm, strictly increasing
    names : N sample names (e.g. ``Kaolinite_CM9``)
    minerals : N mineral names from hsimin's controlled vocabulary (lower case, e.g. ``white_mica``)
    source : where the library comes from (id, file, citation)
    sample_ids : N sample ids (spectra of one physical sample share one) or None
    fwhm : (B,) float64 nm or None
    attrs : extra per-spectrum columns (purity, instrument, ...), each a length-N sequence
    """

    spectra: np.ndarray
    wavelengths: np.ndarray
    names: Sequence[str]
    minerals: Sequence[str]
    source: str = ""
    sample_ids: Sequence[str] | None = None
    fwhm: np.ndarray | None = None
    attrs: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self):
        S = np.asarray(self.spectra, dtype=np.float64)
        if S.ndim != 2:
            raise InputError(f"SpectralLibrary.spectra must be (N, B), got shape {S.shape}")
        N, B = S.shape
        object.__setattr__(self, "spectra", S)
        object.__setattr__(self, "wavelengths", check_wavelengths(self.wavelengths, B, "SpectralLibrary.wavelengths"))
        for name in ("names", "minerals"):
            vals = _string_tuple(getattr(self, name), name)
            if len(vals) != N:
                raise InputError(f"SpectralLibrary.{name} has {len(vals)} entries for {N} spectra")
            object.__setattr__(self, name, vals)
        if self.sample_ids is not None:
            ids = _string_tuple(self.sample_ids, "sample_ids")
            if len(ids) != N:
                raise InputError(f"SpectralLibrary.sample_ids has {len(ids)} entries for {N} spectra")
            object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "fwhm", _optional_band_vector(self.fwhm, B, "SpectralLibrary.fwhm", np.float64))
        attrs = {}
        for k, v in dict(self.attrs or {}).items():
            v = list(v)
            if len(v) != N:
                raise InputError(f"SpectralLibrary.attrs[{k!r}] has {len(v)} entries for {N} spectra")
            attrs[k] = tuple(v)
        object.__setattr__(self, "attrs", attrs)

    def __len__(self) -> int:
        return int(self.spectra.shape[0])

    def subset(self, index) -> "SpectralLibrary":
        """A library of the spectra selected by ``index`` (boolean mask or integer indices)."""
        idx = np.arange(len(self))[index]
        pick = lambda seq: None if seq is None else [seq[i] for i in idx]  # noqa: E731
        return SpectralLibrary(self.spectra[idx], self.wavelengths, pick(self.names), pick(self.minerals),
                               self.source, pick(self.sample_ids), self.fwhm,
                               {k: pick(v) for k, v in self.attrs.items()})


@dataclass(frozen=True, eq=False)
class MineralMap:
    """Per-pixel mineral labels.

    Attributes
    ----------
    labels : (H, W) int16; ``-1`` (:data:`UNCLASSIFIED`) = unclassified, unknown or masked
    classes : class names, index -> mineral (lower-case vocabulary names)
    scores : (H, W, K) float32 or None; per-class scores (probabilities, similarity) aligned with ``classes``
    confidence : (H, W) float32 in [0, 1] or None
    meta : ScanMeta of the source cube
    produced_by : model hash or estimator description (provenance)
    extra : further named (H, W) or (H, W, k) float arrays (fit error, mixture fractions, ...)
    provenance : JSON-able dict (recipe, versions, parameters)
    table : SpectrumTable or None; one row per pixel (row-major), carried over from the cube (depths...)
    """

    labels: np.ndarray
    classes: Sequence[str]
    scores: np.ndarray | None = None
    confidence: np.ndarray | None = None
    meta: ScanMeta = field(default_factory=ScanMeta)
    produced_by: str = ""
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    table: SpectrumTable | None = None

    def __post_init__(self):
        lab = np.asarray(self.labels)
        if lab.ndim != 2:
            raise InputError(f"MineralMap.labels must be (H, W), got shape {lab.shape}")
        if lab.dtype.kind not in "iu":
            if lab.dtype.kind == "f" and np.all(np.equal(np.mod(lab, 1), 0)):
                pass
            else:
                raise InputError(f"MineralMap.labels must be integers, got {lab.dtype}")
        classes = _string_tuple(list(self.classes.values()) if isinstance(self.classes, Mapping)
                                else self.classes, "classes")
        K = len(classes)
        if lab.size and (lab.max(initial=-1) >= K or lab.min(initial=0) < UNCLASSIFIED):
            raise InputError(f"MineralMap.labels run from {lab.min()} to {lab.max()}; want -1..{K - 1} for {K} classes")
        object.__setattr__(self, "labels", lab.astype(np.int16))
        object.__setattr__(self, "classes", classes)
        H, W = lab.shape
        if self.scores is not None:
            s = np.asarray(self.scores, dtype=np.float32)
            if s.shape != (H, W, K):
                raise InputError(f"MineralMap.scores has shape {s.shape}, want {(H, W, K)}")
            object.__setattr__(self, "scores", s)
        if self.confidence is not None:
            c = np.asarray(self.confidence, dtype=np.float32)
            if c.shape != (H, W):
                raise InputError(f"MineralMap.confidence has shape {c.shape}, want {(H, W)}")
            object.__setattr__(self, "confidence", c)
        if self.meta is None:
            object.__setattr__(self, "meta", ScanMeta())
        if self.produced_by is None:
            object.__setattr__(self, "produced_by", "")
        extra = {}
        for k, v in dict(self.extra or {}).items():
            a = np.asarray(v)
            if a.shape[:2] != (H, W):
                raise InputError(f"MineralMap.extra[{k!r}] has shape {a.shape}, want ({H}, {W}, ...)")
            extra[str(k)] = a
        object.__setattr__(self, "extra", extra)
        object.__setattr__(self, "provenance", dict(self.provenance or {}))
        object.__setattr__(self, "table", _check_table(self.table, H * W, "MineralMap.table"))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.labels.shape)

    def names(self) -> np.ndarray:
        """(H, W) object array of the class name of every pixel, '' where unclassified."""
        table = np.array(list(self.classes) + [""], dtype=object)
        idx = np.where(self.labels >= 0, self.labels, len(self.classes))
        return table[idx]


@dataclass(frozen=True, eq=False)
class Raster:
    """A georeferenced grid of one or more layers (prospectivity inputs and outputs).

    Attributes
    ----------
    values : (H, W, L) float32 (band-last; a single layer is (H, W, 1)); NaN = no data
    transform : 6 floats (a, b, c, d, e, f), the affine map x = a*col + b*row + c, y = d*col + e*row + f
        of the top-left corner of each cell (rasterio/affine order)
    crs : CRS as a string (``EPSG:32650``) or None
    layer_names : L names
    mask : (H, W) bool or None; True inside the study area
    """

    values: np.ndarray
    transform: tuple
    crs: str | None = None
    layer_names: Sequence[str] = ()
    mask: np.ndarray | None = None

    def __post_init__(self):
        v = np.asarray(self.values, dtype=np.float32)
        if v.ndim == 2:
            v = v[..., None]
        if v.ndim != 3:
            raise InputError(f"Raster.values must be (H, W) or (H, W, L), got shape {v.shape}")
        object.__setattr__(self, "values", v)
        t = tuple(float(x) for x in self.transform)
        if len(t) != 6:
            raise InputError(f"Raster.transform needs 6 numbers, got {len(t)}")
        object.__setattr__(self, "transform", t)
        names = _string_tuple(self.layer_names or [f"layer{i}" for i in range(v.shape[2])], "layer_names")
        if len(names) != v.shape[2]:
            raise InputError(f"Raster has {v.shape[2]} layers but {len(names)} layer names")
        object.__setattr__(self, "layer_names", names)
        if self.mask is not None:
            m = np.asarray(self.mask, dtype=bool)
            if m.shape != v.shape[:2]:
                raise InputError(f"Raster.mask has shape {m.shape}, want {v.shape[:2]}")
            object.__setattr__(self, "mask", m)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.values.shape[:2])

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) coordinates of every cell centre, each (H, W) float64."""
        a, b, c, d, e, f = self.transform
        rows, cols = np.mgrid[0:self.shape[0], 0:self.shape[1]].astype(np.float64) + 0.5
        return a * cols + b * rows + c, d * cols + e * rows + f
