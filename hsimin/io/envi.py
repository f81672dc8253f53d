"""ENVI cubes: open (lazily) and write (streaming, atomically).

The header text is parsed by :mod:`hsimin.io.envi_header`; the data file is read by
:mod:`hsimin.io.interleaved` (positioned reads, band-last float32). This module turns the two into a
:class:`~hsimin.core.types.Cube` and back.

Reading
-------
:func:`open_envi` accepts a header (``NAME.hdr``) or its data file (``NAME``, ``NAME.img``, ``.dat``, ``.raw``,
``.bsq``, ``.bil``, ``.bip``, or the header's ``data file`` key). It understands BSQ, BIL and BIP; data types
1, 2, 3, 4, 5, 12, 13, 14, 15 (complex types are refused); byte order 0 and 1; ``header offset``; keys in any
case; ``wavelength units`` (nm, um/micrometers/microns, mm, cm-1, or none/unknown: then the magnitude decides,
see :func:`hsimin.core.units.infer_unit`); ``fwhm``; ``bbl``; ``data ignore value``; ``reflectance scale
factor`` (one value, or one per band). Bands are put in increasing-wavelength order once, at open.

Data are never loaded at open (unless ``load=True``): :attr:`Cube.data` is an
:class:`~hsimin.io.interleaved.EnviLazyArray` that reads the lines it is asked for (see
:mod:`hsimin.io.interleaved`). A read-only ``np.memmap`` of the file is still available as
:meth:`RawLayout.memmap` for raw access.

``data ignore value``: values equal to it (compared after the cast to float32, before scaling) read as NaN,
and ``mask`` is False where a pixel holds it in every band. Building that mask reads the first band at open
(for BIP files that touches every page of the file) and then the lines that hold candidates; memory stays
bounded.

A header without a ``wavelength`` list is refused (:class:`WavelengthError`) unless ``wavelengths=`` (nm) is
given: hsimin never invents a wavelength axis, because a cube on a made-up axis would be silently misaligned
with every library and model.

Writing
-------
:func:`write_envi_cube` writes ``NAME.hdr`` plus ``NAME.img`` (BIL float32 by default), streaming the cube block
by block, atomically (data renamed into place first, header last). hsimin's own header keys carry what ENVI
has no key for, so a written cube reads back with the same metadata:

``hole id``, ``tray id``, ``depth from m``, ``depth to m``, ``pixel size mm``
    :class:`~hsimin.core.types.ScanMeta` fields (``sensor type`` holds ``ScanMeta.sensor``).
``hsimin mask file``
    The name of a sidecar file, ``NAME_mask.img`` beside the header: ``lines x samples`` bytes, row-major,
    1 = core (mask True), 0 = not core. Written only when the cube has a mask. ENVI and SPy ignore the key.
``hsimin spectrum table``, ``hsimin spectrum table types``
    The cube's per-spectrum table (:attr:`Cube.table`, e.g. a TSG package's depths and TSA answers) as a
    sidecar CSV, ``NAME_spectra.csv``, and its column types (:mod:`hsimin.io.table_csv`). Written only when the
    cube has a table; the name must be a plain file name beside the header.

Float outputs round-trip bit for bit (NaN included). Integer outputs store round(reflectance x scale) with a
``data ignore value`` for NaN, so on reading back all-NaN pixels also get mask False.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.blocks import iter_blocks
from ..core.errors import (FormatError, HeaderError, HsiminError, InputError, OutputError, TruncatedDataError,
                           WavelengthError)
from ..core.types import Cube, ScanMeta
from ..core.units import sort_order
from .atomic import atomic_outputs, ensure_space
from .envi_header import (DATA_EXTENSIONS, EnviHeader, data_file_candidates, find_data_file, find_envi_files,
                          fwhm_to_nm, header_wavelengths, ignore_value, parse_envi_header, read_envi_header, sniff_envi)
from .interleaved import EnviLazyArray, RawLayout
from .registry import Reader, register_reader
from .table_csv import column_types, read_table_csv, table_csv_text

# EnviHeader, the header functions, RawLayout and EnviLazyArray live in envi_header / interleaved; they are
# named here too because ``hsimin.io.envi`` is where a user looks for everything ENVI.
__all__ = ["DATA_EXTENSIONS", "ENVI_DTYPES", "EnviHeader", "EnviInfo", "EnviLazyArray", "RawLayout",
           "find_data_file", "find_envi_files", "inspect_envi", "open_envi", "parse_envi_header", "read_envi_header",
           "sniff_envi", "write_envi_cube"]

ENVI_DTYPES: dict[int, str] = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8",
                               15: "u8"}
"""ENVI ``data type`` code -> numpy dtype (byte order added from ``byte order``)."""

_DTYPE_CODES = {np.dtype(v).name: k for k, v in ENVI_DTYPES.items()}
_COMPLEX_CODES = {6: "complex64", 9: "complex128"}
# --------------------------------------------------------------------------------------------- open

@dataclass
class EnviInfo:
    """Everything :func:`open_envi` learns from a header, before touching the data.

    Band vectors are in increasing-wavelength order; ``band_order`` maps them to file bands (None: the
    file is in order already).
    """

    header: EnviHeader
    layout: RawLayout
    wavelengths: np.ndarray
    fwhm: np.ndarray | None
    bad_bands: np.ndarray | None
    band_order: np.ndarray | None
    scale: float | np.ndarray | None
    ignore: float | None
    meta: ScanMeta
    mask_file: Path | None
    wavelengths_unit: str | None
    table_file: Path | None = None


def envi_layout(header: EnviHeader, hdr: Path, data: Path | None) -> RawLayout:
    """Where the numbers of ``data`` are, from the header: checked against the file's size (a short file is a
    :class:`TruncatedDataError`), data types, interleave and byte order validated."""
    H = header
    samples = H.get_int("samples", minimum=1)
    lines = H.get_int("lines", minimum=1)
    bands = H.get_int("bands", minimum=1)
    code = H.get_int("data type")
    if code in _COMPLEX_CODES:
        raise HeaderError(f"`data type = {code}` is {_COMPLEX_CODES[code]}; hsimin reads real-valued cubes only",
                          path=hdr)
    if code not in ENVI_DTYPES:
        raise HeaderError(f"unknown `data type = {code}`; ENVI codes are "
                          f"{', '.join(map(str, sorted(ENVI_DTYPES)))}", path=hdr)
    interleave = H.text("interleave")
    if interleave is None:
        if bands != 1:
            raise HeaderError("the header has no `interleave`; add `interleave = bsq`, `bil` or `bip`", path=hdr)
        interleave = "bsq"
    interleave = interleave.lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise HeaderError(f"unknown `interleave = {interleave[:20]}`; use bsq, bil or bip", path=hdr)
    byte_order = H.get_int("byte order", 0)
    if byte_order not in (0, 1):
        raise HeaderError(f"`byte order = {byte_order}`; use 0 (little-endian) or 1 (big-endian)", path=hdr)
    offset = H.get_int("header offset", 0, minimum=0)
    dtype = np.dtype(ENVI_DTYPES[code]).newbyteorder("<" if byte_order == 0 else ">")
    if data is None:
        tried = ", ".join(c.name for c in data_file_candidates(hdr, H)[:8])
        raise FormatError(f"the data file is missing (looked for {tried}); put it beside the header",
                          path=hdr)
    need = offset + lines * samples * bands * dtype.itemsize
    try:
        have = data.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read the data file ({exc.strerror or exc})", path=data) from None
    if have < need:
        raise TruncatedDataError(
            f"the data file has {have} bytes but {hdr.name} needs {need} ({offset} header offset + {lines} lines "
            f"x {samples} samples x {bands} bands x {dtype.itemsize} bytes): the file is truncated or the header "
            "is wrong", path=data)
    # Absolute, so a lazy array keeps working after a chdir or in another process.
    return RawLayout(os.path.abspath(data), offset, dtype, lines, samples, bands, interleave)


def _scan_meta(header: EnviHeader, hdr: Path, attrs: dict) -> ScanMeta:
    """ScanMeta from the header: ``sensor type`` and hsimin's own keys (see the module docstring)."""
    sensor = header.text("sensor type")
    if sensor is not None and sensor.lower() == "unknown":
        sensor = None
    try:
        return ScanMeta(hole_id=header.text("hole id"), tray_id=header.text("tray id"),
                        depth_from_m=header.get_float("depth from m"), depth_to_m=header.get_float("depth to m"),
                        sensor=sensor, pixel_size_mm=header.get_float("pixel size mm"), source=str(hdr),
                        attrs=attrs)
    except HeaderError:
        raise
    except HsiminError as exc:  # e.g. depth to above depth from
        raise HeaderError(exc.message, path=hdr) from None


