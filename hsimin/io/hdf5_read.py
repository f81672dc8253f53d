"""Reading any HDF5 file safely: opening it read-only with clear errors, the lazy cube array over a 3-D dataset,
and the checks every cube dataset passes (storage inside the file, wavelengths sortable, a valid Cube).

Used by the schema reader (:mod:`hsimin.io.hdf5`) and the reader of other HDF5 cubes
(:mod:`hsimin.io.hdf5_foreign`).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from ..core.errors import FormatError, HeaderError, HsiminError
from ..core.types import Cube
from ..core.units import sort_order
from .lazy import LazyCubeArray

__all__ = ["HDF5CubeArray", "UNIT_KEYS", "check_storage", "dataset_summary", "find_unit", "make_cube", "open_read",
           "read_dataset", "reading", "str_attr", "wavelength_order"]

UNIT_KEYS = ("units", "unit", "wavelength_units", "wavelength units", "Units", "UNITS")
"""Attributes that may name the wavelengths' unit, on a wavelength dataset."""


def str_attr(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return str_attr(value.reshape(-1)[0])
    return str(value)


def open_read(path: Path) -> h5py.File:
    """Open an HDF5 file read-only, turning h5py's errors into :class:`FormatError`."""
    if not path.exists():
        raise FormatError("no such file", path=path)
    try:
        return h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path=path) from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[h5py.File]:
    """Open read-only; an OSError while the file is read (truncated or corrupt file) becomes FormatError."""
    f = open_read(path)
    try:
        with f:
            yield f
    except OSError as exc:
        raise FormatError(f"cannot read the HDF5 file ({exc}); it may be truncated or corrupt", path=path) from None


def dataset_summary(f: h5py.File, limit: int = 12) -> str:
    """'name (shape dtype), ...' of the datasets in a file, for error messages."""
    found: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found.append(f"/{name} {tuple(obj.shape)} {obj.dtype}")

    f.visititems(visit)
    if not found:
        return "no datasets"
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return "datasets " + ", ".join(found[:limit]) + more


def read_dataset(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object).astype(str)
    return ds[()]


