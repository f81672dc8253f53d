"""CSIRO TSG packages (HyLogger core and chip scans): spectra, per-spectrum metadata and TSA's results.

A TSG *package* is the output of a HyLogger scan as The Spectral Geologist (TSG) stores it: per spectral range
a pair of files with one stem, ``NAME.tsg`` (text) and ``NAME.bip`` (binary), in one folder:

* NIR-SWIR (``*_tsg.tsg``/``.bip``, 380-2500 nm), thermal IR (``*_tsg_tir``, 6000-14500 nm) and, on a
  HyLogger-4, mid IR (``*_tsg_mir``, 2000-5500 nm); core-camera images (``*_cras.bip``) and profilometer data
  (``*_hires.dat``) are left alone.
* ``.tsg`` is an INI-like text file (Windows-1252). The sections hsimin uses: ``[coordinates]`` and
  ``[dimensions]`` (number of spectra and bands), ``[structure]`` (data type, bytes of header before the data),
  ``[wavelength specs]`` (``START END UNIT``: the bands are evenly spaced), ``[sample headers]`` (one line per
  spectrum: ``i:NAME  T=tray L=section P=point D=depth_m X=position_mm H=hole``), ``[band headers]`` (the scalar
  columns: ``i:NAME;min;max;flag;class;...``; flag 2 with a class number >= 0 stores class indices) and
  ``[class N]`` (the labels of class-valued scalars, e.g. TSA's minerals), plus ``[dbextra]`` (hole, scanner,
  project, dates).
* ``.bip`` holds, after ``dataheader`` bytes (0 in every package seen), two float32 planes of ``spectra x bands``
  values: the spectra (reflectance as a 0-1 fraction; ``-3.4e38`` where there is none), then the scalars (column
  ``i`` of the second plane is band header ``i``; ``-3.4e38`` = missing). Older packages without scalars hold the
  first plane only. HyLogger-3 and HyLogger-4 packages share this layout; what differs is their band count
  (531 vs 526 NIR-SWIR bands), which ranges they hold, and which class sections come first.

Why hsimin has its own reader rather than using ``pytsg`` (MIT): pytsg reads the whole ``.bip`` into memory and
reshapes it without checking it against the ``.tsg`` (a truncated or foreign ``.bip`` either crashes numpy or is
silently misread), depends on pandas, simplejpeg and dhcomp, and leaves scalars of class number 0 (the first
``[class]`` section, which holds TSA's minerals in some packages) as bare numbers. This reader streams spectra
through :class:`LazyCubeArray`, validates the pair, maps every class-valued column to its labels and gives one
clear error per problem. Its spectra and columns are compared with pytsg's on the real packages by
``benchmarks/tsg_bench.py`` (the same spectra bit for bit, every scalar column equal once TSG's -3.4e38 is read
as missing).

:func:`open_tsg` returns a :class:`~hsimin.core.Cube` with one pixel per spectrum in file order (``H`` = spectra,
``W`` = 1), wavelengths in nm and ``cube.table`` (:class:`~hsimin.core.SpectrumTable`): ``sample``,
``hole_id``, ``tray_id``, ``section``, ``point``, ``depth_m``, ``position_mm`` and every scalar column under its
TSG name (``Min1 sTSAS``, ``Wt1 sTSAS``, ``Error sTSAS``, ``Min1 sTSAV``...; class-valued columns as text, ``''``
for missing; numbers as float64, NaN for missing). :func:`tsa_results` picks TSA's answers out of such a table.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import FormatError, HeaderError, HsiminError, TruncatedDataError
from ..core.types import Cube, ScanMeta, SpectrumTable
from .lazy import LazyCubeArray
from .tsg_header import NULL_BELOW, NULL_VALUE, TsgHeader, read_tsg_header
from .registry import Reader, register_reader

__all__ = ["NULL_VALUE", "RANGES", "TsaResults", "TsgHeader", "find_tsg_files", "open_tsg", "read_tsg_header",
           "sniff_tsg", "tsa_results"]

RANGES = ("nir", "tir", "mir")
"""Spectral ranges of a package: ``nir`` (NIR-SWIR, the default), ``tir`` (thermal IR), ``mir`` (mid IR)."""

STANDARD_COLUMNS = {
    "sample": "the scanner's name of the spectrum",
    "hole_id": "hole (sample header H)",
    "tray_id": "tray (sample header T)",
    "section": "section or line within the tray (sample header L)",
    "point": "point within the section (sample header P)",
    "depth_m": "depth down the hole, m (sample header D)",
    "position_mm": "position along the section, mm (sample header X)",
}


# --------------------------------------------------------------------------------------------- the .bip data

class TsgSpectraArray(LazyCubeArray):
    """Lazy (n_spectra, 1, n_bands) float32 view of the spectra plane of a ``.bip`` (missing values as NaN).

    Holds the path and numbers only (picklable); every read opens the file and reads the rows it needs."""

    def __init__(self, path: str | os.PathLike, offset: int, n_spectra: int, n_bands: int,
                 order: np.ndarray | None = None, byteorder: str = "<"):
        super().__init__((n_spectra, 1, n_bands))
        self._path, self._offset, self._order, self._dtype = str(path), int(offset), order, np.dtype(byteorder + "f4")

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        N, _, B = self.shape
        out = np.empty((r1 - r0, 1, B), np.float32)
        if r1 > r0:
            # the rows are contiguous in the file: read them straight into the output (no second copy)
            _read_rows_into(self._path, self._offset + r0 * B * 4, out.reshape(r1 - r0, B), self._dtype)
            if self._order is not None:
                out[:, 0, :] = out[:, 0, self._order]
            _nulls_to_nan(out.reshape(-1))
        return out

    def __repr__(self) -> str:
        return f"TsgSpectraArray({self._path!r}, shape={self.shape})"


def _read_rows_into(path, offset: int, out: np.ndarray, dtype: np.dtype) -> None:
    """Fill the C-contiguous float32 array ``out`` with ``out.size`` values of ``dtype`` read at ``offset``."""
    with open(path, "rb") as f:
        f.seek(offset)
        n = f.readinto(memoryview(out).cast("B"))
    if n != out.nbytes:
        raise TruncatedDataError(f"the .bip ended {out.nbytes - n} bytes early; it was shortened after it was opened",
                                 path=path)
    if dtype.byteorder not in ("=", "|") and dtype.byteorder != ("<" if np.little_endian else ">"):
        out.byteswap(inplace=True)


def _nulls_to_nan(flat: np.ndarray, chunk: int = 1 << 20) -> None:
    """TSG's -3.4e38 (anything at or below ``NULL_BELOW``) -> NaN, in place, in bounded temporaries."""
    for i in range(0, flat.size, chunk):
        part = flat[i:i + chunk]
        part[part <= NULL_BELOW] = np.nan


