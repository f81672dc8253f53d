"""HDF5 through h5py: hsimin's own schema (v1), read here and written by :mod:`hsimin.io.hdf5_write` (its
functions are importable from here too), with the schema's names in :mod:`hsimin.io.hdf5_schema`; other HDF5
cubes are read by :mod:`hsimin.io.hdf5_foreign`, the shared reading pieces are in :mod:`hsimin.io.hdf5_read` and
the full-disk guard every HDF5 writer uses in :mod:`hsimin.io.hdf5_guard`.

hsimin HDF5 schema v1 (full description in ``docs/formats.md``)::

    /                      attrs: hsimin_schema = 1, hsimin_version
    /cube/data             (H, W, B) float32 reflectance, chunked in whole lines
    /cube/wavelengths      (B,) float64 nm, strictly increasing
    /cube/fwhm             (B,) float64 nm                    optional
    /cube/bad_bands        (B,) uint8, 1 = bad band            optional
    /cube/mask             (H, W) uint8, 1 = core              optional
    /cube/table/...        per-spectrum table (one row per pixel) optional, see below
    /cube                  attrs: ScanMeta fields, attrs_json
    /maps/<name>/labels    (H, W) int16, -1 = unclassified
    /maps/<name>/classes   (K,) UTF-8 strings
    /maps/<name>/scores    (H, W, K) float32                   optional
    /maps/<name>/confidence (H, W) float32                     optional
    /maps/<name>/extra/<x> (H, W[, k]) arrays                  optional
    /maps/<name>/table/... per-spectrum table                  optional
    /maps/<name>           attrs: produced_by, provenance_json, ScanMeta fields, attrs_json
    /<group>/<name>        named arrays, e.g. /features/f2200_wavelength_nm (H, W) float32

A per-spectrum table (:class:`~hsimin.core.SpectrumTable`) is a group with ``names`` and ``descriptions``
((K,) UTF-8 strings, column order) and one (H*W,) dataset per column, ``c0000``, ``c0001``...: float64 with NaN
for missing, or UTF-8 strings with '' for missing (column names may hold any character, HDF5 names may not).

Readers open the file by path for every read, so a lazy cube can be pickled and read from other
processes. Writers stream cubes block by block and are atomic (temporary file, then rename).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..core.errors import FormatError, HeaderError, HsiminError, InputError
from ..core.types import Cube, MineralMap, ScanMeta, SpectrumTable
from ..core.units import to_nanometers
from .hdf5_foreign import open_foreign_hdf5
from .hdf5_read import (HDF5CubeArray, check_storage, dataset_summary, find_unit, make_cube, read_dataset,
                        reading, str_attr, wavelength_order)
from .hdf5_schema import (_META_FLOAT, _META_STR, CHUNK_TARGET_BYTES, CUBE_GROUP, DEFAULT_MAP_NAME, FEATURES_GROUP,
                          MAPS_GROUP, RESERVED_GROUPS, SCHEMA_VERSION, TABLE_GROUP, _schema_version)
from .hdf5_write import write_arrays_hdf5, write_cube_hdf5, write_hdf5, write_map_hdf5
from .registry import Reader, register_reader

__all__ = ["CHUNK_TARGET_BYTES", "CUBE_GROUP", "DEFAULT_MAP_NAME", "FEATURES_GROUP", "MAPS_GROUP", "RESERVED_GROUPS",
           "SCHEMA_VERSION", "TABLE_GROUP", "list_maps_hdf5", "open_hdf5", "read_arrays_hdf5", "read_map_hdf5",
           "sniff_hdf5", "write_arrays_hdf5", "write_cube_hdf5", "write_hdf5", "write_map_hdf5"]

# ScanMeta.attrs keys that describe how a file lays data out on disk: on reading a cube they describe the
# HDF5 file, not the source a stored cube was converted from (whose format stays as ``source_format``).
_LAYOUT_KEYS = frozenset({"format", "interleave", "dtype", "byte_order", "byte order", "header_offset",
                          "header offset", "data_file", "data file", "dataset", "layout", "chunks", "compression",
                          "hsimin_schema"})

# --------------------------------------------------------------------------- reading helpers

def _json_attr(g: h5py.Group, name: str, path: Path, default: Any = None) -> Any:
    """The JSON text in attribute ``name`` of ``g``, parsed (``default`` if absent); invalid JSON is a
    :class:`HeaderError` naming the group and the attribute."""
    if name not in g.attrs:
        return default
    try:
        return json.loads(str_attr(g.attrs[name]))
    except json.JSONDecodeError as exc:
        raise HeaderError(f"{g.name} attribute {name} is not valid JSON ({exc})", path=path) from None


def _read_meta_attrs(g: h5py.Group, path: Path) -> ScanMeta:
    kw: dict[str, Any] = {}
    for k in _META_STR:
        if k in g.attrs:
            kw[k] = str_attr(g.attrs[k])
    for k in _META_FLOAT:
        if k in g.attrs:
            raw = g.attrs[k]
            try:
                kw[k] = float(np.asarray(raw, dtype=np.float64).reshape(-1)[0])
            except (TypeError, ValueError, IndexError):
                shown = str_attr(raw) if isinstance(raw, (bytes, str, np.ndarray)) else repr(raw)
                raise HeaderError(f"{g.name} attribute {k} is {shown[:40]!r}, not a number (metres or mm)",
                                  path=path) from None
    attrs = _json_attr(g, "attrs_json", path, {})
    try:
        return ScanMeta(**kw, attrs=attrs if isinstance(attrs, dict) else {"value": attrs})
    except InputError as exc:
        raise HeaderError(f"{g.name} metadata: {exc.message}", path=path) from None

def _read_table_group(g: h5py.Group, path: Path) -> SpectrumTable | None:
    t = g.get(TABLE_GROUP)
    if not isinstance(t, h5py.Group):
        return None
    if "names" not in t:
        raise FormatError(f"{t.name} has no 'names' dataset (a per-spectrum table lists its column names)", path=path)
    names = [str(n) for n in read_dataset(t["names"]).reshape(-1)]
    descr = [str(d) for d in read_dataset(t["descriptions"]).reshape(-1)] if "descriptions" in t else []
    cols = {}
    for i, n in enumerate(names):
        key = f"c{i:04d}"
        if key not in t:
            raise FormatError(f"{t.name} lists column {n!r} but has no dataset {key}", path=path)
        cols[n] = read_dataset(t[key]).reshape(-1)
    try:
        return SpectrumTable(cols, {n: d for n, d in zip(names, descr) if d})
    except InputError as exc:
        raise FormatError(f"{t.name}: {exc.message}", path=path) from None

# --------------------------------------------------------------------------- reading maps and arrays

def list_maps_hdf5(path: str | os.PathLike) -> list[str]:
    """Names of the mineral maps (``/maps/<name>``) in an HDF5 file, in stored order."""
    p = Path(path)
    with reading(p) as f:
        _schema_version(f, p)
        g = f.get(MAPS_GROUP)
        return [k for k in g if isinstance(g[k], h5py.Group)] if isinstance(g, h5py.Group) else []


def read_map_hdf5(path: str | os.PathLike, name: str | None = None) -> MineralMap:
    """Read a mineral map written by :func:`write_map_hdf5`.

    ``name`` picks ``/maps/<name>``; by default ``mineral``, or the only map in the file. Raises
    :class:`FormatError` if the file holds no map (or several and none is named).
    """
    p = Path(path)
    with reading(p) as f:
        _schema_version(f, p)
        maps = f.get(MAPS_GROUP)
        names = [k for k in maps if isinstance(maps[k], h5py.Group)] if isinstance(maps, h5py.Group) else []
        if not names:
            raise FormatError(f"holds no mineral map (no /{MAPS_GROUP}/<name> group; found {dataset_summary(f)}); "
                              "write one with hsimin.save_map or open cubes with hsimin.open_cube", path=p)
        if name is None:
            if DEFAULT_MAP_NAME in names:
                name = DEFAULT_MAP_NAME
            elif len(names) == 1:
                name = names[0]
            else:
                raise FormatError(f"holds several maps ({', '.join(names)}); pass name=", path=p)
        if name not in names:
            raise FormatError(f"holds no map named {name!r} (maps: {', '.join(names)})", path=p)
        g = maps[name]
        for req in ("labels", "classes"):
            if req not in g:
                raise FormatError(f"map /{MAPS_GROUP}/{name} has no {req!r} dataset", path=p)
        labels = g["labels"][()]
        classes = list(read_dataset(g["classes"]).reshape(-1))
        scores = g["scores"][()] if "scores" in g else None
        confidence = g["confidence"][()] if "confidence" in g else None
        extra = {}
        if "extra" in g:
            for k, ds in g["extra"].items():
                if isinstance(ds, h5py.Dataset):
                    extra[k] = read_dataset(ds)
        produced_by = str_attr(g.attrs.get("produced_by", ""))
        provenance = _json_attr(g, "provenance_json", p, {})
        meta = _read_meta_attrs(g, p)
        table = _read_table_group(g, p)
    try:
        return MineralMap(labels=labels, classes=classes, scores=scores, confidence=confidence, meta=meta,
                          produced_by=produced_by, extra=extra, provenance=provenance, table=table)
    except InputError as exc:
        raise FormatError(f"map /{MAPS_GROUP}/{name} is inconsistent: {exc.message}", path=p) from None


def read_arrays_hdf5(path: str | os.PathLike, group: str = FEATURES_GROUP, *, return_attrs: bool = False):
    """The datasets of ``/<group>`` as {name: ndarray} (strings as ``str`` arrays), in stored order.

    With ``return_attrs=True`` returns ``(arrays, attrs)``, attrs being the dict given to
    :func:`write_arrays_hdf5` (from ``attrs_json``, else the group's plain HDF5 attributes).
    Raises :class:`FormatError` if the group is missing.
    """
    p = Path(path)
    with reading(p) as f:
        _schema_version(f, p)
        g = f.get(group)
        if not isinstance(g, h5py.Group):
            groups = [k for k in f if isinstance(f[k], h5py.Group)]
            raise FormatError(f"has no group /{group} (groups: {', '.join(groups) or 'none'}); pass group=",
                              path=p)
        arrays = {k: read_dataset(ds) for k, ds in g.items() if isinstance(ds, h5py.Dataset)}
        if "attrs_json" in g.attrs:
            attrs = _json_attr(g, "attrs_json", p)
        else:
            attrs = {k: (str_attr(v) if isinstance(v, (bytes, str)) else np.asarray(v).tolist())
                     for k, v in g.attrs.items()}
    return (arrays, attrs) if return_attrs else arrays


# --------------------------------------------------------------------------- reading cubes

def sniff_hdf5(path: Path) -> bool:
    """True for a file with the HDF5 signature (any extension: .h5, .hdf5, .he5, .nc...)."""
    p = Path(path)
    return p.is_file() and h5py.is_hdf5(p)


def open_hdf5(path: str | os.PathLike, *, dataset: str | None = None, wavelengths=None,
              wavelength_units: str | None = None, load: bool = False) -> Cube:
    """Open an HDF5 cube as a lazy :class:`Cube` (nothing is read until indexed, unless ``load``).

    An hsimin file (root attribute ``hsimin_schema``) is read by the schema: ``/cube/data`` with its
    wavelengths, fwhm, bad bands, mask and metadata. Any other file, or any file when ``dataset`` or
    ``wavelengths`` is given, is read by the generic rules (``docs/formats.md``):

    - the cube is the only 3-D numeric dataset, or the one named by ``dataset``;
    - wavelengths come from ``wavelengths``: a dataset path or attribute name, or the values themselves;
      by default a 1-D dataset or attribute named like ``wavelength(s)``, ``wl``, ``wavelength_nm``,
      ``lambda`` or ``bands``, looked for on the dataset, beside it, then anywhere in the file;
    - the band axis is the one whose length equals the number of wavelengths (band-last preferred, then
      band-first, or as the dataset's ``interleave`` attribute says); band-first and BIL data are
      transposed block by block;
    - units come from ``wavelength_units``, else a ``units``/``wavelength_units`` attribute, else the
      magnitude (< 30: micrometres); bands are put in increasing-wavelength order;
    - ``_FillValue``/``missing_value``/``data_ignore_value`` -> NaN, CF ``scale_factor``/``add_offset``
      and ``reflectance_scale_factor`` (divides) are applied.

    Raises :class:`FormatError` naming the file, listing what it holds and the ``dataset=`` /
    ``wavelengths=`` options, when no cube or no wavelengths can be found.
    """
    p = Path(path)
    with reading(p) as f:
        schema = _schema_version(f, p)
        if schema is not None and dataset is None and wavelengths is None:
            cube = _open_schema_cube(f, p, wavelength_units)
        else:
            cube = open_foreign_hdf5(f, p, dataset, wavelengths, wavelength_units)
    return cube.load() if load else cube


def _open_schema_cube(f: h5py.File, p: Path, wavelength_units) -> Cube:
    g = f.get(CUBE_GROUP)
    if not isinstance(g, h5py.Group) or "data" not in g:
        groups = [k for k in f if isinstance(f[k], h5py.Group)]
        hint = ""
        if MAPS_GROUP in groups:
            hint += "; it holds mineral maps: read them with hsimin.open_map"
        if any(k not in RESERVED_GROUPS for k in groups):
            hint += "; named arrays: read them with hsimin.io.hdf5.read_arrays_hdf5"
        raise FormatError(f"hsimin HDF5 file without a cube (no /{CUBE_GROUP}/data; groups: "
                          f"{', '.join(groups) or 'none'}){hint}", path=p)
    ds = g["data"]
    if ds.ndim != 3:
        raise FormatError(f"/{CUBE_GROUP}/data has shape {ds.shape}, want (lines, samples, bands)", path=p)
    check_storage(ds, p)
    if 0 in ds.shape:
        raise FormatError(f"/{CUBE_GROUP}/data has shape {ds.shape}: the cube holds no pixels", path=p)
    if "wavelengths" not in g:
        raise FormatError(f"/{CUBE_GROUP} has no 'wavelengths' dataset (found {dataset_summary(f)})", path=p)
    wl_ds = g["wavelengths"]
    if not isinstance(wl_ds, h5py.Dataset) or wl_ds.shape != (ds.shape[2],):
        raise HeaderError(f"/{CUBE_GROUP}/wavelengths has shape {getattr(wl_ds, 'shape', None)}; want one wavelength "
                          f"per band, ({ds.shape[2]},)", path=p)
    unit = wavelength_units or find_unit(wl_ds.attrs) or find_unit(g.attrs) or "nm"
    try:
        wl = to_nanometers(wl_ds[()], unit)
    except HsiminError as exc:
        raise HeaderError(f"/{CUBE_GROUP}/wavelengths: {exc.message}", path=p) from None
    H, W, B = ds.shape
    fwhm = np.asarray(g["fwhm"][()], np.float64) if "fwhm" in g else None
    bad = np.asarray(g["bad_bands"][()]).astype(bool) if "bad_bands" in g else None
    mask = np.asarray(g["mask"][()]).astype(bool) if "mask" in g else None
    order = wavelength_order(wl, p)
    if order is not None:
        wl = wl[order]
        fwhm = None if fwhm is None else fwhm[order]
        bad = None if bad is None else bad[order]
    data = HDF5CubeArray(p, ds.name, ds.shape, band_axis=2, band_order=order)
    meta = _read_meta_attrs(g, p)
    stored = dict(meta.attrs)
    attrs = {k: v for k, v in stored.items() if k not in _LAYOUT_KEYS}
    if stored.get("format") not in (None, "hdf5"):
        attrs.setdefault("source_format", stored["format"])
    attrs.update({"format": "hdf5", "hsimin_schema": SCHEMA_VERSION, "dataset": ds.name, "interleave": "bip",
                  "dtype": str(ds.dtype.newbyteorder("=")), "chunks": None if ds.chunks is None else list(ds.chunks),
                  "compression": ds.compression})
    meta = ScanMeta(**{**meta.to_dict(), "attrs": attrs})
    table = _read_table_group(g, p)
    return make_cube(p, data, wl, fwhm, bad, mask, meta, table)


register_reader(Reader(name="hdf5", sniff=sniff_hdf5, open=open_hdf5, priority=20,
                       description="HDF5: hsimin schema v1, or one 3-D dataset plus wavelengths (h5py)"))
