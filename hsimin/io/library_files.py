"""Spectral-library files: USGS splib07 ASCII, ENVI spectral libraries (``.sli``) and CSV tables, read into a
:class:`~hsimin.core.types.SpectralLibrary` (wavelengths in nm, increasing; names parsed the USGS way).

:func:`hsimin.io.load_library` dispatches to these by extension and caches; call them directly for options.
The naming helpers (:func:`usgs_physical_sample`, :func:`parse_usgs_title`) and :func:`increasing_bands` are
shared with the bundled libraries (:mod:`hsimin.io.libraries`).
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from ..core.errors import FormatError, HeaderError, InputError, WavelengthError
from ..core.types import SpectralLibrary
from ..core.units import to_nanometers
from ..core.vocabulary import is_mixture, mineral_name
from .envi import envi_layout
from .envi_header import DATA_EXTENSIONS, find_data_file, fwhm_to_nm, header_wavelengths, ignore_value, read_envi_header

__all__ = ["USGS_DELETED", "increasing_bands", "parse_usgs_title", "read_csv_library", "read_envi_sli",
           "read_usgs_ascii", "usgs_physical_sample"]

USGS_DELETED = -1.23e34
"""splib07 marks deleted channels with -1.23e34."""

_INSTRUMENT_TOKEN = re.compile(r"^(ASDFR|ASDNG|ASDHR|ASD|BECK|NIC4|AVIRIS)([a-z]*)$")


# --------------------------------------------------------------------------- naming

def usgs_physical_sample(sample_id: str) -> str:
    """Physical-sample id of a USGS splib07 sample id: spectra of one specimen share it.

    The sample code is the first ``_``-token that holds a digit and two letters (``HS116.1B``, ``GDS26.a``,
    ``KGa-1``, ``NMNH96917.b``); its sub-sample suffix (``.1B``, ``.a``, ``.HCl``: grain-size fractions and
    treatments of one specimen) and a trailing lower-case letter after a digit (``GDS116a``) are removed, and it
    is upper-cased: ``HS116.1B`` -> ``HS116``, ``GDS26.b_lt75um`` -> ``GDS26``, ``Fe_GDS157.b`` -> ``GDS157``.
    Ids without such a token (``Glen_Cove_#6``) are upper-cased whole.
    """
    s = str(sample_id).strip()
    toks = [t for t in re.split(r"[_\s]+", s) if t]
    code = next((t for t in toks if re.search(r"\d", t) and re.search(r"[A-Za-z]{2,}", t)), None)
    if code is None:
        return "_".join(toks).upper()
    code = code.split(".")[0]
    code = re.sub(r"(?<=\d)[a-z]$", "", code)
    return code.upper()


def parse_usgs_title(title: str) -> dict:
    """Fields of a USGS spectrum title ``'Kaolinite CM9  BECKb AREF'`` (or a file name
    ``splib07a_Kaolinite_CM9_BECKb_AREF.txt``): name, sample_id, instrument, purity, mtype."""
    t = re.sub(r"\.txt$", "", str(title).strip(), flags=re.I)
    t = re.sub(r"^splib07[ab]?_", "", t)
    toks = [x for x in re.split(r"[\s_]+", t) if x]
    out = {"name": "_".join(toks), "sample_id": "", "instrument": "", "purity": "", "mtype": ""}
    if toks and re.fullmatch(r"[AR]REF|RTGC|TRAN", toks[-1]):
        out["mtype"] = toks.pop()
    if toks:
        m = _INSTRUMENT_TOKEN.match(toks[-1])
        if m and len(toks) > 1:
            out["instrument"], out["purity"] = m.group(1), m.group(2)
            toks.pop()
    out["name"] = "_".join(toks)
    out["sample_id"] = "_".join(toks[1:]) if len(toks) > 1 else (toks[0] if toks else "")
    return out


def increasing_bands(wavelengths, how: str = "auto") -> np.ndarray:
    """Indices of the bands to keep, in order, so the wavelengths become strictly increasing.

    ``how='drop'``: keep a band only if it is above every earlier and below every later band (drops the
    overlapping channels at spectrometer joins, e.g. AVIRIS-95 687.0 -> 664.3 nm); ``'sort'``: sort all bands
    (raises :class:`WavelengthError` on repeated values); ``'auto'``: reverse a strictly decreasing list, else
    ``'drop'``.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1:
        raise WavelengthError(f"wavelengths must be one value per band (1-D), got an array of shape {wl.shape}")
    n = wl.size
    if n < 2 or np.all(np.diff(wl) > 0):
        return np.arange(n)
    if how == "auto" and np.all(np.diff(wl) < 0):
        return np.arange(n)[::-1].copy()
    if how in ("auto", "drop"):
        earlier_max = np.concatenate([[-np.inf], np.maximum.accumulate(wl)[:-1]])
        later_min = np.concatenate([np.minimum.accumulate(wl[::-1])[::-1][1:], [np.inf]])
        keep = np.flatnonzero((wl > earlier_max) & (wl < later_min))
        if keep.size < 2:
            raise WavelengthError("wavelengths are not in a usable order (fewer than 2 bands left after dropping "
                                  "overlaps); sort them or pass how='sort'")
        return keep
    if how == "sort":
        order = np.argsort(wl, kind="stable")
        if np.any(np.diff(wl[order]) <= 0):
            raise WavelengthError("wavelengths repeat, so the bands cannot be put in a consistent order")
        return order
    raise InputError(f"how must be 'auto', 'drop' or 'sort', got {how!r}")


# --------------------------------------------------------------------------- readers

def _read_usgs_column(path: Path) -> tuple[str, np.ndarray]:
    """(header line, values) of a splib07 ASCII file: a header line, then one number per line."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise FormatError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        raise FormatError("a USGS splib07 ASCII file needs a header line and at least one value", path=path)
    header = lines[0]
    try:
        vals = np.array([float(ln.split()[0]) for ln in lines[1:]], dtype=np.float64)
    except ValueError:
        raise FormatError("a USGS splib07 ASCII file has one number per line after its header line; found text",
                          path=path) from None
    vals[vals <= USGS_DELETED / 10] = np.nan
    return header, vals


def read_usgs_ascii(paths: str | os.PathLike | Iterable[str | os.PathLike], wavelengths,
                    fwhm=None) -> SpectralLibrary:
    """Read USGS splib07 ASCII spectra (``splib07a_Kaolinite_CM9_BECKb_AREF.txt``).

    Each file is a header line (``splib07a Record=7781: Kaolinite CM9  BECKb AREF``) and one reflectance per
    line; ``-1.23e34`` (deleted channel) becomes NaN. USGS keeps wavelengths in separate files of the same form
    (``splib07a_Wavelengths_BECK_Beckman_0.2-3.0_microns.txt``, in µm).

    Parameters
    ----------
    paths : one file or several files on the same wavelength grid
    wavelengths : the wavelength file (path), or the values (array; µm or nm, inferred from magnitude)
    fwhm : the bandpass (FWHM) file or values, optional (same units as ``wavelengths``)

    Returns a library with N spectra, wavelengths in nm (bands sorted; channels whose wavelength is deleted are
    dropped), names/minerals/sample ids parsed from the header lines, ``attrs`` purity/instrument/mtype/title.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("read_usgs_ascii needs at least one file")

    def values(v, what):
        if isinstance(v, (str, os.PathLike)):
            return _read_usgs_column(Path(v))[1]
        return np.asarray(v, dtype=np.float64).ravel()

    wl_raw = values(wavelengths, "wavelengths")
    good = np.isfinite(wl_raw)
    if good.sum() < 2:
        raise WavelengthError("the wavelength file has fewer than 2 usable values")
    wl = to_nanometers(wl_raw[good])
    fw = None
    if fwhm is not None:
        fw_raw = values(fwhm, "fwhm")
        if fw_raw.size != wl_raw.size:
            raise WavelengthError(f"the FWHM file has {fw_raw.size} values for {wl_raw.size} wavelengths")
        fw = fw_raw[good] * (wl[-1] / wl_raw[good][-1])  # same unit conversion as the wavelengths
    order = increasing_bands(wl, "sort")
    spectra, titles = [], []
    for p in paths:
        header, vals = _read_usgs_column(p)
        if vals.size != wl_raw.size:
            raise FormatError(f"{vals.size} values but the wavelength file has {wl_raw.size}: wrong wavelength "
                              "file for this spectrum (USGS has one per instrument)", path=p)
        spectra.append(vals[good][order])
        title = header.split(":", 1)[1].strip() if ":" in header else p.stem
        titles.append(" ".join(title.split()))
    parsed = [parse_usgs_title(t) for t in titles]
    names = [p_["name"] for p_ in parsed]
    return SpectralLibrary(np.vstack(spectra), wl[order], names, [mineral_name(t) for t in titles],
                           "USGS splib07 ASCII: " + ", ".join(p.name for p in paths[:3])
                           + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else ""),
                           [usgs_physical_sample(p_["sample_id"] or p_["name"]) for p_ in parsed],
                           None if fw is None else fw[order],
                           {"purity": [p_["purity"] for p_ in parsed], "instrument": [p_["instrument"] for p_ in parsed],
                            "mtype": [p_["mtype"] for p_ in parsed], "title": titles,
                            "usgs_sample_id": [p_["sample_id"] for p_ in parsed],
                            "is_mixture": [is_mixture(t) for t in titles]})