def _bip_for(tsg: Path) -> Path | None:
    """The ``.bip`` of a ``.tsg``: same stem, extension in any case."""
    for c in (tsg.with_suffix(".bip"), tsg.with_suffix(".BIP")):
        if c.is_file():
            return c
    try:
        for c in tsg.parent.iterdir():
            if c.stem == tsg.stem and c.suffix.lower() == ".bip" and c.is_file():
                return c
    except OSError:
        pass
    return None


def _tsg_for(bip: Path) -> Path | None:
    for c in (bip.with_suffix(".tsg"), bip.with_suffix(".TSG")):
        if c.is_file():
            return c
    return None


def _range_of(tsg: Path) -> str:
    stem = tsg.stem.lower()
    return "tir" if stem.endswith("_tir") else "mir" if stem.endswith("_mir") else "nir"


def find_tsg_files(path: str | os.PathLike, spectral_range: str | None = None) -> tuple[Path, Path]:
    """(``.tsg``, ``.bip``) of the package at ``path``: a ``.tsg`` file, its ``.bip``, or a package folder (then
    the ``spectral_range`` pair, NIR-SWIR by default). Raises :class:`FormatError` for a missing ``.bip``, a
    folder without a package or with two packages of one range."""
    p = Path(path)
    if p.is_dir():
        want = (spectral_range or "nir").lower()
        if want not in RANGES:
            raise FormatError(f"spectral range {spectral_range!r}: choose one of {', '.join(RANGES)}", path=p)
        try:
            tsgs = sorted(c for c in p.iterdir() if c.suffix.lower() == ".tsg" and c.is_file())
        except OSError as exc:
            raise FormatError(f"cannot list the folder ({exc.strerror or exc})", path=p) from None
        hits = [c for c in tsgs if _range_of(c) == want]
        if not hits:
            have = ", ".join(sorted({_range_of(c) for c in tsgs})) or "none"
            raise FormatError(f"holds no {want.upper()} TSG package (.tsg + .bip); ranges found: {have}", path=p)
        if len(hits) > 1:
            raise FormatError(f"holds {len(hits)} {want.upper()} TSG packages ({', '.join(c.name for c in hits)}); "
                              "open one .tsg file, or keep one package per folder", path=p)
        tsg = hits[0]
    elif p.suffix.lower() == ".bip":
        tsg = _tsg_for(p)
        if tsg is None:
            raise FormatError("a TSG .bip without its .tsg text file of the same name", path=p)
    else:
        tsg = p
    bip = _bip_for(tsg)
    if bip is None:
        raise FormatError(f"the package's binary file {tsg.stem}.bip is missing: a TSG package is the .tsg text "
                          "and the .bip data of the same name, side by side", path=tsg)
    return tsg, bip