class HDF5CubeArray(LazyCubeArray):
    """Lazy (H, W, B) float32 view of a 3-D HDF5 dataset.

    Parameters
    ----------
    path : the HDF5 file (reopened by path for every read, so the array pickles and works in any process)
    dataset : name of the 3-D dataset in the file
    band_axis : which axis of the stored dataset holds bands (0, 1 or 2); the other two are lines, samples
        in stored order. Band-first data are transposed block by block, never whole.
    band_order : (B,) indices putting stored bands in increasing-wavelength order, or None
    fill_value : stored value meaning 'no data' (-> NaN), or None
    scale, offset : CF packing, value = stored * scale + offset (defaults 1, 0)
    divide_by : reflectance scale factor, value = value / divide_by (ENVI convention), or None
    """

    def __init__(self, path, dataset: str, disk_shape, band_axis: int = 2, band_order=None,
                 fill_value=None, scale=None, offset=None, divide_by=None):
        disk_shape = tuple(int(s) for s in disk_shape)
        spatial = [a for a in range(3) if a != band_axis]
        super().__init__((disk_shape[spatial[0]], disk_shape[spatial[1]], disk_shape[band_axis]))
        self._path = os.fspath(path)
        self._dataset = str(dataset)
        self._disk_shape = disk_shape
        self._band_axis = int(band_axis)
        self._line_axis = spatial[0]
        self._band_order = None if band_order is None else np.asarray(band_order, dtype=np.intp)
        self._fill = None if fill_value is None else float(fill_value)
        self._scale = None if scale is None else float(scale)
        self._offset = None if offset is None else float(offset)
        self._divide = None if divide_by is None else float(divide_by)

    @property
    def path(self) -> str:
        return self._path

    @property
    def dataset(self) -> str:
        return self._dataset

    def _plain(self) -> bool:
        return (self._band_axis == 2 and self._band_order is None and self._fill is None
                and self._scale is None and self._offset is None and self._divide is None)

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        H = self._shape[0]
        r0, r1 = max(0, int(r0)), min(H, int(r1))
        r1 = max(r0, r1)
        try:
            out = self._read_raw(r0, r1)
        except OSError as exc:
            raise FormatError(f"cannot read lines {r0}:{r1} of the HDF5 file ({exc}); it may have been moved, "
                              "truncated or replaced", path=self._path) from None
        if self._plain():
            return out
        if self._fill is not None:
            out[out == np.float32(self._fill)] = np.nan
        if self._scale is not None:
            out *= np.float32(self._scale)
        if self._offset is not None:
            out += np.float32(self._offset)
        if self._divide is not None:
            out /= np.float32(self._divide)
        if self._band_order is not None:
            out = np.ascontiguousarray(out[..., self._band_order])
        return out

    def _read_raw(self, r0: int, r1: int) -> np.ndarray:
        """Lines r0:r1 as stored values in float32, (h, W, B), before fill/scale/band order."""
        H, W, B = self._shape
        with h5py.File(self._path, "r", locking=False) as f:
            ds = f.get(self._dataset)
            if not isinstance(ds, h5py.Dataset) or tuple(ds.shape) != self._disk_shape:
                raise FormatError(f"dataset /{self._dataset.lstrip('/')} is gone or changed shape since the file "
                                  "was opened; open it again", path=self._path)
            if self._band_axis == 2:
                # HDF5 converts to float32 while reading straight into the output buffer.
                out = np.empty((r1 - r0, W, B), dtype=np.float32)
                if r1 > r0 and W * B > 0:
                    ds.read_direct(out, np.s_[r0:r1])
            else:
                sel = [slice(None)] * 3
                sel[self._line_axis] = slice(r0, r1)
                raw = ds[tuple(sel)] if r1 > r0 else np.empty(
                    tuple(r1 - r0 if a == self._line_axis else n for a, n in enumerate(self._disk_shape)),
                    ds.dtype)
                axes = (self._line_axis, [a for a in range(3) if a not in (self._band_axis, self._line_axis)][0],
                        self._band_axis)
                out = np.ascontiguousarray(np.transpose(raw, axes), dtype=np.float32)
        return out

    def __repr__(self) -> str:
        return (f"HDF5CubeArray({self._path!r}, dataset={self._dataset!r}, shape={self._shape}, "
                f"band_axis={self._band_axis})")


def check_storage(ds: h5py.Dataset, p: Path) -> None:
    """Refuse a dataset whose values live outside the file: HDF5 *external storage* names raw files by path (any
    path: ``/etc/passwd`` would be read as reflectance without a word), and a *virtual dataset* maps other files
    in. hsimin reads only what the HDF5 file itself holds."""
    try:
        external = ds.external
    except (OSError, RuntimeError, ValueError):
        external = None
    if external:
        names = ", ".join(os.fsdecode(e[0]) if isinstance(e[0], bytes) else str(e[0]) for e in external[:3])
        raise FormatError(f"dataset {ds.name} keeps its data in external files ({names}); hsimin reads only data "
                          "stored inside the HDF5 file (copy them in, e.g. with h5repack)", path=p)
    if ds.is_virtual:
        raise FormatError(f"dataset {ds.name} is a virtual dataset mapping other files; hsimin reads only data "
                          "stored inside the HDF5 file (materialise it, e.g. with h5repack)", path=p)


def wavelength_order(wl: np.ndarray, p: Path):
    try:
        return sort_order(wl)
    except HsiminError as exc:
        raise HeaderError(exc.message, path=p) from None


def make_cube(p: Path, data, wl, fwhm, bad, mask, meta, table=None) -> Cube:
    try:
        return Cube(data=data, wavelengths=wl, fwhm=fwhm, bad_bands=bad, mask=mask, meta=meta, table=table)
    except HsiminError as exc:
        raise HeaderError(exc.message, path=p) from None


def find_unit(attrs, keys=UNIT_KEYS) -> str | None:
    for k in keys:
        if k in attrs:
            u = str_attr(attrs[k]).strip()
            if u:
                return u
    return None
