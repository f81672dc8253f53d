"""Georeferenced rasters, site lists, point samples and fault lines: the file side of prospectivity.

Readers and writers for :class:`hsimin.core.Raster` and the vector inputs of the prospectivity workflow
(``hsimin.prospect``). Everything here is numpy-side: no torch. GeoTIFF goes through rasterio, which is
the optional ``[geo]`` extra and is imported only when a GeoTIFF is read or written.

hsimin raster HDF5 schema (``hsimin_raster = 1``)::

    /                     attrs: hsimin_raster = 1, hsimin_version, transform (6 floats, affine order
                                 a, b, c, d, e, f), crs (e.g. 'EPSG:32650', '' if unknown),
                                 layer_names (JSON list), attrs_json (free JSON)
    /layers/<name>        (H, W) float32, NaN = no data; one 2-D dataset per layer, in layer order
    /mask                 (H, W) uint8, 1 = inside the study area            optional
    /extra/<name>         (H, W) arrays (class maps, ...)                    optional

Every writer is atomic (temporary file in the destination folder, then rename).
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from .. import __version__
from ..core.errors import FormatError, InputError, OutputError, import_optional
from ..core.plain import json_text
from ..core.types import Raster
from .writers import write_json
from .atomic import atomic_output

RASTER_SCHEMA = 1
"""Version of the raster HDF5 schema (root attribute ``hsimin_raster``)."""

_GRID_RTOL = 1e-6


# --------------------------------------------------------------------------------------------- GeoTIFF
def _rasterio():
    return import_optional("rasterio", extra="geo", needed_for="reading or writing GeoTIFF")


def _crs_string(crs) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def read_geotiff(path: str | os.PathLike, name: str | None = None) -> Raster:
    """Read a GeoTIFF as a :class:`Raster`.

    A single-band file gives one layer named ``name`` (default: the file stem); a multi-band file gives
    ``<stem>_b1``, ``<stem>_b2``, ... Nodata cells (the file's nodata value) and non-finite values
    become NaN. The mask is the cells where every band has data.
    """
    rasterio = _rasterio()
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such GeoTIFF file", path=p)
    try:
        with rasterio.open(p) as src:
            data = src.read(masked=True).astype(np.float32)
            transform = tuple(src.transform)[:6]
            crs = _crs_string(src.crs)
    except rasterio.errors.RasterioError as exc:
        raise FormatError(f"cannot read as a GeoTIFF ({exc})", path=p) from None
    values = np.ma.filled(data, np.nan).astype(np.float32)
    values[~np.isfinite(values)] = np.nan
    stem = name or p.stem
    names = [stem] if values.shape[0] == 1 else [f"{stem}_b{i + 1}" for i in range(values.shape[0])]
    values = np.moveaxis(values, 0, -1)
    return Raster(values, transform, crs, names, mask=np.all(np.isfinite(values), axis=-1))


def same_grid(a: Raster, b: Raster) -> bool:
    """True when two rasters share shape, transform (to 1e-6 relative) and CRS."""
    if a.shape != b.shape:
        return False
    if (a.crs or None) != (b.crs or None):
        return False
    scale = max(abs(a.transform[0]), abs(a.transform[4]), 1.0)
    return all(abs(x - y) <= _GRID_RTOL * max(scale, abs(x), abs(y)) for x, y in zip(a.transform, b.transform))


def read_geotiff_layers(paths: Sequence[str | os.PathLike]) -> Raster:
    """Read several GeoTIFFs that share one grid into a single multi-layer :class:`Raster`.

    Each file is one layer named by its stem (multi-band files give ``<stem>_b<i>``). All files must
    have the same shape, transform and CRS; layer names must be unique.
    """
    if not paths:
        raise InputError("no layer files given; pass one GeoTIFF per layer (--layers A.tif B.tif ...)")
    rasters = [read_geotiff(p) for p in paths]
    first = rasters[0]
    for p, r in zip(paths[1:], rasters[1:]):
        if not same_grid(first, r):
            raise InputError(f"is not on the grid of {Path(paths[0]).name} (shape {r.shape} vs {first.shape}, "
                             f"transform {r.transform} vs {first.transform}, CRS {r.crs} vs {first.crs}); "
                             "resample all layers onto one grid first (e.g. gdalwarp -tr/-te)", path=p)
    names = [n for r in rasters for n in r.layer_names]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two layer files have the same stem {dup}; rename them so every layer name is unique")
    values = np.concatenate([r.values for r in rasters], axis=-1)
    mask = np.all(np.isfinite(values), axis=-1)
    return Raster(values, first.transform, first.crs, names, mask=mask)


def read_mask_geotiff(path: str | os.PathLike, like: Raster | None = None) -> np.ndarray:
    """A study-area mask from a GeoTIFF: True where the first band is finite and non-zero.

    With ``like``, the mask must be on the same grid as that raster.
    """
    r = read_geotiff(path)
    if like is not None and not same_grid(r, like):
        raise InputError(f"the mask is not on the layers' grid (shape {r.shape} vs {like.shape}, CRS {r.crs} vs "
                         f"{like.crs}); resample it onto the layers' grid first", path=path)
    v = r.values[..., 0]
    return np.isfinite(v) & (v != 0)


def write_geotiff(raster: Raster, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a raster as a float32 GeoTIFF (one band per layer, NaN as nodata, band descriptions = layer
    names; cells outside ``raster.mask`` are written as NaN). Atomic."""
    rasterio = _rasterio()
    from rasterio.transform import Affine  # noqa: PLC0415

    values = np.array(raster.values, dtype=np.float32)
    if raster.mask is not None:
        values[~raster.mask] = np.nan
    H, W, L = values.shape
    with atomic_output(path, overwrite=overwrite) as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", height=H, width=W, count=L, dtype="float32",
                           crs=raster.crs, transform=Affine(*raster.transform), nodata=np.nan) as dst:
            for i in range(L):
                dst.write(values[..., i], i + 1)
                dst.set_band_description(i + 1, raster.layer_names[i])
    return Path(path)


