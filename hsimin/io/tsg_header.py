"""The ``.tsg`` text of a CSIRO TSG package: an INI-like file (Windows-1252) that says what the ``.bip`` holds.

:func:`read_tsg_header` parses it in one linear pass into a :class:`TsgHeader`: the number of spectra and bands,
the wavelengths (nm), the bytes before the data, the per-spectrum sample headers (hole, tray, section, point,
depth, position), the scalar columns (band headers) and the labels of class-valued columns. No data is read;
every problem is a :class:`~hsimin.core.errors.HeaderError` naming the file (and the line, where there is one).
The package layout and the ``.bip`` reader are in :mod:`hsimin.io.tsg`.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import FormatError, HeaderError, HsiminError
from ..core.units import normalise_unit, to_nanometers

__all__ = ["MAX_TSG_BYTES", "NULL_BELOW", "NULL_VALUE", "TsgHeader", "read_tsg_header"]

NULL_VALUE = -3.4e38
"""TSG's missing value (float32 ``-3.4e38``); anything at or below ``NULL_BELOW`` is read as missing."""
NULL_BELOW = -1.0e38

MAX_TSG_BYTES = 512 * 2**20
"""Largest ``.tsg`` text accepted (a 100 000-spectrum hole's is ~10 MB): a bigger one is not a TSG file."""

_SAMPLE_KEYS = {"H": "hole_id", "T": "tray_id", "L": "section", "P": "point", "D": "depth_m", "X": "position_mm"}
_NUMERIC_SAMPLE_KEYS = ("L", "P", "D", "X")
_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")


# --------------------------------------------------------------------------------------------- the .tsg text

@dataclass(frozen=True)
class TsgHeader:
    """What a ``.tsg`` file says (see the module docstring).

    n_spectra, n_bands : from ``[coordinates]``/``[dimensions]``
    wavelengths : (n_bands,) float64 nm, as the file orders them (increasing unless the unit is cm-1)
    data_offset : bytes before the data in the ``.bip`` (``[structure] dataheader``)
    samples : per spectrum, the sample-header fields (``sample`` plus the keys of :data:`_SAMPLE_KEYS`)
    band_headers : scalar column index -> (name, flag, class number or -1)
    classes : class number -> (name, {index: label})
    sections : every ``key = value`` section (lower-case names) as a dict, for the facts hsimin shows
    """

    path: str
    n_spectra: int
    n_bands: int
    wavelengths: np.ndarray
    wavelength_unit: str
    data_offset: int
    samples: dict[str, list]
    band_headers: dict[int, tuple[str, int, int]]
    classes: dict[int, tuple[str, dict[int, str]]]
    sections: dict[str, dict[str, str]] = field(default_factory=dict)


