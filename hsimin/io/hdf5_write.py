"""Writing hsimin HDF5 files (schema v1, :mod:`hsimin.io.hdf5`): cubes streamed in line blocks, mineral maps,
named array groups, per-spectrum tables; atomic (temporary file, then rename), appending by copy."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__
from ..core.errors import InputError, OutputExistsError
from ..core.types import Cube, MineralMap, ScanMeta, SpectrumTable
from .atomic import atomic_output, ensure_space, output_error
from .blocks import block_lines, iter_blocks
from .hdf5_guard import guarded_h5
from .hdf5_read import open_read
from .hdf5_schema import (_META_FLOAT, _META_STR, CHUNK_TARGET_BYTES, CUBE_GROUP, DEFAULT_MAP_NAME, FEATURES_GROUP,
                          MAPS_GROUP, RESERVED_GROUPS, SCHEMA_VERSION, TABLE_GROUP, _dumps, _schema_version)

__all__ = ["write_arrays_hdf5", "write_cube_hdf5", "write_hdf5", "write_map_hdf5"]


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