# ------------------------------------------------------------------------------------------------ HDF5
def write_raster_h5(raster: Raster, path: str | os.PathLike, *, extra: Mapping[str, np.ndarray] | None = None,
                    attrs: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write a raster in the hsimin raster HDF5 schema (see the module docstring). ``extra`` adds named
    (H, W) arrays under ``/extra``; ``attrs`` is stored as JSON in the root attribute ``attrs_json``.
    Cells outside ``raster.mask`` are written as NaN. Atomic."""
    values = np.array(raster.values, dtype=np.float32)
    if raster.mask is not None:
        values[~raster.mask] = np.nan
    from .hdf5_guard import guarded_h5   # written through the guard that keeps a full disk from crashing HDF5
    with atomic_output(path, overwrite=overwrite) as tmp:
        with guarded_h5(tmp, path) as (f, _check):
            f.attrs["hsimin_raster"] = RASTER_SCHEMA
            f.attrs["hsimin_version"] = __version__
            f.attrs["transform"] = np.asarray(raster.transform, dtype=np.float64)
            f.attrs["crs"] = raster.crs or ""
            f.attrs["layer_names"] = json.dumps(list(raster.layer_names))
            f.attrs["attrs_json"] = json_text(dict(attrs or {}), nonfinite="keep")
            g = f.create_group("layers")
            for i, name in enumerate(raster.layer_names):
                g.create_dataset(name, data=values[..., i], compression="gzip", shuffle=True)
            if raster.mask is not None:
                f.create_dataset("mask", data=raster.mask.astype(np.uint8), compression="gzip")
            for name, arr in dict(extra or {}).items():
                arr = np.asarray(arr)
                if arr.shape[:2] != raster.shape:
                    raise InputError(f"extra array {name!r} has shape {arr.shape}, want {raster.shape} first")
                f.create_dataset(f"extra/{name}", data=arr, compression="gzip")
    return Path(path)


def read_raster_h5(path: str | os.PathLike) -> Raster:
    """Read a raster written by :func:`write_raster_h5`."""
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such file", path=p)
    try:
        with h5py.File(p, "r") as f:
            if "hsimin_raster" not in f.attrs or "layers" not in f:
                raise FormatError("not an hsimin raster HDF5 file (no 'hsimin_raster' attribute or /layers); "
                                  "write it with hsimin.io.raster.write_raster_h5", path=p)
            names = json.loads(f.attrs["layer_names"])
            values = np.stack([f["layers"][n][()] for n in names], axis=-1).astype(np.float32)
            mask = f["mask"][()].astype(bool) if "mask" in f else None
            transform = tuple(float(x) for x in f.attrs["transform"])
            crs = str(f.attrs["crs"]) or None
    except OSError as exc:
        raise FormatError(f"cannot read as HDF5 ({exc})", path=p) from None
    return Raster(values, transform, crs, names, mask=mask)


def read_raster_attrs(path: str | os.PathLike) -> dict:
    """The free attributes (``attrs_json``) of a raster HDF5 file."""
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("attrs_json", "{}"))


# ----------------------------------------------------------------------------------------- sites, points
def _read_csv(path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such CSV file", path=p)
    with open(p, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise FormatError("the CSV has no data rows (want a header line, then one row per point)", path=p)
    return [h.strip() for h in rows[0]], rows[1:]


def _column(header: list[str], want: str, path, required: bool = True) -> int | None:
    low = [h.lower() for h in header]
    if want.lower() in low:
        return low.index(want.lower())
    if required:
        raise FormatError(f"the CSV has no {want!r} column (columns: {', '.join(header)})", path=path)
    return None


def _float_column(rows, j: int, name: str, path) -> np.ndarray:
    out = np.empty(len(rows), dtype=np.float64)
    for i, r in enumerate(rows):
        try:
            out[i] = float(r[j]) if j < len(r) and r[j].strip() != "" else np.nan
        except ValueError:
            raise FormatError(f"row {i + 2}: {name} = {r[j]!r} is not a number", path=path) from None
    return out


def read_sites_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a site list: a CSV with ``x`` and ``y`` columns (in the layers' CRS) and optional ``label``
    (1 = deposit, 0 = non-deposit) and ``id`` columns. Returns ``{'x', 'y', 'id'[, 'label']}``."""
    header, rows = _read_csv(path)
    jx, jy = _column(header, "x", path), _column(header, "y", path)
    x, y = _float_column(rows, jx, "x", path), _float_column(rows, jy, "y", path)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise FormatError(f"row {int(np.argmax(bad)) + 2}: x/y is empty or not finite", path=path)
    jid = _column(header, "id", path, required=False)
    ids = np.array([r[jid] if jid is not None and jid < len(r) else str(i) for i, r in enumerate(rows)])
    out = {"x": x, "y": y, "id": ids}
    jl = _column(header, "label", path, required=False)
    if jl is not None:
        lab = _float_column(rows, jl, "label", path)
        if not np.all(np.isin(lab, (0, 1))):
            raise FormatError("the label column must hold 0 (non-deposit) or 1 (deposit)", path=path)
        out["label"] = lab.astype(np.int8)
    return out


def write_sites_csv(path: str | os.PathLike, x, y, label=None, ids=None,
                    extra: Mapping[str, Sequence] | None = None, *, overwrite: bool = False) -> Path:
    """Write a site list (``id, x, y[, label], extra...``) that :func:`read_sites_csv` reads back. Atomic."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    cols: dict[str, Sequence] = {"id": ids, "x": x, "y": y}
    if label is not None:
        cols["label"] = [int(v) for v in label]
    for k, v in dict(extra or {}).items():
        cols[k] = list(v)
    for k, v in cols.items():
        if len(v) != n:
            raise InputError(f"site column {k!r} has {len(v)} values for {n} sites")
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(list(cols))
            for i in range(n):
                w.writerow([_fmt(cols[k][i]) for k in cols])
    return Path(path)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if math.isfinite(v) else ""
    return str(v)


def read_points_csv(path: str | os.PathLike, x: str = "x", y: str = "y",
                    columns: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Read point samples: returns ``(x, y, {column: values})`` for the numeric value columns (all the
    columns other than x/y whose values parse as numbers, or the ones named in ``columns``). Empty cells
    are NaN."""
    header, rows = _read_csv(path)
    jx, jy = _column(header, x, path), _column(header, y, path)
    xs, ys = _float_column(rows, jx, x, path), _float_column(rows, jy, y, path)
    if columns is None:
        values = {}
        for j, h in enumerate(header):
            if j in (jx, jy):
                continue
            try:
                values[h] = _float_column(rows, j, h, path)
            except FormatError:
                continue  # a text column (sample id, lithology...): not a value column
    else:
        values = {c: _float_column(rows, _column(header, c, path), c, path) for c in columns}
    if not values:
        raise FormatError("the CSV has no numeric value columns besides x and y", path=path)
    return xs, ys, values


def read_fault_lines(path: str | os.PathLike) -> list[np.ndarray]:
    """Read fault polylines: a list of (n, 2) vertex arrays in the file's x/y units.

    Accepted: GeoJSON (FeatureCollection, Feature or bare geometry; LineString, MultiLineString) with
    coordinates in the layers' CRS; or CSV with columns ``x, y`` and a line id column (``line_id``,
    ``fault_id`` or ``id``), vertices in order along each line.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such fault file", path=p)
    if p.suffix.lower() in (".geojson", ".json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise FormatError(f"not valid JSON ({exc})", path=p) from None
        lines: list[np.ndarray] = []
        _collect_lines(doc, lines, p)
    elif p.suffix.lower() in (".csv", ".txt"):
        header, rows = _read_csv(p)
        jx, jy = _column(header, "x", p), _column(header, "y", p)
        jid = next((j for j in (_column(header, k, p, required=False) for k in ("line_id", "fault_id", "id"))
                    if j is not None), None)
        if jid is None:
            raise FormatError("the fault CSV needs a line id column (line_id, fault_id or id) next to x, y", path=p)
        xs, ys = _float_column(rows, jx, "x", p), _float_column(rows, jy, "y", p)
        order: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            order.setdefault(r[jid], []).append(i)
        lines = [np.column_stack([xs[ix], ys[ix]]) for ix in order.values()]
    else:
        raise FormatError("unknown fault file type; use GeoJSON (.geojson) or CSV (.csv with line_id, x, y)", path=p)
    lines = [ln for ln in lines if len(ln) >= 1]
    if not lines:
        raise FormatError("no LineString/MultiLineString geometries found", path=p)
    for ln in lines:
        if not np.all(np.isfinite(ln)):
            raise FormatError("a fault vertex has a non-finite coordinate", path=p)
    return lines


def _collect_lines(obj, out: list, path) -> None:
    if isinstance(obj, list):
        for o in obj:
            _collect_lines(o, out, path)
        return
    if not isinstance(obj, dict):
        return
    t = obj.get("type")
    if t == "FeatureCollection":
        _collect_lines(obj.get("features", []), out, path)
    elif t == "Feature":
        _collect_lines(obj.get("geometry"), out, path)
    elif t == "GeometryCollection":
        _collect_lines(obj.get("geometries", []), out, path)
    elif t == "LineString":
        out.append(np.asarray(obj["coordinates"], dtype=np.float64)[:, :2])
    elif t == "MultiLineString":
        out.extend(np.asarray(c, dtype=np.float64)[:, :2] for c in obj["coordinates"])


def write_fault_lines_geojson(lines: Sequence[np.ndarray], path: str | os.PathLike, *, crs: str | None = None,
                              overwrite: bool = False) -> Path:
    """Write polylines as a GeoJSON FeatureCollection of LineStrings (coordinates in ``crs``). Atomic."""
    feats = [{"type": "Feature", "properties": {"line_id": i},
              "geometry": {"type": "LineString", "coordinates": np.asarray(ln, dtype=float)[:, :2].tolist()}}
             for i, ln in enumerate(lines)]
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if crs:
        doc["crs_note"] = crs
    return write_json(doc, path, overwrite=overwrite)


# ------------------------------------------------------------------------------ output folder
def prepare_output_folder(path: str | os.PathLike, outputs: Sequence[str] = (), *, overwrite: bool = False,
                          create: bool = True) -> Path:
    """Check (and with ``create`` make) an output folder before any work is done.

    Raises :class:`OutputError` when the path is a file, its parent does not exist, or (without
    ``overwrite``) the folder already holds one of the named ``outputs`` of an earlier run.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError("the output path exists and is not a folder; give a folder", path=out)
    parent = out.parent if str(out.parent) else Path(".")
    if not out.exists() and not parent.is_dir():
        raise OutputError("the output folder's parent does not exist; create it first", path=parent)
    if not overwrite and out.is_dir() and any((out / n).exists() for n in outputs):
        raise OutputError("the output folder holds results of an earlier run; pass --overwrite "
                          "(overwrite=True) to replace them", path=out)
    if create:
        out.mkdir(exist_ok=True)
    return out