def inspect_envi(path: str | os.PathLike, *, wavelengths=None, apply_scale: bool = True) -> EnviInfo:
    """Parse and check an ENVI header and its data file's size; read no data.

    ``apply_scale=False`` ignores ``reflectance scale factor`` and ``data ignore value`` (raw DN, for
    calibration). Raises :class:`HeaderError`, :class:`FormatError` (missing data file),
    :class:`TruncatedDataError`, :class:`WavelengthError`.
    """
    hdr, _ = find_envi_files(path)
    p = Path(path)
    header = read_envi_header(hdr)
    data = p if (p != hdr and p.is_file()) else find_data_file(hdr, header)
    layout = envi_layout(header, hdr, data)
    B = layout.bands
    wl_file, unit, unit_text = header_wavelengths(header, B, wavelengths)
    try:
        order = sort_order(wl_file)
    except WavelengthError as exc:
        raise WavelengthError(exc.message, path=hdr) from None
    wl = wl_file if order is None else wl_file[order]

    fwhm = header.get_floats("fwhm", B)
    if fwhm is not None:
        fwhm = fwhm_to_nm(fwhm, wl_file, unit)
        fwhm = fwhm if order is None else fwhm[order]
    bbl = header.get_floats("bbl", B)
    bad = None if bbl is None else (bbl == 0)
    if bad is not None and order is not None:
        bad = bad[order]

    scale = ignore = None
    if apply_scale:
        s = header.get_floats("reflectance scale factor")
        if s is not None:
            if s.size == 1:
                scale = float(s[0])
            elif s.size == B:
                scale = s if order is None else s[order]
            else:
                raise HeaderError(f"`reflectance scale factor` has {s.size} values; give one, or one per band "
                                  f"({B})", path=hdr)
            with np.errstate(over="ignore"):
                s32 = np.asarray(scale, np.float32)
            if np.any(s32 == 0) or not np.all(np.isfinite(s32)):
                raise HeaderError(f"`reflectance scale factor` is {header.text('reflectance scale factor')[:40]}; "
                                  "reflectance = value / factor needs a non-zero factor within float32 range",
                                  path=hdr)
            # the largest value the file can hold, divided by the factor, must stay a float32 number
            dt = layout.dtype
            vmax = float(np.iinfo(dt).max) if dt.kind in "iu" else 1.0
            if np.any(np.abs(s32.astype(np.float64)) * float(np.finfo(np.float32).max) < vmax):
                raise HeaderError(f"`reflectance scale factor` is {header.text('reflectance scale factor')[:40]}; so "
                                  f"small a factor turns {dt.name} values into infinities; give the factor that "
                                  "divides the stored values into reflectance (e.g. 10000)", path=hdr)
            if np.all(np.asarray(scale) == 1):
                scale = None
        ignore = ignore_value(header)

    table_file = None
    table_name = header.text("hsimin spectrum table")
    if table_name:
        if Path(table_name).name != table_name or table_name in (".", ".."):
            raise HeaderError(f"`hsimin spectrum table` must be a file name beside the header, not "
                              f"{table_name[:60]!r}", path=hdr)
        table_file = hdr.parent / table_name

    mask_file = None
    if header.text("hsimin mask file"):
        mask_file = Path(os.path.abspath(hdr.parent / header.text("hsimin mask file")))

    attrs = {
        "format": "envi",
        "interleave": layout.interleave,
        "dtype": np.dtype(layout.dtype).newbyteorder("=").name,
        "byte_order": header.get_int("byte order", 0),
        "header_offset": layout.offset,
        "data_file": layout.data_file,
        "file_type": header.text("file type"),
        "wavelength_units": unit_text,
        "bands_reordered": order is not None,
        "reflectance_scale_factor": (None if scale is None else
                                     float(scale) if np.ndim(scale) == 0 else [float(v) for v in scale]),
        "data_ignore_value": ignore,
        "description": header.text("description"),
    }
    if mask_file is not None:
        attrs["mask_file"] = str(mask_file)
    if table_file is not None:
        attrs["spectrum_table_file"] = str(table_file)
    meta = _scan_meta(header, hdr, attrs)
    return EnviInfo(header, layout, wl, fwhm, bad, order, scale, ignore, meta, mask_file, unit, table_file)


