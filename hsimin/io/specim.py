"""Specim scan folders: raw digital numbers + dark and white references -> reflectance.

Layout, as Specim's capture software writes it::

    SCAN/                       the scan folder (what ``hsimin calibrate`` takes)
      capture/
        NAME.hdr, NAME.raw                  the raw scan (ENVI, usually BIL uint16)
        DARKREF_NAME.hdr, DARKREF_NAME.raw  dark reference (shutter closed), a few dozen lines
        WHITEREF_NAME.hdr, WHITEREF_NAME.raw white reference (calibration panel)

:func:`calibrate_specim` also accepts the ``capture`` folder itself, or the raw ``NAME.hdr``.

Calibration, per sample (across-track detector column) ``s`` and band ``b``::

    dark[s, b]  = mean over lines of DARKREF   (float64)
    white[s, b] = mean over lines of WHITEREF  (float64)
    reflectance[l, s, b] = (raw[l, s, b] - dark[s, b]) / (white[s, b] - dark[s, b])

computed lazily, line block by line block, from the raw file (never loaded whole).

Unusable cells and pixels (all counted in ``meta.attrs``):

- **dead cells**: (sample, band) where ``white - dark <= 0`` (a dead or hot detector element), or where the
  white reference is saturated (its mean is at or above the saturation level, so it under-states the panel).
  Their reflectance is NaN in every line (``attrs['dead_cells']``). A sample whose every band is dead is a
  dead column: its pixels are masked (mask False; ``attrs['dead_samples']``). A sample with only some dead
  bands keeps mask True: its other bands are good, and masking it would cut a stripe through every tray.
- **saturated pixels**: raw pixels with any band at or above the saturation level (mask False,
  ``attrs['saturated_pixels']``). The level is the header's ``saturation value`` / ``max value`` if given,
  else ``2**bit depth - 1`` from ``bit depth``, else the maximum of the integer data type (65535 for uint16).
  Finding them reads the raw file once when the cube is opened (in blocks, bounded memory).

If every cell is dead (white equal to dark everywhere) calibration is impossible: :class:`CalibrationError`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import CalibrationError
from ..core.types import Cube, ScanMeta
from .envi import EnviInfo, inspect_envi
from .envi_header import read_envi_header
from .interleaved import EnviLazyArray
from .registry import Reader, register_reader

__all__ = ["SpecimFiles", "SpecimLazyArray", "calibrate_specim", "find_specim_files", "sniff_specim"]

_DARK, _WHITE = "DARKREF_", "WHITEREF_"
_REF_PREFIXES = (_DARK, _WHITE, "WHITEDARKREF_")
_BLOCK_BYTES = 64 * 2**20


class SpecimFiles(tuple):
    """(raw header, dark header, white header, scan folder) of one Specim capture."""

    __slots__ = ()

    def __new__(cls, raw: Path, dark: Path, white: Path, scan: Path):
        return super().__new__(cls, (raw, dark, white, scan))

    raw = property(lambda self: self[0])
    dark = property(lambda self: self[1])
    white = property(lambda self: self[2])
    scan = property(lambda self: self[3])


def _is_ref(name: str) -> bool:
    return name.upper().startswith(_REF_PREFIXES)


def _headers(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".hdr")
    except OSError:
        return []


def _capture_folder(path: Path) -> tuple[Path, Path | None]:
    """(capture folder, raw header if the path named one)."""
    if path.is_file():
        return path.parent, path
    cap = path / "capture"
    if cap.is_dir():
        return cap, None
    return path, None


def _ref_for(folder: Path, prefix: str, name: str, headers: list[Path]) -> Path | None:
    exact = [h for h in headers if h.stem.upper() == (prefix + name).upper()]
    if exact:
        return exact[0]
    # Some capture programs number the references (DARKREF_NAME_0001): accept a single one.
    loose = [h for h in headers if h.stem.upper().startswith(prefix)]
    return loose[0] if len(loose) == 1 else None


def find_specim_files(path: str | os.PathLike) -> SpecimFiles:
    """The raw, dark and white headers of a Specim scan folder, capture folder or raw header.

    Raises :class:`CalibrationError` listing what was found when a file is missing or ambiguous.
    """
    p = Path(path)
    if not p.exists():
        raise CalibrationError("no such file or folder", path=p)
    cap, raw = _capture_folder(p)
    headers = _headers(cap)
    found = ", ".join(h.name for h in headers) or "no .hdr files"
    if raw is None:
        if not any(_is_ref(h.name) for h in headers):
            raise CalibrationError(f"not a Specim capture: no capture/ folder and no DARKREF_ or WHITEREF_ headers "
                                   f"in {cap.name}/ (found: {found})", path=p)
        raws = [h for h in headers if not _is_ref(h.name)]
        if not raws:
            raise CalibrationError(f"no raw scan header in {cap.name}/ (found: {found}); a Specim capture holds "
                                   "NAME.hdr/.raw with DARKREF_NAME and WHITEREF_NAME beside it", path=p)
        if len(raws) > 1:
            raise CalibrationError(f"{len(raws)} raw scan headers in {cap.name}/ ({', '.join(h.name for h in raws)});"
                                   " give the one to calibrate", path=p)
        raw = raws[0]
    elif _is_ref(raw.name):
        raise CalibrationError("this is a reference, not a raw scan; give the scan folder or the raw NAME.hdr",
                               path=p)
    name = raw.stem
    dark = _ref_for(cap, _DARK, name, headers)
    white = _ref_for(cap, _WHITE, name, headers)
    missing = [what for what, ref in (("dark reference DARKREF_" + name + ".hdr", dark),
                                      ("white reference WHITEREF_" + name + ".hdr", white)) if ref is None]
    if missing:
        raise CalibrationError(f"missing {' and '.join(missing)} in {cap.name}/ (found: {found})", path=p)
    scan = cap.parent if cap.name.lower() == "capture" else cap
    return SpecimFiles(raw, dark, white, scan)


def sniff_specim(path: str | os.PathLike) -> bool:
    """True for a folder holding a Specim capture (``capture/`` or the capture folder itself) or a raw header
    with a DARKREF sibling. Looks at file names only."""
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() != ".hdr" or _is_ref(p.name):
            return False
        return any(h.stem.upper().startswith(_DARK) for h in _headers(p.parent))
    if not p.is_dir():
        return False
    cap, _ = _capture_folder(p)
    names = [h.name.upper() for h in _headers(cap)]
    return any(n.startswith(_DARK) for n in names) and any(not _is_ref(n) for n in names)


def _saturation_level(info: EnviInfo) -> float | None:
    """DN at which the sensor saturates: header key, bit depth, or the integer type's maximum."""
    h = info.header
    for key in ("saturation value", "max value", "maximum value"):
        v = h.get_float(key)
        if v is not None:
            return v
    for key in ("bit depth", "bitdepth", "bits per sample"):
        if key in h:
            bits = h.get_int(key, minimum=1)
            if bits <= 64:
                return float(2 ** bits - 1)
    dt = info.layout.dtype
    if dt.kind in "iu":
        return float(np.iinfo(dt).max)
    return None


