"""HDF5 through h5py: hsimin's own schema (v1), written and read here; other HDF5 cubes are read by
:mod:`hsimin.io.hdf5_foreign`, the shared reading pieces are in :mod:`hsimin.io.hdf5_read` and the full-disk
guard every HDF5 writer uses in :mod:`hsimin.io.hdf5_guard`.

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
import shutil
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__
from ..core.errors import FormatError, HeaderError, HsiminError, InputError, OutputExistsError
from ..core.plain import json_text
from ..core.types import Cube, MineralMap, ScanMeta, SpectrumTable
from ..core.units import to_nanometers
from .atomic import atomic_output, ensure_space, output_error
from .blocks import block_lines, iter_blocks
from .hdf5_foreign import open_foreign_hdf5
from .hdf5_guard import guarded_h5
from .hdf5_read import (HDF5CubeArray, check_storage, dataset_summary, find_unit, make_cube, open_read, read_dataset,
                        reading, str_attr, wavelength_order)
from .registry import Reader, register_reader

SCHEMA_VERSION = 1
"""Version of the hsimin HDF5 schema this module writes (root attribute ``hsimin_schema``)."""

CUBE_GROUP = "cube"
MAPS_GROUP = "maps"
DEFAULT_MAP_NAME = "mineral"
FEATURES_GROUP = "features"
RESERVED_GROUPS = (CUBE_GROUP, MAPS_GROUP)

CHUNK_TARGET_BYTES = 8 * 2**20
"""Target size of one chunk of ``/cube/data`` (whole lines): 8 MiB."""

_META_STR = ("hole_id", "tray_id", "sensor", "source")
_META_FLOAT = ("depth_from_m", "depth_to_m", "pixel_size_mm")

# ScanMeta.attrs keys that describe how a file lays data out on disk: on reading a cube they describe the
# HDF5 file, not the source a stored cube was converted from (whose format stays as ``source_format``).
_LAYOUT_KEYS = frozenset({"format", "interleave", "dtype", "byte_order", "byte order", "header_offset",
                          "header offset", "data_file", "data file", "dataset", "layout", "chunks", "compression",
                          "hsimin_schema"})


# --------------------------------------------------------------------------- small helpers

def _dumps(obj) -> str:
    return json_text(obj, sort_keys=True, nonfinite="keep")


def _schema_version(f: h5py.File, path: Path) -> int | None:
    """The file's ``hsimin_schema`` (None for a generic HDF5 file); refuses newer schemas."""
    if "hsimin_schema" not in f.attrs:
        return None
    try:
        v = int(np.asarray(f.attrs["hsimin_schema"]).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise HeaderError(f"root attribute hsimin_schema is {f.attrs['hsimin_schema']!r}, not an integer",
                          path=path) from None
    if v > SCHEMA_VERSION:
        raise FormatError(f"written with hsimin HDF5 schema {v}, this hsimin ({__version__}) reads schema "
                          f"<= {SCHEMA_VERSION}; upgrade hsimin", path=path)
    return v


def _write_meta_attrs(g: h5py.Group, meta: ScanMeta | None) -> None:
    meta = meta or ScanMeta()
    for k in _META_STR:
        v = getattr(meta, k)
        if v is not None:
            g.attrs[k] = str(v)
    for k in _META_FLOAT:
        v = getattr(meta, k)
        if v is not None:
            g.attrs[k] = np.float64(v)
    g.attrs["attrs_json"] = _dumps(dict(meta.attrs))


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


def _chunk_lines(H: int, W: int, B: int, chunk_lines: int | None) -> int:
    if chunk_lines is not None:
        if int(chunk_lines) < 1:
            raise InputError(f"chunk_lines must be >= 1, got {chunk_lines}")
        return min(int(chunk_lines), max(1, H))
    return max(1, min(H, CHUNK_TARGET_BYTES // max(1, W * B * 4)))


def _compression_kwargs(compression) -> dict:
    """h5py keyword arguments for ``compression``: None, 'gzip', 'lzf', an int (gzip level) or ('gzip', level)."""
    if compression in (None, False, "none", ""):
        return {}
    if isinstance(compression, bool):
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if isinstance(compression, int):
        return {"compression": "gzip", "compression_opts": int(compression), "shuffle": True}
    if isinstance(compression, (tuple, list)) and len(compression) == 2:
        return {"compression": str(compression[0]), "compression_opts": compression[1], "shuffle": True}
    if compression in ("gzip", "lzf"):
        return {"compression": compression, "shuffle": True}
    raise InputError(f"compression must be None, 'gzip', 'lzf' or a gzip level 0-9, got {compression!r}")


def _array_dataset(g: h5py.Group, name: str, arr: np.ndarray, compression=None, what: str = "array"):
    """Store a numeric, boolean or string array as dataset ``name`` of ``g`` (no timestamps)."""
    a = np.asarray(arr)
    if a.dtype.kind in "US" or (a.dtype.kind == "O" and all(isinstance(v, (str, bytes)) for v in a.ravel())):
        data = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in a.ravel()],
                        dtype=object).reshape(a.shape)
        return g.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"), track_times=False)
    if a.dtype.kind not in "biuf":
        raise InputError(f"{what} {name!r} has dtype {a.dtype}; store numbers, booleans or strings")
    kw = _compression_kwargs(compression) if a.ndim >= 2 and a.size else {}
    if kw:
        lines = max(1, min(a.shape[0], CHUNK_TARGET_BYTES // max(1, a[:1].nbytes)))
        kw["chunks"] = (lines,) + a.shape[1:]
    return g.create_dataset(name, data=np.ascontiguousarray(a), track_times=False, **kw)


def _check_name(name: str, what: str) -> str:
    name = str(name)
    if not name or "/" in name or name in (".", ".."):
        raise InputError(f"{what} {name!r} is not a usable HDF5 name (non-empty, no '/')")
    return name


# --------------------------------------------------------------------------- per-spectrum tables

TABLE_GROUP = "table"


def _write_table_group(g: h5py.Group, table: SpectrumTable | None, compression=None) -> None:
    """Store a :class:`SpectrumTable` as ``g/table`` (see the module docstring)."""
    if table is None:
        return
    t = g.create_group(TABLE_GROUP, track_order=True)
    names = table.names
    t.create_dataset("names", data=np.array(names, dtype=object), dtype=h5py.string_dtype("utf-8"),
                     track_times=False)
    t.create_dataset("descriptions", data=np.array([table.descriptions.get(n, "") for n in names], dtype=object),
                     dtype=h5py.string_dtype("utf-8"), track_times=False)
    for i, n in enumerate(names):
        col = table[n]
        if col.dtype.kind == "f":
            t.create_dataset(f"c{i:04d}", data=np.asarray(col, "<f8"), track_times=False)
        else:
            t.create_dataset(f"c{i:04d}", data=np.array(col.tolist(), dtype=object),
                             dtype=h5py.string_dtype("utf-8"), track_times=False)
    t.attrs["rows"] = np.int64(len(table))


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


# --------------------------------------------------------------------------- writing

def _cube_bytes(cube: Cube | None) -> int:
    if cube is None:
        return 0
    H, W, B = cube.shape
    return H * W * B * 4


def _write_cube_group(f: h5py.File, cube: Cube, chunk_lines, compression, max_bytes, check=None) -> None:
    """Write ``/cube``; ``check()`` runs after every block (it raises when the disk filled up, so a large cube
    stops at once)."""
    H, W, B = cube.shape
    g = f.create_group(CUBE_GROUP, track_order=True)
    cl = _chunk_lines(H, W, B, chunk_lines)
    kw = _compression_kwargs(compression)
    chunks = (cl, W, B) if H * W * B > 0 else None
    if chunks is None:
        kw = {}
    ds = g.create_dataset("data", shape=(H, W, B), dtype="<f4", chunks=chunks, track_times=False, **kw)
    ds.attrs["units"] = "reflectance (0-1)"
    ds.attrs["axes"] = "lines, samples, bands"
    # Blocks hold whole chunks, so every chunk is written once.
    n = block_lines(cube, max_bytes=max_bytes)
    n = max(cl, (n // cl) * cl)
    if H * W * B > 0:
        for block in iter_blocks(cube, lines=n):
            ds.write_direct(np.ascontiguousarray(block.data, dtype=np.float32),
                            dest_sel=np.s_[block.rows.start:block.rows.stop])
            if check is not None:
                check()
    wl = g.create_dataset("wavelengths", data=np.asarray(cube.wavelengths, np.float64), track_times=False)
    wl.attrs["units"] = "nm"
    if cube.fwhm is not None:
        fw = g.create_dataset("fwhm", data=np.asarray(cube.fwhm, np.float64), track_times=False)
        fw.attrs["units"] = "nm"
    if cube.bad_bands is not None:
        bb = g.create_dataset("bad_bands", data=np.asarray(cube.bad_bands, bool).astype(np.uint8),
                              track_times=False)
        bb.attrs["meaning"] = "1 = bad band, 0 = good band"
    if cube.mask is not None:
        m = g.create_dataset("mask", data=np.asarray(cube.mask, bool).astype(np.uint8), track_times=False)
        m.attrs["meaning"] = "1 = core (valid pixel), 0 = tray, background, gap or invalid"
    g.attrs["wavelength_units"] = "nm"
    _write_meta_attrs(g, cube.meta)
    _write_table_group(g, cube.table)


def _write_map_group(f: h5py.File, mm: MineralMap, name: str, compression) -> None:
    maps = f.require_group(MAPS_GROUP)
    g = maps.create_group(_check_name(name, "map name"), track_order=True)
    lab = g.create_dataset("labels", data=np.asarray(mm.labels, dtype="<i2"), track_times=False)
    lab.attrs["unclassified"] = np.int16(-1)
    g.create_dataset("classes", data=np.array(list(mm.classes), dtype=object).reshape(len(mm.classes)),
                     dtype=h5py.string_dtype("utf-8"), track_times=False)
    if mm.scores is not None:
        ds = _array_dataset(g, "scores", np.asarray(mm.scores, dtype="<f4"), compression)
        ds.attrs["axes"] = "lines, samples, classes"
    if mm.confidence is not None:
        _array_dataset(g, "confidence", np.asarray(mm.confidence, dtype="<f4"), compression)
    if mm.extra:
        eg = g.create_group("extra", track_order=True)
        for k, v in mm.extra.items():
            _array_dataset(eg, _check_name(k, "MineralMap.extra name"), v, compression, "MineralMap.extra")
    g.attrs["produced_by"] = str(mm.produced_by or "")
    g.attrs["provenance_json"] = _dumps(dict(mm.provenance))
    _write_meta_attrs(g, mm.meta)
    _write_table_group(g, mm.table)


def _write_arrays_group(f: h5py.File, group: str, arrays: Mapping[str, Any], attrs, compression) -> None:
    group = _check_name(group, "group")
    if group in RESERVED_GROUPS:
        raise InputError(f"group {group!r} is reserved by the hsimin schema; use another name (e.g. 'features')")
    g = f.create_group(group, track_order=True)
    for k, v in arrays.items():
        _array_dataset(g, _check_name(k, "array name"), v, compression)
    attrs = dict(attrs or {})
    for k, v in attrs.items():
        if isinstance(v, (str, bool, int, float, np.integer, np.floating, np.bool_)):
            g.attrs[str(k)] = v
    g.attrs["attrs_json"] = _dumps(attrs)


def write_hdf5(path: str | os.PathLike, *, cube: Cube | None = None,
               maps: Mapping[str, MineralMap] | None = None,
               arrays: Mapping[str, Mapping[str, Any]] | None = None,
               arrays_attrs: Mapping[str, Mapping[str, Any]] | None = None,
               overwrite: bool = False, append: bool = False, chunk_lines: int | None = None,
               compression=None, max_bytes: int | None = None) -> Path:
    """Write any mix of a cube, mineral maps and named array groups into one hsimin HDF5 file (schema v1).

    Parameters
    ----------
    path : output file (``.h5``)
    cube : written to ``/cube``; its data are streamed in line blocks (never held whole)
    maps : map name -> MineralMap, each written to ``/maps/<name>``
    arrays : group name -> {array name -> array}, e.g. ``{"features": {"f2200_depth": (H, W) array}}``
    arrays_attrs : group name -> JSON-able attributes of that group
    overwrite : replace an existing file (or, with ``append``, existing groups of the same names)
    append : add to an existing hsimin HDF5 file instead of replacing it; the file is copied to a
        temporary file, extended and renamed into place, so it stays atomic (and costs a copy)
    chunk_lines : lines per chunk of ``/cube/data`` (default: about 8 MiB per chunk)
    compression : None (default, fastest), ``'gzip'``, ``'lzf'`` or a gzip level
    max_bytes : memory budget of one streamed block (default 256 MiB)

    Returns the path written. Raises :class:`OutputError` / :class:`OutputExistsError` when the output
    cannot be written; nothing is left behind on failure.
    """
    p = Path(path)
    maps = dict(maps or {})
    arrays = {k: dict(v) for k, v in dict(arrays or {}).items()}
    arrays_attrs = dict(arrays_attrs or {})
    if cube is None and not maps and not arrays:
        raise InputError("nothing to write: give a cube, maps or arrays")
    _compression_kwargs(compression)  # validate before any work
    for name in maps:
        _check_name(name, "map name")
    for name in arrays:
        _check_name(name, "group")
        if name in RESERVED_GROUPS:
            raise InputError(f"group {name!r} is reserved by the hsimin schema; use another name")
    adding = append and p.exists()
    if cube is not None:
        if 0 in cube.shape:
            raise InputError(f"the cube is empty ({cube.shape[0]} lines x {cube.shape[1]} samples x "
                             f"{cube.shape[2]} bands); a cube needs at least one pixel and one band")
        ensure_space(p, _cube_bytes(cube) + (p.stat().st_size if adding else 0))
    with atomic_output(p, overwrite=overwrite or adding) as tmp:
        if adding:
            open_read(p).close()
            try:
                shutil.copyfile(p, tmp)
            except OSError as exc:
                raise output_error(exc, p, "cannot copy the file to extend it") from None
        with guarded_h5(tmp, p, "r+" if adding else "w") as (f, check):
            if adding:
                _schema_version(f, p)
                targets = ([CUBE_GROUP] if cube is not None else []) + \
                          [f"{MAPS_GROUP}/{n}" for n in maps] + list(arrays)
                for t in targets:
                    if t in f:
                        if not overwrite:
                            raise OutputExistsError(f"the file holds /{t} already; pass overwrite=True to "
                                                    "replace it", path=p)
                        del f[t]
            f.attrs["hsimin_schema"] = np.int64(SCHEMA_VERSION)
            f.attrs["hsimin_version"] = str(__version__)
            if cube is not None:
                _write_cube_group(f, cube, chunk_lines, compression, max_bytes, check)
            check()
            for name, mm in maps.items():
                _write_map_group(f, mm, name, compression)
                check()
            for group, arrs in arrays.items():
                _write_arrays_group(f, group, arrs, arrays_attrs.get(group), compression)
                check()
    return p


def write_cube_hdf5(cube: Cube, path: str | os.PathLike, *, overwrite: bool = False,
                    chunk_lines: int | None = None, compression=None, max_bytes: int | None = None,
                    append: bool = False) -> Path:
    """Write a cube to ``/cube`` of an hsimin HDF5 file (schema v1), streaming it in line blocks.

    ``/cube/data`` is (H, W, B) float32 reflectance chunked in whole lines (``chunk_lines``, default
    about 8 MiB a chunk), uncompressed unless ``compression`` is given; wavelengths/fwhm are float64 nm.
    Peak memory is one block (``max_bytes``, default 256 MiB), whatever the cube's size. Atomic.
    ``append=True`` adds the cube to an existing hsimin HDF5 file (e.g. one holding maps).
    """
    return write_hdf5(path, cube=cube, overwrite=overwrite, append=append, chunk_lines=chunk_lines,
                      compression=compression, max_bytes=max_bytes)


def write_map_hdf5(mineral_map: MineralMap, path: str | os.PathLike, *, overwrite: bool = False,
                   name: str = DEFAULT_MAP_NAME, append: bool = False, compression=None) -> Path:
    """Write a mineral map to ``/maps/<name>`` of an hsimin HDF5 file.

    Stores labels (H, W) int16 (-1 unclassified), class names, scores (H, W, K) float32, confidence
    (H, W) float32, every ``extra`` array, meta, ``produced_by`` and provenance; :func:`read_map_hdf5`
    gives them back exactly. ``append=True`` adds the map to an existing hsimin HDF5 file (e.g. the cube
    it was made from). Atomic.
    """
    return write_hdf5(path, maps={name: mineral_map}, overwrite=overwrite, append=append,
                      compression=compression)


def write_arrays_hdf5(path: str | os.PathLike, arrays: Mapping[str, Any], *, group: str = FEATURES_GROUP,
                      attrs: Mapping[str, Any] | None = None, overwrite: bool = False,
                      append: bool = False, compression=None) -> Path:
    """Write named arrays as datasets ``/<group>/<name>`` of an hsimin HDF5 file.

    The convention for absorption-feature scalars is one (H, W) float dataset per scalar in
    ``/features``, named after window and quantity (``f2200_wavelength_nm``, ``f2200_depth``...), NaN
    where there is no feature. Arrays may be numeric, boolean or strings, of any shape. ``attrs``
    (JSON-able) go on the group: plain scalars as HDF5 attributes, everything as ``attrs_json``.
    ``append=True`` adds the group to an existing hsimin HDF5 file. Atomic.
    """
    return write_hdf5(path, arrays={group: arrays}, arrays_attrs={group: attrs or {}}, overwrite=overwrite,
                      append=append, compression=compression)


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