def _read_mask_file(mask_file: Path, hdr: Path, H: int, W: int) -> np.ndarray:
    try:
        size = mask_file.stat().st_size
    except OSError:
        raise FormatError(f"the mask file {mask_file.name} named by `hsimin mask file` is missing; put it "
                          "beside the header or delete the key", path=hdr) from None
    if size < H * W:
        raise TruncatedDataError(f"the mask file has {size} bytes, want {H * W} ({H} lines x {W} samples)",
                                 path=mask_file)
    raw = np.fromfile(mask_file, dtype=np.uint8, count=H * W).reshape(H, W)
    return raw != 0


def _ignore_mask(info: EnviInfo) -> np.ndarray | None:
    """(H, W) bool, False where a pixel holds the ignore value in every band; None if no pixel does.

    One band (the first in the file, the cheapest to read) finds the candidates; only the lines holding a
    candidate are then read in full to confirm them.
    """
    lay = info.layout
    with np.errstate(over="ignore"):
        ign = np.float32(info.ignore)
    mm = lay.memmap()
    band0 = {"bsq": (0,), "bil": (slice(None), 0), "bip": (slice(None), slice(None), 0)}[lay.interleave]
    first = mm[band0]
    cand = np.asarray(first, dtype=np.float32) == ign
    del mm, first
    if not cand.any():
        return None
    mask = np.ones(cand.shape, bool)
    rows = np.flatnonzero(cand.any(axis=1))
    step = max(1, (64 * 2**20) // max(1, lay.samples * lay.bands * 4))
    i = 0
    while i < rows.size:
        r0 = int(rows[i])
        r1 = min(lay.lines, r0 + step)
        block = lay.read_lines(r0, r1)
        mask[r0:r1] &= ~((block == ign).all(axis=2) & cand[r0:r1])
        i = int(np.searchsorted(rows, r1))
    return None if mask.all() else mask


def open_envi(path: str | os.PathLike, *, load: bool = False, wavelengths=None) -> Cube:
    """Open an ENVI cube as a :class:`~hsimin.core.types.Cube`.

    Parameters
    ----------
    path : the ``.hdr`` header or its data file
    load : read the whole cube into memory (float32 ndarray) instead of reading lines on demand
    wavelengths : (B,) nm, file band order; used instead of the header's list (needed for headers that have
        none)

    Returns a Cube whose ``data`` is (lines, samples, bands) float32 reflectance (value / ``reflectance scale
    factor``; ``data ignore value`` -> NaN), bands sorted by increasing wavelength (nm); ``fwhm`` (nm) and
    ``bad_bands`` (from ``bbl``) in the same order; ``mask`` False where every band holds the ignore value or
    where hsimin's mask sidecar says so (None if neither applies); ``meta.attrs`` describes the file.
    """
    info = inspect_envi(path, wavelengths=wavelengths)
    lay = info.layout
    hdr = info.header.path
    mask = None
    if info.mask_file is not None:
        mask = _read_mask_file(info.mask_file, hdr, lay.lines, lay.samples)
    if info.ignore is not None and math.isfinite(info.ignore):
        ign_mask = _ignore_mask(info)
        if ign_mask is not None:
            mask = ign_mask if mask is None else (mask & ign_mask)
    table = None
    if info.table_file is not None:
        types = info.header.text("hsimin spectrum table types")
        types = None if not types else [t.strip() for t in types.strip("{} ").split(",") if t.strip()]
        table = read_table_csv(info.table_file, lay.lines * lay.samples, types)
    data = EnviLazyArray(lay, info.band_order, info.scale, info.ignore)
    if load:
        data = np.asarray(data)
    return Cube(data, info.wavelengths, fwhm=info.fwhm, bad_bands=info.bad_bands, mask=mask, meta=info.meta,
                table=table)


# --------------------------------------------------------------------------------------------- write

_WRITE_DTYPES = ("float32", "float64", "int16", "uint16", "int32")


def _header_value(value: Any) -> str:
    """One-line header text: no newlines or braces, which would end the value early."""
    return " ".join(re.sub(r"[{}]", " ", str(value)).split())


def _format_list(values, per_line: int = 8) -> str:
    items = list(values)
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n " + ",\n ".join(rows) + "}"