def _read_text(path: Path) -> str:
    """The ``.tsg`` text, refusing what is not a regular file of sane size (a FIFO, /dev/zero...)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise FormatError(f"cannot read the .tsg file ({exc.strerror or exc})", path=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise FormatError("not a regular file; give the package's .tsg file or its folder", path=path)
    if st.st_size > MAX_TSG_BYTES:
        raise FormatError(f"{st.st_size} bytes is far too large for a TSG text file (at most {MAX_TSG_BYTES})",
                          path=path)
    try:
        with open(path, "rb") as f:
            raw = f.read(min(st.st_size, MAX_TSG_BYTES) + 1)  # the size stat gave: no oversized buffer
    except OSError as exc:
        raise FormatError(f"cannot read the .tsg file ({exc.strerror or exc})", path=path) from None
    if b"\x00" in raw[:65536]:
        raise FormatError("holds binary data, not TSG text (is this the .bip file?)", path=path)
    return raw.decode("cp1252", errors="replace")


def _sections(text: str) -> dict[str, list[tuple[int, str]]]:
    """Section name (lower case) -> its (line number, line) pairs; one pass, linear in the text."""
    out: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.rstrip()
        m = _SECTION.match(s)
        if m:
            current = out.setdefault(m.group(1).strip().lower(), [])
            continue
        if current is not None and s.strip():
            current.append((n, s))
    return out


def _kv(lines: list[tuple[int, str]]) -> dict[str, str]:
    out = {}
    for _, s in lines:
        if "=" in s:
            k, v = s.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


def _int_field(d: dict, key: str, where: Path, what: str) -> int | None:
    if key not in d:
        return None
    try:
        v = int(float(d[key]))
    except ValueError:
        raise HeaderError(f"{what} {key} = {d[key]!r} is not a number", path=where) from None
    return v


_KV = re.compile(r"(?<!\S)([A-Za-z]\w*)=(\S*)")
_CANONICAL_SAMPLES = re.compile(r"^(\d+):(\S+)\s+T=(\S*)\s+L=(\S*)\s+P=(\S*)\s+D=(\S*)(?:\s+X=(\S*))?\s+H=(\S*)[ \t]*$",
                                re.MULTILINE)


def _parse_samples(lines: list[tuple[int, str]], n: int, path: Path) -> dict[str, list]:
    """The ``[sample headers]`` lines as columns: ``sample`` names, the text fields (hole, tray) as lists of str,
    the numeric fields (section, point, depth, position) as float64 arrays (NaN where absent)."""
    names: list[str] = []
    raw: dict[str, list[str]] = {k: [] for k in _SAMPLE_KEYS}
    fast = _CANONICAL_SAMPLES.findall("\n".join(s for _, s in lines)) if lines else []
    if len(fast) == len(lines) and all(int(m[0]) == i for i, m in enumerate(fast)):
        # every line in TSG's own layout (one regex over the block; a 100 000-spectrum hole in ~0.1 s)
        names = [m[1] for m in fast]
        for j, key in enumerate(("T", "L", "P", "D", "X", "H"), start=2):
            raw[key] = [m[j] for m in fast]
        lines_iter = ()
    else:
        lines_iter = lines
    for i, (lineno, s) in enumerate(lines_iter):
        head, sep, rest = s.partition(":")
        if not sep or not head.strip().isdigit():
            raise HeaderError(f"line {lineno}: sample header {s[:60]!r} is not 'INDEX:NAME K=V ...'", path=path)
        if int(head) != i:
            raise HeaderError(f"line {lineno}: sample header number {int(head)} where {i} was expected (the "
                              "sample headers must list the spectra in order)", path=path)
        fields = dict(_KV.findall(rest))
        names.append(_KV.sub("", rest).strip())
        for key, col in raw.items():
            col.append(fields.get(key, ""))
    if len(names) != n:
        raise HeaderError(f"lists {len(names)} sample headers for {n} spectra ([coordinates] "
                          "lastsample); the .tsg is cut short or edited", path=path)
    cols: dict[str, list | np.ndarray] = {"sample": names}
    for key, col in _SAMPLE_KEYS.items():
        vals = raw[key]
        if key not in _NUMERIC_SAMPLE_KEYS:
            cols[col] = vals
            continue
        try:
            x = np.array([v if v else "nan" for v in vals]).astype(np.float64)
        except ValueError:  # find the first bad value to name its line
            for i, v in enumerate(vals):
                try:
                    float(v or "nan")
                except ValueError:
                    raise HeaderError(f"line {lines[i][0]}: sample {i} has {key}={v!r}, which is not a number",
                                      path=path) from None
            raise
        x[~np.isfinite(x) | (x <= NULL_BELOW)] = np.nan
        cols[col] = x
    return cols


def _parse_band_headers(lines: list[tuple[int, str]], n_bands: int, path: Path) -> dict[int, tuple[str, int, int]]:
    out: dict[int, tuple[str, int, int]] = {}
    for lineno, s in lines:
        head, sep, rest = s.partition(":")
        if not sep or not head.strip().isdigit():
            raise HeaderError(f"line {lineno}: band header {s[:60]!r} is not 'INDEX:NAME;...'", path=path)
        idx = int(head)
        if idx >= n_bands:
            raise HeaderError(f"line {lineno}: scalar column {idx} lies beyond the {n_bands} values per spectrum of "
                              "the .bip", path=path)
        parts = rest.split(";")
        name = parts[0].strip()
        flag, cls = -1, -1
        if len(parts) > 4:
            try:
                flag = int(float(parts[3]))
                cls = int(float(parts[4])) if flag == 2 else -1
            except ValueError:
                raise HeaderError(f"line {lineno}: scalar {name!r} has a non-numeric flag or class field "
                                  f"({parts[3]!r}; {parts[4]!r})", path=path) from None
        if name:
            out[idx] = (name, flag, cls)
    return out


def _parse_class(name: str, lines: list[tuple[int, str]], path: Path) -> tuple[int, tuple[str, dict[int, str]]]:
    try:
        number = int(name.split()[1])
    except (IndexError, ValueError):
        raise HeaderError(f"section [{name}] is not '[class N]'", path=path) from None
    title, labels = "", {}
    for _lineno, s in lines:
        if "=" in s and not s.split("=", 1)[0].strip().isdigit():
            k, v = s.split("=", 1)
            if k.strip().lower() == "name":
                title = v.strip()
            continue
        head, sep, rest = s.partition(":")
        if sep and head.strip().lstrip("-").isdigit():
            labels[int(head)] = rest.strip()
    return number, (title, labels)


def read_tsg_header(path: str | os.PathLike) -> TsgHeader:
    """Parse a ``.tsg`` file (no data read). Raises :class:`HeaderError` naming the file and line."""
    p = Path(path)
    secs = _sections(_read_text(p))
    if "coordinates" not in secs and "dimensions" not in secs:
        raise HeaderError("is not a TSG file (no [coordinates] or [dimensions] section)", path=p)
    coords, dims, struct = _kv(secs.get("coordinates", [])), _kv(secs.get("dimensions", [])), \
        _kv(secs.get("structure", []))
    n = _int_field(coords, "lastsample", p, "[coordinates]")
    b = _int_field(coords, "lastband", p, "[coordinates]")
    n2 = _int_field(dims, "samples", p, "[dimensions]")
    b2 = _int_field(dims, "bands", p, "[dimensions]")
    first = _int_field(coords, "firstsample", p, "[coordinates]")
    n = n if n is not None else n2
    b = b if b is not None else b2
    if n is None or b is None:
        raise HeaderError("does not say how many spectra and bands it holds ([coordinates] lastsample/lastband)",
                          path=p)
    if first not in (None, 1) and n is not None:
        n = n - first + 1
    for a, c, what in ((n, n2, "spectra"), (b, b2, "bands")):
        if c is not None and a != c:
            raise HeaderError(f"[coordinates] and [dimensions] disagree on the number of {what} ({a} vs {c})",
                              path=p)
    if n < 1 or b < 2:
        raise HeaderError(f"describes {n} spectra of {b} bands; a package holds at least one spectrum of two "
                          "bands or more", path=p)
    dtype = struct.get("datatype", "float").lower()
    if dtype not in ("float", "float32", "real"):
        raise HeaderError(f"[structure] datatype = {dtype!r}; hsimin reads float TSG data only", path=p)
    offset = _int_field(struct, "dataheader", p, "[structure]") or 0
    if offset < 0:
        raise HeaderError(f"[structure] dataheader = {offset} is negative", path=p)
    spec = [s for _, s in secs.get("wavelength specs", [])]
    if not spec:
        raise HeaderError("has no [wavelength specs] section (START END UNIT)", path=p)
    parts = spec[0].split()
    try:
        start, end = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise HeaderError(f"[wavelength specs] {spec[0]!r} is not 'START END UNIT'", path=p) from None
    unit_text = parts[-1] if len(parts) > 2 else "nm"
    try:
        unit = normalise_unit(unit_text) or "nm"
        wl = to_nanometers(np.linspace(start, end, b), unit)
    except HsiminError as exc:
        raise HeaderError(f"[wavelength specs]: {exc.message}", path=p) from None
    if not (np.all(np.isfinite(wl)) and start != end):
        raise HeaderError(f"[wavelength specs] {spec[0]!r} gives no usable wavelengths", path=p)
    samples = _parse_samples(secs.get("sample headers", []), n, p)
    bands = _parse_band_headers(secs.get("band headers", []), b, p)
    classes = dict(_parse_class(name, lines, p) for name, lines in secs.items() if name.startswith("class "))
    keep = {k: _kv(v) for k, v in secs.items() if k in ("dbextra", "description", "structure", "platform")}
    keep["description"] = {f"line{i}": s for i, (_, s) in enumerate(secs.get("description", []))}
    return TsgHeader(str(p), int(n), int(b), wl, unit, int(offset), samples, bands, classes, keep)