def read_envi_sli(path: str | os.PathLike, *, overlap: str = "auto") -> SpectralLibrary:
    """Read an ENVI spectral library (``.hdr`` + ``.sli``), through hsimin's ENVI header parser.

    Uses ``spectra names``, ``wavelength`` with ``wavelength units`` (nm, µm, mm, cm-1; inferred from magnitude
    when missing), ``fwhm`` (in the wavelengths' unit; cm-1 widths converted at each band, as for cubes),
    ``header offset``, ``byte order``, ``reflectance scale factor`` and ``data ignore value``; values at or below
    -1e30 (USGS deleted channels) become NaN. Non-increasing wavelengths are put in order (``overlap``, see
    :func:`increasing_bands`). Names map to minerals with :func:`~hsimin.core.vocabulary.mineral_name`.
    """
    p = Path(path)
    hdr = p if p.suffix.lower() == ".hdr" else p.with_suffix(".hdr")
    if not hdr.is_file():
        raise FormatError("ENVI spectral library header (.hdr) not found beside it", path=hdr)
    h = read_envi_header(hdr)
    if "spectral library" not in (h.text("file type") or "").lower():
        raise FormatError(f"not an ENVI spectral library (file type = {h.text('file type')!r}); use "
                          "hsimin.open_cube for image cubes", path=hdr)
    data = p if p.suffix.lower() != ".hdr" else find_data_file(hdr, h, (".sli", *DATA_EXTENSIONS))
    layout = envi_layout(h, hdr, data)   # samples = bands of the spectra, lines = spectra
    if layout.bands != 1:
        raise HeaderError(f"an ENVI spectral library has `bands = 1`, this header says {layout.bands}", path=hdr)
    B, N = layout.samples, layout.lines
    try:
        S = np.fromfile(layout.data_file, dtype=layout.dtype, count=N * B, offset=layout.offset)
    except OSError as exc:
        raise FormatError(f"cannot read the ENVI spectral library ({exc.strerror or exc})", path=hdr) from None
    S = S.reshape(N, B).astype(np.float64)
    S[S <= -1e30] = np.nan
    ignore = ignore_value(h)
    if ignore is not None:
        S[S == ignore] = np.nan
    scale = h.get_float("reflectance scale factor")
    if scale is not None and scale > 0 and scale != 1.0:
        S = S / scale
    wl, unit, _ = header_wavelengths(h, B)
    fw = h.get_floats("fwhm")
    fw = fwhm_to_nm(fw, wl, unit) if fw is not None and fw.size == B else None
    keep = increasing_bands(wl, overlap)
    names = [n.strip() for n in h.get("spectra names", "").split(",")] if h.get("spectra names") else []
    if len(names) != N:
        names = [f"spectrum_{i + 1}" for i in range(N)]
    names = [" ".join(n.split()) for n in names]
    parsed = [parse_usgs_title(n) for n in names]
    return SpectralLibrary(S[:, keep], wl[keep], names, [mineral_name(n) for n in names],
                           f"ENVI spectral library {hdr.name}" + (f": {h.text('description')}"
                                                                  if h.text("description") else ""),
                           [usgs_physical_sample(q["sample_id"] or q["name"]) for q in parsed],
                           None if fw is None else fw[keep],
                           {"purity": [q["purity"] for q in parsed], "instrument": [q["instrument"] for q in parsed],
                            "mtype": [q["mtype"] for q in parsed], "title": names,
                            "is_mixture": [is_mixture(n) for n in names]})


