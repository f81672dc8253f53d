"""HDF5 cubes hsimin did not write: find the cube and its wavelengths by the rules ``docs/formats.md`` gives.

:func:`open_foreign_hdf5` is what :func:`hsimin.io.hdf5.open_hdf5` calls for a file without ``hsimin_schema``
(or when ``dataset=`` / ``wavelengths=`` are given): the only 3-D numeric dataset (or the named one), wavelengths
from a 1-D dataset or attribute named like ``wavelength(s)``/``wl``/``lambda``/``bands`` (on the dataset, beside
it, then anywhere), the band axis by length, units from attributes or the magnitude, CF packing and fill values.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from ..core.errors import FormatError, HeaderError, HsiminError, InputError
from ..core.types import Cube, ScanMeta
from ..core.units import infer_unit, normalise_unit, to_nanometers
from .hdf5_read import (HDF5CubeArray, check_storage, dataset_summary, find_unit, make_cube, str_attr,
                        wavelength_order)

__all__ = ["open_foreign_hdf5"]

_WL_NAME = re.compile(r"^(wavelengths?|wl|wls|wvl|wave|lambdas?|band_?cent(er|re)s?|"
                      r"wavelengths?_?(nm|um|micron|microns|micrometers?|nanometers?)|bands?)$", re.I)
# On the cube dataset or a group, 'units' describes the data, so only these name wavelength units.
_WL_UNIT_KEYS = ("wavelength_units", "wavelength units", "wavelength_unit", "wavelengths_units")
_FILL_KEYS = ("_FillValue", "missing_value", "data_ignore_value", "data ignore value", "fill_value", "nodata")
_REFL_SCALE_KEYS = ("reflectance_scale_factor", "reflectance scale factor")
_INTERLEAVE = {0: "bsq", 1: "bil", 2: "bip"}  # band axis of a stored (.., .., ..) dataset -> ENVI name


def _attr_number(attrs, keys) -> float | None:
    for k in keys:
        if k in attrs:
            try:
                return float(np.asarray(attrs[k], dtype=np.float64).reshape(-1)[0])
            except (TypeError, ValueError, IndexError):
                return None
    return None


def _numeric_1d(values) -> np.ndarray | None:
    a = np.asarray(values)
    if a.dtype.kind in "SUO":
        try:
            a = np.asarray([float(str_attr(v)) for v in a.reshape(-1)])
        except ValueError:
            return None
    if a.dtype.kind not in "iuf" or a.ndim != 1 or a.size < 1:
        return None
    return a.astype(np.float64)


def _is_index(v: np.ndarray) -> bool:
    n = v.size
    return n > 1 and (np.array_equal(v, np.arange(n)) or np.array_equal(v, np.arange(1, n + 1)))


def _parents(ds: h5py.Dataset):
    g = ds.parent
    while True:
        yield g
        if g.name == "/":
            return
        g = g.parent


def _wavelength_candidates(f: h5py.File, ds: h5py.Dataset):
    """(rank, label, values, unit attrs) of things that look like wavelengths, best first."""
    out = []
    for k in ds.attrs:
        if _WL_NAME.match(k):
            v = _numeric_1d(ds.attrs[k])
            if v is not None:
                out.append((0, f"attribute {k} of {ds.name}", v, None, k))
    for g_rank, g in enumerate(_parents(ds)):
        for k, obj in g.items():
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1 and _WL_NAME.match(k):
                v = _numeric_1d(obj[()])
                if v is not None:
                    out.append((1 + 2 * g_rank, obj.name, v, obj.attrs, k))
        for k in g.attrs:
            if _WL_NAME.match(k):
                v = _numeric_1d(g.attrs[k])
                if v is not None:
                    out.append((2 + 2 * g_rank, f"attribute {k} of {g.name}", v, None, k))
    seen = {c[1] for c in out}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim == 1 and _WL_NAME.match(name.rsplit("/", 1)[-1]):
            if obj.name not in seen:
                v = _numeric_1d(obj[()])
                if v is not None:
                    out.append((100, obj.name, v, obj.attrs, name.rsplit("/", 1)[-1]))

    f.visititems(visit)
    # Band-index vectors (0..B-1, 1..B) and names like 'bands' come last.
    return sorted(out, key=lambda c: (_is_index(c[2]), c[4].lower().startswith("band"), c[0]))


def _unit_from_name(name: str) -> str | None:
    n = name.lower()
    if n.endswith(("_nm", "nanometers", "nanometer")):
        return "nm"
    if n.endswith(("_um", "micron", "microns", "micrometers", "micrometer")):
        return "um"
    return None


def _options_hint() -> str:
    return ("pass dataset='<path of the 3-D dataset>' and wavelengths='<dataset or attribute name>' "
            "(or the values), e.g. hsimin.open_cube(path, dataset='/data', wavelengths='/wl')")


def open_foreign_hdf5(f: h5py.File, p: Path, dataset, wavelengths, wavelength_units) -> Cube:
    # --- the cube dataset
    if dataset is not None:
        ds = f.get(str(dataset))
        if not isinstance(ds, h5py.Dataset):
            raise FormatError(f"no dataset {dataset!r} in the file (found {dataset_summary(f)})", path=p)
        if ds.ndim != 3 or ds.dtype.kind not in "iuf":
            raise FormatError(f"dataset {ds.name} has shape {ds.shape} and dtype {ds.dtype}; a cube is a 3-D "
                              "numeric dataset", path=p)
    else:
        cands: list[h5py.Dataset] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.dtype.kind in "iuf":
                cands.append(obj)

        f.visititems(visit)
        if len(cands) != 1:
            what = ("no 3-D numeric dataset" if not cands else
                    f"{len(cands)} 3-D datasets ({', '.join(c.name for c in cands[:8])})")
            raise FormatError(f"cannot tell which dataset is the cube: {what}; found {dataset_summary(f)}; "
                              f"{_options_hint()}", path=p)
        ds = cands[0]
    shape = tuple(int(s) for s in ds.shape)
    check_storage(ds, p)
    if 0 in shape:
        raise FormatError(f"dataset {ds.name} has shape {shape}: the cube holds no pixels", path=p)

    # --- wavelengths
    unit_attrs = None
    wl_name = ""
    if wavelengths is None:
        found = [c for c in _wavelength_candidates(f, ds) if c[2].size in shape]
        if not found:
            counts = " or ".join(map(str, sorted(set(shape))))
            raise FormatError(f"no wavelengths for {ds.name} {shape}: no 1-D dataset or attribute named like "
                              f"wavelength(s)/wl/wavelength_nm/lambda/bands with {counts} values; found "
                              f"{dataset_summary(f)}; {_options_hint()}", path=p)
        _, wl_label, values, unit_attrs, wl_name = found[0]
    elif isinstance(wavelengths, str):
        obj = f.get(wavelengths)
        if obj is None and not wavelengths.startswith("/"):
            obj = ds.parent.get(wavelengths)
        if isinstance(obj, h5py.Dataset):
            values, unit_attrs, wl_label = _numeric_1d(obj[()]), obj.attrs, obj.name
        else:
            holder = next((a for a in [ds.attrs] + [g.attrs for g in _parents(ds)] if wavelengths in a), None)
            if holder is None:
                raise FormatError(f"no dataset or attribute {wavelengths!r} for the wavelengths (found "
                                  f"{dataset_summary(f)}; attributes of {ds.name}: {', '.join(ds.attrs) or 'none'}); "
                                  f"{_options_hint()}", path=p)
            values, wl_label = _numeric_1d(holder[wavelengths]), f"attribute {wavelengths}"
        if values is None:
            raise FormatError(f"{wl_label} is not a 1-D list of numbers, so it cannot be the wavelengths", path=p)
        wl_name = wavelengths.rsplit("/", 1)[-1]
    else:
        values = _numeric_1d(wavelengths)
        wl_label = "the wavelengths given"
        if values is None:
            raise InputError("wavelengths= must be a dataset/attribute name or a 1-D sequence of numbers")
    B = values.size
    axes = [a for a, n in enumerate(shape) if n == B]
    if not axes:
        raise FormatError(f"{wl_label} has {B} values but no axis of {ds.name} {shape} has that length; "
                          f"{_options_hint()}", path=p)
    interleave = str_attr(ds.attrs.get("interleave", "")).strip().lower()
    by_interleave = {"bsq": 0, "bil": 1, "bip": 2}.get(interleave)
    if by_interleave in axes:
        band_axis = by_interleave
    else:
        band_axis = next(a for a in (2, 0, 1) if a in axes)

    unit = (wavelength_units or (None if unit_attrs is None else find_unit(unit_attrs))
            or next((u for u in (find_unit(a.attrs, _WL_UNIT_KEYS) for a in (ds, *_parents(ds))) if u), None)
            or _unit_from_name(wl_name))
    try:
        normalise_unit(unit)
        wl = to_nanometers(values, unit)
    except HsiminError as exc:
        raise HeaderError(f"{wl_label}: {exc.message}", path=p) from None
    order = wavelength_order(wl, p)
    if order is not None:
        wl = wl[order]

    # --- optional per-band vectors beside the data
    def band_vector(names, kind):
        for g in _parents(ds):
            for k, obj in g.items():
                if isinstance(obj, h5py.Dataset) and obj.shape == (B,) and k.lower() in names:
                    v = np.asarray(obj[()])
                    v = v if order is None else v[order]
                    return v.astype(kind)
        return None

    fwhm = band_vector({"fwhm", "fwhm_nm", "bandwidth", "bandwidths"}, np.float64)
    if fwhm is not None:
        # FWHM is in the wavelengths' unit; a width in cm-1 has no single width in nm, so it is dropped.
        canon = normalise_unit(unit) or infer_unit(values)
        fwhm = None if canon == "cm-1" else to_nanometers(fwhm, canon)
    bad = band_vector({"bad_bands"}, bool)
    bbl = band_vector({"bbl"}, np.float64)
    if bad is None and bbl is not None:
        bad = bbl == 0

    fill = _attr_number(ds.attrs, _FILL_KEYS)
    scale = _attr_number(ds.attrs, ("scale_factor",))
    offset = _attr_number(ds.attrs, ("add_offset",))
    divide = _attr_number(ds.attrs, _REFL_SCALE_KEYS)
    if divide is not None and divide == 0:
        raise HeaderError(f"{ds.name} has reflectance_scale_factor 0", path=p)
    data = HDF5CubeArray(p, ds.name, shape, band_axis=band_axis, band_order=order, fill_value=fill,
                         scale=scale, offset=offset, divide_by=divide)
    line_axis = min(a for a in range(3) if a != band_axis)
    layout = "".join("B" if a == band_axis else "H" if a == line_axis else "W" for a in range(3))
    meta = ScanMeta(source=str(p), attrs={"format": "hdf5", "dataset": ds.name, "layout": layout,
                                          "interleave": _INTERLEAVE[band_axis],
                                          "dtype": str(ds.dtype.newbyteorder("=")), "wavelengths_from": wl_label})
    return make_cube(p, data, wl, fwhm, bad, None, meta)
