"""ENVI header text and the files around it: a tolerant, linear-time parser and how a header finds its data.

:func:`parse_envi_header` / :func:`read_envi_header` give an :class:`EnviHeader` (lower-case keys, raw value text,
typed access whose errors name the header and the key). hsimin parses headers itself rather than with
``spectral.io.envi.read_envi_header``: SPy's fails on blank lines inside ``{...}``, warns on capitalised keys, is
quadratic in a long braced value and raises bare exceptions, while every failure here must become a
:class:`~hsimin.core.errors.HeaderError` that names the header and the key. Every ENVI reader in hsimin (cubes,
classification maps, Specim captures) goes through this one parser.

:func:`find_envi_files` pairs a header with its data file (the ``data file`` key, then ``NAME`` +
:data:`DATA_EXTENSIONS`); :func:`sniff_envi` says whether a path is ENVI at all.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import FormatError, HeaderError, WavelengthError
from ..core.units import infer_unit, normalise_unit, to_nanometers

__all__ = ["DATA_EXTENSIONS", "EnviHeader", "data_file_candidates", "find_data_file", "find_envi_files", "fwhm_to_nm", "header_wavelengths", "ignore_value", "parse_envi_header",
           "read_envi_header", "sniff_envi"]

DATA_EXTENSIONS = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", "")
"""Data-file names tried beside ``NAME.hdr``, in order (after the ``data file`` key)."""

MAX_HEADER_BYTES = 64 * 2**20
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# --------------------------------------------------------------------------------------------- header

@dataclass
class EnviHeader:
    """A parsed ENVI header: lower-case keys (runs of spaces collapsed) -> raw value text.

    Values that were written in ``{...}`` hold the text between the braces (newlines kept); ``braced``
    lists their keys. Typed access (:meth:`get_int`, :meth:`get_float`, :meth:`get_floats`) raises
    :class:`HeaderError` naming the header and the key.
    """

    path: Path
    fields: dict[str, str]
    braced: set[str] = field(default_factory=set)

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def text(self, key: str) -> str | None:
        """The value as one line of text (runs of whitespace collapsed), or None if absent/empty."""
        v = self.fields.get(key)
        if v is None:
            return None
        v = " ".join(v.split())
        return v or None

    def get_int(self, key: str, default: int | None = None, *, minimum: int | None = None) -> int:
        """An integer value; ``default`` if absent (absent without a default -> HeaderError)."""
        raw = self.text(key)
        if raw is None:
            if default is None:
                raise HeaderError(f"the header has no `{key}`; add `{key} = <integer>`", path=self.path)
            return default
        try:
            value = int(raw)
        except ValueError:
            try:
                f = float(raw)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f.is_integer()):
                raise HeaderError(f"`{key} = {raw[:40]}` is not an integer", path=self.path) from None
            value = int(f)
        if minimum is not None and value < minimum:
            raise HeaderError(f"`{key} = {value}` must be at least {minimum}", path=self.path)
        return value

    def get_float(self, key: str) -> float | None:
        """A finite number, or None if absent."""
        raw = self.text(key)
        if raw is None:
            return None
        vals = self.get_floats(key)
        if vals.size != 1:
            raise HeaderError(f"`{key}` holds {vals.size} values, want one number", path=self.path)
        return float(vals[0])

    def get_floats(self, key: str, count: int | None = None) -> np.ndarray | None:
        """A list of finite numbers (float64), or None if absent. ``count``: required length."""
        raw = self.fields.get(key)
        if raw is None:
            return None
        items = [s for s in re.split(r"[,\s]+", raw.strip()) if s]
        try:
            vals = np.array([float(s) for s in items], dtype=np.float64)
        except ValueError:
            bad = next(s for s in items if not _is_number(s))
            raise HeaderError(f"`{key}` holds {bad[:30]!r}, which is not a number", path=self.path) from None
        if vals.size == 0:
            raise HeaderError(f"`{key}` is empty", path=self.path)
        if not np.all(np.isfinite(vals)):
            raise HeaderError(f"`{key}` holds NaN or infinite values", path=self.path)
        if count is not None and vals.size != count:
            raise HeaderError(f"`{key}` has {vals.size} values for {count} bands; give one per band",
                              path=self.path)
        return vals


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def parse_envi_header(text: str, path: str | os.PathLike = "<header>") -> EnviHeader:
    """Parse ENVI header text. Keys are case-insensitive; ``{...}`` values may span lines; ``;`` starts a
    comment line. Raises :class:`HeaderError` if the text does not start with ``ENVI`` or a brace never
    closes."""
    path = Path(path)
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].strip().lstrip("\ufeff").upper().startswith("ENVI"):
        raise HeaderError("not an ENVI header (the first line is not 'ENVI')", path=path)
    i += 1
    fields: dict[str, str] = {}
    braced: set[str] = set()
    while i < len(lines):
        line = lines[i].strip()
        start = i + 1
        i += 1
        if not line or line.startswith(";") or "=" not in line:
            continue  # blank lines, comments and stray text carry nothing ENVI would read
        key, _, value = line.partition("=")
        key = " ".join(key.split()).lower()
        value = value.strip()
        if not key:
            continue
        if value.startswith("{"):
            # Collect the value's lines and test only each new line for the closing brace: testing the whole
            # growing value every time made an unclosed brace quadratic (83 s for 640 000 short lines).
            parts = [value[1:]]
            closed = "}" in parts[0]
            while not closed:
                if i >= len(lines):
                    raise HeaderError(f"the value of `{key}` opens '{{' on line {start} and never closes it "
                                      "(add the closing '}')", path=path)
                nxt = lines[i]
                i += 1
                if nxt.strip().startswith(";"):
                    continue
                parts.append(nxt)
                closed = "}" in nxt
            fields[key] = "\n".join(parts).partition("}")[0].strip()
            braced.add(key)
        else:
            fields[key] = value
            braced.discard(key)
    return EnviHeader(path, fields, braced)


def read_envi_header(path: str | os.PathLike) -> EnviHeader:
    """Read and parse an ENVI header file (see :func:`parse_envi_header`)."""
    from .files import read_bytes_file
    path = Path(path)
    try:
        data = read_bytes_file(path, what="the header", max_bytes=MAX_HEADER_BYTES, error=HeaderError)
    except HeaderError as exc:
        if "cannot read" in exc.message:
            raise FormatError(exc.message, path=path) from None
        raise
    if b"\x00" in data:
        raise HeaderError("not an ENVI header (the file is binary); give the .hdr text file", path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # old headers write µm in Latin-1
    return parse_envi_header(text, path)


# --------------------------------------------------------------------------------------------- files

def _is_envi_header(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"ENVI")


def _sibling_header(data: Path) -> Path | None:
    """The header of a data file: NAME.hdr (for NAME.ext) or NAME.ext.hdr, if it is an ENVI header."""
    cands = [data.with_suffix(".hdr"), data.with_suffix(".HDR"), Path(str(data) + ".hdr"),
             Path(str(data) + ".HDR")] if data.suffix else [Path(str(data) + ".hdr"), Path(str(data) + ".HDR")]
    for c in cands:
        if c != data and c.is_file() and _is_envi_header(c):
            return c
    return None


def data_file_candidates(hdr: Path, header: EnviHeader | None, extensions=DATA_EXTENSIONS) -> list[Path]:
    """Every path the data file of ``hdr`` may have, in the order they are tried: the header's ``data file``
    key, then NAME + each of ``extensions`` (each also in upper case)."""
    out: list[Path] = []
    if header is not None and header.text("data file"):
        df = Path(header.text("data file"))
        out.append(df if df.is_absolute() else hdr.parent / df)
    stem = hdr.with_suffix("") if hdr.suffix.lower() == ".hdr" else hdr
    for ext in extensions:
        for e in ((ext, ext.upper()) if ext else (ext,)):
            out.append(Path(str(stem) + e))
    return [c for c in dict.fromkeys(out) if c != hdr]


def find_envi_files(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """(header, data file) for a header or a data file. The data file is None if no candidate exists.

    Raises :class:`FormatError` if ``path`` is a data file without a header.
    """
    p = Path(path)
    if p.suffix.lower() == ".hdr" or (p.is_file() and _is_envi_header(p)):
        hdr = p
    else:
        hdr = _sibling_header(p)
        if hdr is None:
            raise FormatError(f"no ENVI header found beside this file (looked for {p.with_suffix('.hdr').name} "
                              f"and {p.name}.hdr)", path=p)
        if p.is_file():
            return hdr, p
    return hdr, find_data_file(hdr, None)


def find_data_file(hdr: Path, header: EnviHeader | None = None, extensions=DATA_EXTENSIONS) -> Path | None:
    """The first existing path of :func:`data_file_candidates`, or None."""
    for c in data_file_candidates(hdr, header, extensions):
        try:
            if c.is_file():
                return c
        except (OSError, ValueError):  # a `data file` value that is no usable name (too long, NUL bytes)
            continue
    return None


def sniff_envi(path: str | os.PathLike) -> bool:
    """True for an ENVI header (``.hdr`` or a file starting with ``ENVI``) or a data file with a sibling header."""
    p = Path(path)
    if not p.is_file():
        return False
    if p.suffix.lower() == ".hdr":
        return True
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_MAGIC):
        return False
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"ENVI"):
        return True
    return _sibling_header(p) is not None


def ignore_value(header: EnviHeader) -> float | None:
    """The ``data ignore value``, or None when absent or NaN (SPy writes ``data ignore value = NaN`` into every
    header it saves; NaN already means 'no data' in float files, so there is nothing more to mask)."""
    raw = header.text("data ignore value")
    if raw is None or raw.strip().lower() in ("nan", "+nan", "-nan"):
        return None
    return header.get_float("data ignore value")


# --------------------------------------------------------------------------------------------- wavelengths

def header_wavelengths(header: EnviHeader, bands: int, given=None) -> tuple[np.ndarray, str | None, str | None]:
    """(wavelengths in nm, in file band order; canonical unit; unit as written) from the header's ``wavelength``
    and ``wavelength units`` (nm, um, mm, cm-1, or the magnitude), or from ``given`` (nm) when not None.

    Raises :class:`WavelengthError` naming the header when the list is missing, has another length than ``bands``
    or is not positive; :class:`FormatError` for an ENVI Classification (a map, not a cube).
    """
    hdr = header.path
    unit_text = header.text("wavelength units")
    if given is not None:
        wl = np.asarray(given, dtype=np.float64).ravel()
        if wl.size != bands or not np.all(np.isfinite(wl)):
            raise WavelengthError(f"wavelengths= has {wl.size} values for {bands} bands (want finite nm, one per "
                                  "band)", path=hdr)
        try:  # the header's unit still tells the unit of its fwhm list
            unit = normalise_unit(unit_text) or "nm"
        except WavelengthError:
            unit = "nm"
        return wl, unit, unit_text
    if "wavelength" not in header:
        ftype = (header.text("file type") or "").lower()
        if "classification" in ftype:
            raise FormatError("this is an ENVI Classification file (a mineral map); open it with hsimin.open_map",
                              path=hdr)
        raise WavelengthError("the header has no `wavelength` list, so the bands cannot be placed; add "
                              "`wavelength = {...}` and `wavelength units = Nanometers`, or pass wavelengths= "
                              "(nm) to open_cube", path=hdr)
    values = header.get_floats("wavelength")
    if values.size != bands:
        raise WavelengthError(f"the header lists {values.size} wavelengths for {bands} bands; give one per band",
                              path=hdr)
    try:
        unit = normalise_unit(unit_text)
        wl = to_nanometers(values, unit)
        unit = unit or infer_unit(values)
    except WavelengthError as exc:
        raise WavelengthError(exc.message, path=hdr) from None
    if np.any(wl <= 0):
        raise WavelengthError("wavelengths must be positive", path=hdr)
    return wl, unit, unit_text


def fwhm_to_nm(fwhm: np.ndarray, wl_nm: np.ndarray, unit: str | None) -> np.ndarray:
    """FWHM in nm from the header's unit. For cm-1, a width dv at wavelength l (nm) spans
    dl = l^2 dv / 1e7 nm (the derivative of l = 1e7 / v)."""
    if unit == "um":
        return fwhm * 1000.0
    if unit == "mm":
        return fwhm * 1.0e6
    if unit == "cm-1":
        return wl_nm ** 2 * fwhm / 1.0e7
    return fwhm.astype(np.float64, copy=True)