_NUM = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _is_num(s: str) -> bool:
    return bool(_NUM.match(s or ""))


def _unit_from_label(label: str) -> str | None:
    lab = label.strip().lower()
    for pat, unit in ((r"\bnm\b|nanomet", "nm"), (r"\bum\b|µm|μm|micro", "um"), (r"cm-1|cm\^-1|1/cm|wavenumber", "cm-1")):
        if re.search(pat, lab):
            return unit
    return None


def read_csv_library(path: str | os.PathLike, *, scale: float | None = None, minerals_row: bool = False,
                     overlap: str = "auto") -> SpectralLibrary:
    """Read a spectral library from a CSV (comma, semicolon or tab separated; ``#`` comment lines skipped).

    Two layouts are accepted and told apart by the header row:

    - **spectra in columns**: the first column holds the wavelengths, each further column one spectrum; the
      header row holds a wavelength label (``wavelength``, ``wavelength_nm``, ``nm``, ``um``...) then the
      spectrum names::

          wavelength_nm,Kaolinite_CM9,Calcite_WS272
          1000.0,0.81,0.90
          ...

    - **spectra in rows**: the header row holds a label then the wavelengths (all numbers); each further row a
      name then its values::

          name,1000.0,1005.6,...
          Kaolinite_CM9,0.81,0.80,...

    Wavelength units come from the label (``nm``, ``um``/``micrometers``, ``cm-1``) or are inferred from the
    magnitude. Empty cells and ``nan`` are NaN. ``scale``: the values are divided by it (e.g. 100 for percent,
    10000 for scaled integers); by default values whose 99th percentile exceeds 2 are taken as percent.
    With ``minerals_row=True`` (spectra in columns only) the second row gives each spectrum's mineral name.
    """
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise FormatError(f"cannot read the file ({exc.strerror or exc})", path=p) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) < 2:
        raise FormatError("a CSV library needs a header row and at least one data row", path=p)
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)]
    header = rows[0]
    if len(header) < 2:
        raise FormatError("the header row has a single cell: is the delimiter one of , ; or tab?", path=p)

    def num(c: str) -> float:
        if c == "" or c.lower() in ("nan", "na", "null"):
            return np.nan
        return float(c)

    try:
        if all(_is_num(c) for c in header[1:]):                     # spectra in rows
            unit = _unit_from_label(header[0])
            wl_vals = [float(c) for c in header[1:]]
            names = [r[0] for r in rows[1:]]
            S = np.array([[num(c) for c in r[1:]] for r in rows[1:]], dtype=np.float64)
            mins = None
        else:                                                         # spectra in columns
            unit = _unit_from_label(header[0])
            names = header[1:]
            body = rows[1:]
            mins = None
            if minerals_row:
                mins, body = body[0][1:], body[1:]
            wl_vals = [float(r[0]) for r in body]
            S = np.array([[num(c) for c in r[1:]] for r in body], dtype=np.float64).T
    except ValueError as exc:
        raise FormatError(f"a cell is not a number ({exc}); see read_csv_library for the two accepted layouts",
                          path=p) from None
    if S.ndim != 2 or S.shape[1] != len(wl_vals) or S.shape[0] != len(names):
        raise FormatError(f"rows have different lengths ({len(wl_vals)} wavelengths, table {S.shape})", path=p)
    wl = to_nanometers(wl_vals, unit)
    keep = increasing_bands(wl, overlap)
    if scale is None:
        finite = S[np.isfinite(S)]
        scale = 100.0 if finite.size and np.percentile(finite, 99) > 2.0 else 1.0
    S = S[:, keep] / float(scale)
    minerals = [mineral_name(m) for m in (mins if mins is not None else names)]
    return SpectralLibrary(S, wl[keep], names, minerals, f"CSV library {p.name}",
                           [usgs_physical_sample(parse_usgs_title(n)["sample_id"] or n) for n in names], None,
                           {"title": names, "is_mixture": [is_mixture(n) for n in names]})