def _mean_lines(info: EnviInfo) -> np.ndarray:
    """(W, B) float64 mean over lines of a reference, bands in sorted order."""
    lay = info.layout
    step = max(1, _BLOCK_BYTES // max(1, lay.samples * lay.bands * 4))
    total = np.zeros((lay.samples, lay.bands), np.float64)
    for r0 in range(0, lay.lines, step):
        block = lay.read_lines(r0, min(lay.lines, r0 + step), info.band_order)
        total += block.sum(axis=0, dtype=np.float64)
    return total / lay.lines


class SpecimLazyArray(EnviLazyArray):
    """(H, W, B) float32 reflectance of a Specim raw file, calibrated line block by line block.

    ``offset`` (W, B) is the mean dark, ``gain`` (W, B) is 1 / (white - dark) with NaN in dead cells.
    """

    def __init__(self, info: EnviInfo, dark: np.ndarray, gain: np.ndarray):
        super().__init__(info.layout, info.band_order)
        self.offset = np.ascontiguousarray(dark, np.float32)
        self.gain = np.ascontiguousarray(gain, np.float32)

    def _finish(self, chunk: np.ndarray, first_line: int) -> None:
        np.subtract(chunk, self.offset, out=chunk)
        np.multiply(chunk, self.gain, out=chunk)

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        return self.layout.read_lines(r0, r1, self.band_order, self._finish)


def _open_reference(path: Path, raw: EnviInfo, what: str) -> EnviInfo:
    """A reference's description, checked against the scan's samples, bands and wavelengths. A reference
    header without wavelengths takes the scan's."""
    header = read_envi_header(path)
    W, B = raw.layout.samples, raw.layout.bands
    shape = (header.get_int("samples", minimum=1), header.get_int("bands", minimum=1))
    if shape != (W, B):
        raise CalibrationError(f"the {what} reference has {shape[0]} samples x {shape[1]} bands but the scan has "
                               f"{W} x {B}; use references taken with the same sensor settings", path=path)
    wl_file = None
    if "wavelength" not in header:
        wl_file = raw.wavelengths.copy()
        if raw.band_order is not None:
            wl_file[raw.band_order] = raw.wavelengths
    info = inspect_envi(path, apply_scale=False, wavelengths=wl_file)
    if not np.allclose(info.wavelengths, raw.wavelengths, rtol=0, atol=1e-3):
        raise CalibrationError(f"the {what} reference's wavelengths differ from the scan's", path=path)
    return info


def calibrate_specim(path: str | os.PathLike, *, load: bool = False) -> Cube:
    """Reflectance cube of a Specim capture (see the module docstring for the formula and the flags).

    Parameters
    ----------
    path : the scan folder (holding ``capture/``), the capture folder, or the raw ``NAME.hdr``
    load : compute the whole cube in memory (float32 ndarray) instead of calibrating lines on demand

    Returns a Cube: ``data`` (lines, samples, bands) float32 reflectance, NaN in dead cells; wavelengths,
    fwhm, bad bands and sensor from the raw header; ``mask`` False for dead columns and saturated pixels
    (None if there are none); ``meta.attrs`` with the files used and the counts of flagged cells and pixels.

    Raises :class:`CalibrationError` for a missing reference, references whose samples or bands differ from
    the scan's, or a white reference equal to (or below) the dark everywhere.
    """
    files = find_specim_files(path)
    raw = inspect_envi(files.raw, apply_scale=False)
    dark = _open_reference(files.dark, raw, "dark")
    white = _open_reference(files.white, raw, "white")
    L, W, B = raw.layout.lines, raw.layout.samples, raw.layout.bands

    d = _mean_lines(dark)
    w = _mean_lines(white)
    denom = w - d
    sat = _saturation_level(raw)
    white_sat = np.zeros_like(denom, bool) if sat is None else (w >= sat)
    dead = ~(denom > 0) | white_sat
    if dead.all():
        if np.all(denom == 0):
            why = "the white reference equals the dark one"
        elif white_sat.all():
            why = f"the white reference is saturated (at or above {sat:g} DN)"
        else:
            why = "the white reference is not brighter than the dark one, or saturated,"
        raise CalibrationError(f"{why} in every sample and band, so reflectance cannot be computed; re-take the "
                               "white reference (lamps on, panel in view, integration time short enough)",
                               path=files.white)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(dead, np.nan, 1.0 / np.where(dead, 1.0, denom))
    dead_samples = np.flatnonzero(dead.all(axis=1))

    mask = np.ones((L, W), bool)
    mask[:, dead_samples] = False
    n_sat = 0
    if sat is not None:
        lay = raw.layout
        step = max(1, _BLOCK_BYTES // max(1, W * B * 4))
        sat32 = np.float32(sat)
        for r0 in range(0, L, step):
            r1 = min(L, r0 + step)
            hit = (lay.read_lines(r0, r1) >= sat32).any(axis=2)
            n_sat += int(hit.sum())
            mask[r0:r1] &= ~hit

    h = raw.header
    sensor = h.text("sensor type")
    attrs = {
        "format": "specim",
        "scan_name": files.raw.stem,
        "raw_file": raw.layout.data_file,
        "dark_file": dark.layout.data_file,
        "white_file": white.layout.data_file,
        "interleave": raw.layout.interleave,
        "dtype": np.dtype(raw.layout.dtype).newbyteorder("=").name,
        "byte_order": h.get_int("byte order", 0),
        "header_offset": raw.layout.offset,
        "dark_lines": dark.layout.lines,
        "white_lines": white.layout.lines,
        "saturation_dn": sat,
        "saturated_pixels": n_sat,
        "white_saturated_cells": int(white_sat.sum()),
        "dead_cells": int(dead.sum()),
        "dead_samples": [int(s) for s in dead_samples],
        "description": h.text("description"),
    }
    meta = ScanMeta(sensor=None if sensor is None or sensor.lower() == "unknown" else sensor,
                    source=str(files.scan), attrs=attrs)
    data = SpecimLazyArray(raw, d, gain)
    if load:
        data = np.asarray(data)
    return Cube(data, raw.wavelengths, fwhm=raw.fwhm, bad_bands=raw.bad_bands,
                mask=None if mask.all() else mask, meta=meta)


register_reader(Reader(name="specim", sniff=sniff_specim, open=calibrate_specim, priority=5,
                       description="Specim scan folder (capture/ with raw, DARKREF_ and WHITEREF_) -> reflectance"))