def _header_text(cube: Cube, interleave: str, dtype: np.dtype, scale: float | None, ignore: int | None,
                 mask_name: str | None, description: str | None, table_name: str | None = None) -> str:
    from .. import __version__
    H, W, B = cube.shape
    m = cube.meta
    out = ["ENVI",
           "description = {" + _header_value(description or m.attrs.get("description")
                                             or f"written by hsimin {__version__}") + "}",
           f"samples = {W}", f"lines = {H}", f"bands = {B}", "header offset = 0", "file type = ENVI Standard",
           f"data type = {_DTYPE_CODES[dtype.name]}", f"interleave = {interleave}", "byte order = 0"]
    if m.sensor:
        out.append(f"sensor type = {_header_value(m.sensor)}")
    out.append("wavelength units = Nanometers")
    out.append("wavelength = " + _format_list(repr(float(w)) for w in cube.wavelengths))
    if cube.fwhm is not None:
        out.append("fwhm = " + _format_list(repr(float(w)) for w in cube.fwhm))
    if cube.bad_bands is not None:
        out.append("bbl = " + _format_list(("0" if b else "1") for b in cube.bad_bands))
    if scale is not None:
        out.append(f"reflectance scale factor = {scale!r}")
    if ignore is not None:
        out.append(f"data ignore value = {ignore}")
    for key, value in (("hole id", m.hole_id), ("tray id", m.tray_id)):
        if value is not None and _header_value(value):
            out.append(f"{key} = {_header_value(value)}")
    for key, value in (("depth from m", m.depth_from_m), ("depth to m", m.depth_to_m),
                       ("pixel size mm", m.pixel_size_mm)):
        if value is not None:
            out.append(f"{key} = {float(value)!r}")
    if mask_name is not None:
        out.append(f"hsimin mask file = {mask_name}")
    if table_name is not None:
        out.append(f"hsimin spectrum table = {table_name}")
        out.append("hsimin spectrum table types = " + _format_list(column_types(cube.table), per_line=16))
    return "\n".join(out) + "\n"