def _scalar_table(header: TsgHeader, bip: Path, planes: int, byteorder: str) -> tuple[dict, dict]:
    """Scalar columns (name -> (N,) array) and their descriptions, from the second plane of the ``.bip``."""
    cols: dict[str, np.ndarray] = {}
    desc: dict[str, str] = {}
    if planes < 2 or not header.band_headers:
        return cols, desc
    N, B = header.n_spectra, header.n_bands
    idx = np.array(sorted(header.band_headers), np.int64)
    # (N, K) float32 of the K columns that have band headers, read in row chunks: memory is the table plus one
    # chunk, never the whole plane (a deep hole's plane is hundreds of MB, most of it unused columns)
    values = np.empty((N, idx.size), np.float32)
    rows = max(1, min(N, (8 * 2**20) // (4 * B)))  # a small package needs no 8 MiB buffer
    buf = np.empty((rows, B), np.float32)
    start = header.data_offset + N * B * 4
    for r0 in range(0, N, rows):
        r1 = min(N, r0 + rows)
        part = buf[:r1 - r0]
        _read_rows_into(bip, start + r0 * B * 4, part, np.dtype(byteorder + "f4"))
        values[r0:r1] = part[:, idx]
    del buf
    with np.errstate(invalid="ignore"):
        missing = ~np.isfinite(values) | (values <= NULL_BELOW)
    values[missing] = np.nan
    for j, i in enumerate(idx):
        name, flag, cls = header.band_headers[int(i)]
        if name in cols or name in STANDARD_COLUMNS:
            name = f"{name} (scalar {int(i)})"
        if cls >= 0 and cls in header.classes:
            title, labels = header.classes[cls]
            k = np.round(np.where(missing[:, j], -1, values[:, j])).astype(np.int64)
            top = max([-1, *labels]) + 1
            lut = np.empty(top + 2, dtype=object)   # one shared str per label; -1, NaN, out of range -> ''
            lut[:] = ""
            for code, label in labels.items():
                if code >= 0:
                    lut[code] = label
            cols[name] = lut[np.where((k >= 0) & (k < top), k, top + 1)]
            desc[name] = f"TSG scalar {int(i)}, class-valued ({title})"
        else:
            cols[name] = np.ascontiguousarray(values[:, j])
            desc[name] = f"TSG scalar {int(i)} (float32 as stored)"
    return cols, desc


def _byteorder(header: TsgHeader, bip: Path) -> str:
    """'<' unless the first spectrum only makes sense big-endian (TSG writes little-endian on Windows)."""
    B = header.n_bands
    with open(bip, "rb") as f:
        f.seek(header.data_offset)
        buf = f.read(B * 4)
    scores = {}
    for bo in ("<", ">"):
        with np.errstate(invalid="ignore", over="ignore"):
            v = np.frombuffer(buf, dtype=bo + "f4").astype(np.float64)
        ok = np.isfinite(v) & (v > NULL_BELOW)
        vals = np.abs(v[ok])
        scores[bo] = float(np.mean((vals < 100) & ((vals > 1e-6) | (vals == 0)))) if vals.size else 0.0
    return ">" if scores[">"] > 0.9 and scores["<"] < 0.5 else "<"


def open_tsg(path: str | os.PathLike, *, spectral_range: str | None = None, load: bool = False) -> Cube:
    """Open a TSG package (a ``.tsg`` file, its ``.bip`` or the package folder) as a :class:`Cube`.

    Parameters
    ----------
    path : ``NAME.tsg`` (its range: ``*_tir.tsg`` thermal, ``*_mir.tsg`` mid IR, else NIR-SWIR), ``NAME.bip``, or
        a package folder
    spectral_range : with a folder, which pair to open: ``nir`` (default), ``tir`` or ``mir``
    load : read the spectra into memory instead of lazily

    Returns
    -------
    Cube with ``data`` (n_spectra, 1, n_bands) float32 (reflectance as stored; missing values NaN), one pixel per
    spectrum in file order; ``wavelengths`` nm; ``table`` the per-spectrum :class:`SpectrumTable` (see the module
    docstring); ``meta.hole_id`` the hole as the sample headers name it, ``meta.depth_from_m``/``depth_to_m`` the
    range of the spectra's depths, ``meta.sensor`` the HyLogger, ``meta.attrs`` the package facts (range, files,
    TSA columns, project, dates).
    """
    tsg, bip = find_tsg_files(path, spectral_range)
    header = read_tsg_header(tsg)
    N, B = header.n_spectra, header.n_bands
    try:
        size = bip.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read the .bip ({exc.strerror or exc})", path=bip) from None
    plane = N * B * 4
    body = size - header.data_offset
    if body == 2 * plane:
        planes = 2
    elif body == plane:
        planes = 1
    elif body < plane:
        raise TruncatedDataError(f"holds {size} bytes, but {tsg.name} describes {N} spectra x {B} bands "
                                 f"({header.data_offset + 2 * plane} bytes with the scalars): the .bip is truncated",
                                 path=bip)
    else:
        raise FormatError(f"holds {size} bytes, but {tsg.name} describes {N} spectra x {B} bands "
                          f"({header.data_offset + 2 * plane} bytes): the .bip and the .tsg do not belong together",
                          path=bip)
    byteorder = _byteorder(header, bip)
    wl = header.wavelengths
    order = None
    if wl.size > 1 and wl[0] > wl[-1]:  # a cm-1 axis gives decreasing nm: put the bands in increasing order
        order = np.arange(B)[::-1].copy()
        wl = wl[order]
    data = TsgSpectraArray(bip, header.data_offset, N, B, order, byteorder)

    s = header.samples
    columns: dict[str, np.ndarray] = {}
    desc: dict[str, str] = {}
    for name in STANDARD_COLUMNS:
        vals = s[name]
        if name in ("sample", "hole_id", "tray_id"):
            columns[name] = np.array(vals, dtype=object)
        else:
            columns[name] = np.asarray(vals, dtype=np.float64)
        desc[name] = STANDARD_COLUMNS[name]
    scalars, sdesc = _scalar_table(header, bip, planes, byteorder)
    columns.update(scalars)
    desc.update(sdesc)
    table = SpectrumTable(columns, desc)

    db = header.sections.get("dbextra", {})
    holes = [h for h in dict.fromkeys(columns["hole_id"].tolist()) if h]
    hole = holes[0] if holes else (db.get("dataset name") or db.get("drillhole name") or tsg.stem)
    trays = [t for t in dict.fromkeys(columns["tray_id"].tolist()) if t]
    depth = columns["depth_m"]
    finite = depth[np.isfinite(depth)]
    rng = _range_of(tsg)
    if rng == "nir" and wl[0] > 5000:  # a thermal pair under a plain name
        rng = "tir"
    tsa = sorted(k for k in scalars if re.search(r"\b[su]TSA[SVT]\b", k))
    attrs = {
        "format": "tsg", "spectral_range": rng, "tsg_file": tsg.name, "bip_file": bip.name,
        "spectra": N, "scalar_columns": len(scalars), "tsa_columns": tsa, "holes": holes, "trays": trays,
        "byte_order": "little" if byteorder == "<" else "big", "scalars_stored": planes == 2,
    }
    for key, label in (("dataset name", "dataset"), ("drillhole name", "drillhole"), ("project name", "project"),
                       ("scan date", "scan_date"), ("drill date", "drill_date"), ("hylogger name", "scanner"),
                       ("current owner", "owner"), ("lat lon", "lat_lon"), ("geo datum", "datum")):
        if db.get(key):
            attrs[label] = db[key]
    sensor = db.get("hylogger name") or "HyLogger"
    meta = ScanMeta(hole_id=hole, tray_id=trays[0] if len(trays) == 1 else None,
                    depth_from_m=float(finite.min()) if finite.size else None,
                    depth_to_m=float(finite.max()) if finite.size else None,
                    sensor=f"{sensor} {rng.upper()}", source=str(tsg), attrs=attrs)
    try:
        cube = Cube(data=data, wavelengths=wl, meta=meta, table=table)
    except HsiminError as exc:
        raise HeaderError(exc.message, path=tsg) from None
    return cube.load() if load else cube


def sniff_tsg(path: str | os.PathLike) -> bool:
    """True for a ``.tsg`` file, a ``.bip`` with a ``.tsg`` of the same name, or a folder holding a ``.tsg``."""
    p = Path(path)
    if p.is_dir():
        try:
            return any(c.suffix.lower() == ".tsg" for c in p.iterdir())
        except OSError:
            return False
    suf = p.suffix.lower()
    if suf == ".tsg":
        return True
    return suf == ".bip" and _tsg_for(p) is not None


# --------------------------------------------------------------------------------------------- TSA's answers

@dataclass(frozen=True)
class TsaResults:
    """TSA's interpretation of every spectrum of a package, from its scalar columns.

    run : the TSA run read (``sTSAS`` system SWIR, ``uTSAS`` user SWIR, ``sTSAV`` system VNIR)
    min1, min2, min3 : (N,) str mineral names as TSA gives them (``Kaolinite-WX``; ``''`` none)
    grp1, grp2 : (N,) str TSA group names (``''`` none)
    wt1, wt2, wt3 : (N,) float64 weights (fractions summing to 1; NaN none)
    error : (N,) float64 TSA's fit error (lower is better; NaN none)
    """

    run: str
    min1: np.ndarray
    min2: np.ndarray
    min3: np.ndarray
    grp1: np.ndarray
    grp2: np.ndarray
    wt1: np.ndarray
    wt2: np.ndarray
    wt3: np.ndarray
    error: np.ndarray

    def __len__(self) -> int:
        return int(self.min1.size)


def tsa_results(table: SpectrumTable, run: str = "swir") -> TsaResults | None:
    """TSA's answers in a package's table, or None when it has none for ``run``.

    ``run``: ``swir`` (the system SWIR run ``sTSAS`` where it holds answers, else the user run ``uTSAS``), ``vnir``
    (``sTSAV``, else ``uTSAV``), or an explicit suffix (``sTSAS``, ``uTSAS``, ``sTSAV``...)."""
    order = {"swir": ("sTSAS", "uTSAS"), "vnir": ("sTSAV", "uTSAV"), "tir": ("sTSAT", "uTSAT")}.get(
        run.lower(), (run,))
    n = len(table)

    def text(name):
        v = table.get(name)
        return np.full(n, "", dtype=str) if v is None or v.dtype.kind == "f" else v

    def number(name):
        v = table.get(name)
        return np.full(n, np.nan) if v is None or v.dtype.kind != "f" else v

    for suffix in order:
        m1 = table.get(f"Min1 {suffix}")
        if m1 is None or m1.dtype.kind == "f" or not np.any(m1 != ""):
            continue
        return TsaResults(suffix, m1, text(f"Min2 {suffix}"), text(f"Min3 {suffix}"), text(f"Grp1 {suffix}"),
                          text(f"Grp2 {suffix}"), number(f"Wt1 {suffix}"), number(f"Wt2 {suffix}"),
                          number(f"Wt3 {suffix}"), number(f"Error {suffix}"))
    return None


register_reader(Reader(name="tsg", sniff=sniff_tsg, open=open_tsg, priority=8,
                       description="CSIRO TSG package (HyLogger): NAME.tsg + NAME.bip, or the package folder"))