def _encode(block: np.ndarray, dtype: np.dtype, scale: float | None, ignore: int | None) -> np.ndarray:
    """(h, W, B) float32 reflectance -> file values of ``dtype`` (little-endian)."""
    if dtype.kind == "f":
        return block.astype(dtype.newbyteorder("<"), copy=False)
    info = np.iinfo(dtype)
    lo, hi = (info.min + 1, info.max) if info.min < 0 else (info.min, info.max - 1)  # keep ``ignore`` free
    v = np.rint(block.astype(np.float64) * scale)
    nan = np.isnan(v)
    np.clip(v, lo, hi, out=v)
    v[nan] = ignore
    return v.astype(dtype.newbyteorder("<"))


def write_envi_cube(cube: Cube, path: str | os.PathLike, *, overwrite: bool = False, interleave: str = "bil",
                    dtype: str = "float32", scale_factor: float | None = None, description: str | None = None,
                    max_bytes: int | None = None) -> Path:
    """Write a cube as ENVI: ``path`` (the ``.hdr``), ``NAME.img`` beside it, and ``NAME_mask.img`` if the cube
    has a mask (see the module docstring).

    Parameters
    ----------
    cube : Cube, (H, W, B) float32 reflectance, possibly lazy; streamed with ``iter_blocks`` (``max_bytes``
        per block), never held whole
    interleave : 'bil' (default), 'bsq' or 'bip'
    dtype : 'float32' (default), 'float64', or 'int16' / 'uint16' / 'int32', stored as
        round(reflectance x ``scale_factor``) (default 10000) with ``reflectance scale factor`` and a
        ``data ignore value`` (the type's minimum for signed, maximum for unsigned) where data are NaN
    description : the header's description (default: the source's, else "written by hsimin <version>")

    Wavelengths are written in nm with full precision, so a cube reads back bit-identical (float types).
    A cube with a per-spectrum table gets ``NAME_spectra.csv`` beside the header (see the module docstring).
    Atomic: data first, mask, table, header last. Returns the header path.
    """
    hdr = Path(path)
    if hdr.suffix.lower() != ".hdr":
        raise OutputError("an ENVI output must be the header, NAME.hdr (the data go to NAME.img)", path=hdr)
    inter = str(interleave).lower()
    if inter not in ("bil", "bsq", "bip"):
        raise InputError(f"interleave {interleave!r}: use bil, bsq or bip")
    if str(dtype) not in _WRITE_DTYPES:
        raise InputError(f"dtype {dtype!r}: use one of {', '.join(_WRITE_DTYPES)}")
    dt = np.dtype(str(dtype))
    scale = ignore = None
    if dt.kind in "iu":
        scale = float(10000.0 if scale_factor is None else scale_factor)
        if not (math.isfinite(scale) and scale > 0):
            raise InputError(f"scale_factor must be a positive number, got {scale_factor!r}")
        ignore = int(np.iinfo(dt).min if dt.kind == "i" else np.iinfo(dt).max)
    elif scale_factor is not None:
        raise InputError("scale_factor applies to integer dtypes only (int16, uint16, int32)")
    H, W, B = cube.shape
    if H * W * B == 0:
        raise InputError(f"the cube is empty ({H} lines x {W} samples x {B} bands); ENVI cannot hold it")
    ensure_space(hdr, H * W * B * dt.itemsize + (H * W if cube.mask is not None else 0))
    data_path = hdr.with_suffix(".img")
    mask_path = hdr.with_name(hdr.stem + "_mask.img") if cube.mask is not None else None
    table_path = hdr.with_name(hdr.stem + "_spectra.csv") if cube.table is not None else None
    extra = [p for p in (mask_path, table_path) if p is not None]
    finals = [data_path] + extra + [hdr]
    text = _header_text(cube, inter, dt, scale, ignore, None if mask_path is None else mask_path.name,
                        description, None if table_path is None else table_path.name)
    with atomic_outputs(finals, overwrite=overwrite) as temps:
        tmp_data, tmp_hdr = temps[0], temps[-1]
        isz = dt.itemsize
        try:
            with open(tmp_data, "r+b") as f:
                f.truncate(H * W * B * isz)
                for blk in iter_blocks(cube, max_bytes=max_bytes):
                    r0 = blk.rows.start
                    v = _encode(blk.data, dt, scale, ignore)
                    if inter == "bip":
                        f.seek(r0 * W * B * isz)
                        f.write(np.ascontiguousarray(v).data)
                    elif inter == "bil":
                        f.seek(r0 * B * W * isz)
                        f.write(np.ascontiguousarray(v.transpose(0, 2, 1)).data)
                    else:
                        for b in range(B):
                            f.seek((b * H + r0) * W * isz)
                            f.write(np.ascontiguousarray(v[:, :, b]).data)
            if mask_path is not None:
                np.asarray(cube.mask, dtype=np.uint8).tofile(temps[1])
            if table_path is not None:
                temps[len(temps) - 2].write_text(table_csv_text(cube.table), encoding="utf-8")
            tmp_hdr.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the ENVI cube ({exc.strerror or exc})", path=hdr) from None
    return hdr


register_reader(Reader(name="envi", sniff=sniff_envi, open=open_envi, priority=10,
                       description="ENVI .hdr + data file (BSQ/BIL/BIP, any byte order)"))
