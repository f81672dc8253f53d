"""Spectral libraries: the bundled USGS splib07 minerals and tray artefacts, and readers for library files.

Bundled libraries (``list_libraries()``)
----------------------------------------
``usgs_splib07``
    USGS Spectral Library v7 (splib07a), chapter M (minerals): 1276 spectra measured on three spectrometers,
    ASD FieldSpec (448, 350-2500 nm at 1 nm), Beckman 5270 (439, 205-2976 nm) and Nicolet FTIR (389,
    1123-2600 nm). They are put on **one common grid, ASD's 1 nm grid from 350 to 2500 nm** (2151 bands),
    because that is the grid of the largest group, it covers the VNIR and SWIR that core scanners measure,
    and 1 nm is finer than any of the sources' bandpasses in the SWIR:

    - ASD spectra are copied as they are;
    - Beckman spectra (10-30 nm steps in the SWIR, 32 nm FWHM above 2.5 µm) are linearly interpolated (no
      detail is invented: the interpolant is what a band response integrates over);
    - Nicolet spectra (0.2-1.3 nm steps, 0.5-2.7 nm FWHM) are Gaussian-resampled to a 2 nm FWHM, which
      removes the aliasing a 1 nm grid would otherwise get from them; they are NaN below 1123 nm and mostly
      NaN below ~1500 nm (USGS deleted the noisy short-wave end of most Nicolet spectra), so few cover a full
      1000-2500 nm scanner range (``min_coverage`` filters on that);
    - NaN marks a channel USGS deleted or a spectrometer does not cover.

    The spectra have different resolutions (ASD FR ~11 nm, ASD NG ~6 nm and Beckman ~10 nm at 2200 nm), so the
    common-grid library has ``fwhm=None``; ``attrs['instrument']`` says which instrument each spectrum is from.
    For a sensor's bands, pass ``wavelengths=``/``fwhm=``: each instrument's spectra are then resampled
    *from their native grid* straight to the sensor, with the effective width sqrt(sensor² − instrument²)
    (see :func:`hsimin.preprocess.resample`), which reproduces USGS's own convolved products best.

    Labels: ``minerals`` are hsimin vocabulary names (:func:`hsimin.core.vocabulary.mineral_name`);
    ``sample_ids`` are *physical sample* ids (:func:`usgs_physical_sample`): the grain-size fractions and
    instruments of one specimen (``Actinolite_HS116.1B`` ... ``.4B``) share one id, which is what
    leave-sample-out evaluation must hold out together. ``attrs``: ``purity`` (USGS letters, one per wavelength
    region), ``instrument`` (ASDFR/ASDNG/ASDHR/BECK/NIC4), ``mtype`` (AREF absolute, RREF relative reflectance),
    ``title``, ``usgs_sample_id`` (as USGS writes it), ``record``, ``is_mixture``.

``usgs_artefacts``
    Tray artefacts from USGS's own convolution of splib07b to AVIRIS-1995 (48 spectra: plastics, wood,
    cardboard, metals), on the AVIRIS-95 channels with the overlapping channels at the spectrometer joins
    dropped (a channel is kept only if it lies above every earlier and below every later channel: 214 of
    224 remain, strictly increasing).

Files
-----
:func:`read_usgs_ascii` (splib07 ASCII), :func:`read_envi_sli` (ENVI spectral library), :func:`read_csv_library`
(CSV), and ``load_library(path)`` for any of them (or an HDF5 file in one of the two layouts above).

Libraries are parsed once per process (cached on the resolved file and the options); the arrays of a returned
library are read-only, so share it freely and copy before modifying.
"""
from __future__ import annotations

import csv
import functools
import io
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core.errors import FormatError, HeaderError, InputError, LibraryError, WavelengthError
from ..core.types import SpectralLibrary
from ..core.units import check_wavelengths, normalise_unit, to_nanometers
from ..core.vocabulary import is_mixture, mineral_name
from ..preprocess.resample import resample

__all__ = ["COMMON_GRID_NM", "LIBRARY_FILES", "increasing_bands", "list_libraries", "load_library",
           "read_csv_library", "read_envi_sli", "read_usgs_ascii", "spectral_libs_dir", "usgs_physical_sample"]

USGS_DELETED = -1.23e34
"""splib07 marks deleted channels with -1.23e34."""

COMMON_GRID_NM = np.arange(350.0, 2501.0, 1.0)
"""The ``usgs_splib07`` common grid: 350-2500 nm at 1 nm (ASD's grid), 2151 bands."""
COMMON_GRID_NM.setflags(write=False)

NIC4_FWHM_ON_GRID = 2.0
"""FWHM (nm) of the Gaussian that puts Nicolet spectra onto the 1 nm common grid (anti-aliasing)."""

LIBRARY_FILES: dict[str, str] = {
    "usgs_splib07": "usgs_splib07/usgs_splib07a_minerals.h5",
    "usgs_artefacts": "usgs_artefacts/usgs_splib07b_av95_artefacts.h5",
    "usgs_supplement": "usgs_supplement/usgs_splib07b_av95_supplement.h5",
}
"""Bundled library id -> file, relative to :func:`spectral_libs_dir`."""

_SPLIB07_GROUPS = ("ASD", "BECK", "NIC4")
_INSTRUMENT_TOKEN = re.compile(r"^(ASDFR|ASDNG|ASDHR|ASD|BECK|NIC4|AVIRIS)([a-z]*)$")


# --------------------------------------------------------------------------- locating bundled libraries

def spectral_libs_dir() -> Path:
    """The folder holding hsimin's bundled spectral libraries.

    Looked for in this order: ``$HSIMIN_SPECTRAL_LIBS``; ``hsimin/_spectral_libs`` (inside an installed wheel);
    ``<repository>/spectral_libs`` (an editable install or a source checkout).
    """
    env = os.environ.get("HSIMIN_SPECTRAL_LIBS")
    pkg = Path(__file__).resolve().parents[1]
    cands = ([Path(env)] if env else []) + [pkg / "_spectral_libs", pkg.parent / "spectral_libs"]
    for c in cands:
        if c.is_dir():
            return c
    raise LibraryError("hsimin's spectral_libs folder is missing (looked in "
                       + ", ".join(str(c) for c in cands)
                       + "); reinstall hsimin, or set HSIMIN_SPECTRAL_LIBS to the folder")


def list_libraries() -> list[str]:
    """Ids of the bundled libraries that are present, e.g. ``['usgs_artefacts', 'usgs_splib07']``."""
    try:
        root = spectral_libs_dir()
    except LibraryError:
        return []
    return sorted(k for k, rel in LIBRARY_FILES.items() if (root / rel).is_file())


# --------------------------------------------------------------------------- small helpers

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


def _parse_title(title: str) -> dict:
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


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def _grid_key(values):
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64).ravel()
    return tuple(float(x) for x in v)


# --------------------------------------------------------------------------- raw HDF5 files (cached)

@functools.lru_cache(maxsize=8)
def _read_splib07_h5(path: str, mtime_ns: int) -> dict:
    """Every group of a splib07 HDF5 file (layout of shared/data/spectral/usgs_splib07a_minerals.h5) as
    read-only numpy arrays: {group: {dataset: array}}."""
    import h5py
    out: dict = {"attrs": {}}
    try:
        with h5py.File(path, "r") as f:
            out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            for g in f:
                if not isinstance(f[g], h5py.Group):
                    continue
                grp = {}
                for k, ds in f[g].items():
                    if h5py.check_string_dtype(ds.dtype):
                        grp[k] = np.asarray(ds.asstr()[:], dtype=object)
                    else:
                        grp[k] = _readonly(ds[:])
                out[g] = grp
    except OSError as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path=path) from None
    return out


@functools.lru_cache(maxsize=8)
def _read_flat_h5(path: str, mtime_ns: int) -> dict:
    """A flat library HDF5 (layout of usgs_splib07b_cvAVIRIS1995.h5: wavelength_nm, fwhm_nm, reflectance,
    title...) as read-only numpy arrays."""
    import h5py
    out = {}
    try:
        with h5py.File(path, "r") as f:
            for k, ds in f.items():
                if not isinstance(ds, h5py.Dataset):
                    continue
                out[k] = (np.asarray(ds.asstr()[:], dtype=object) if h5py.check_string_dtype(ds.dtype)
                          else _readonly(ds[:]))
            out["_attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path=path) from None
    return out


@functools.lru_cache(maxsize=32)
def _h5_layout_cached(path: str, mtime_ns: int) -> str:
    return _h5_layout(Path(path))


def _h5_layout(path: Path) -> str:
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if any(g in f and isinstance(f[g], h5py.Group) and "reflectance" in f[g] for g in _SPLIB07_GROUPS):
                return "splib07"
            if "reflectance" in f and "wavelength_nm" in f:
                return "flat"
    except OSError as exc:
        raise FormatError(f"not a readable HDF5 file ({exc})", path=path) from None
    raise FormatError("HDF5 file is not a spectral library hsimin knows: want groups ASD/BECK/NIC4 each with "
                      "'reflectance' and 'wavelength_nm' (splib07 layout), or top-level 'reflectance' (N, B) and "
                      "'wavelength_nm' (B,) datasets", path=path)


# --------------------------------------------------------------------------- building libraries

def _splib07_library(path: Path, instruments, wavelengths, fwhm) -> SpectralLibrary:
    raw = _read_splib07_h5(str(path), path.stat().st_mtime_ns)
    groups = [g for g in _SPLIB07_GROUPS if g in raw]
    if not groups:
        raise FormatError("no ASD/BECK/NIC4 groups in this splib07 file", path=path)
    on_grid = wavelengths is None
    target = COMMON_GRID_NM if on_grid else check_wavelengths(wavelengths, what="wavelengths")
    tfwhm = None if fwhm is None else np.asarray(fwhm, dtype=np.float64)
    blocks, cols = [], {k: [] for k in ("name", "mineral", "sample", "usgs_sample_id", "purity", "instrument",
                                        "mtype", "title", "record", "mixture")}
    for g in groups:
        G = raw[g]
        instr = G["instrument"].astype(str)
        take = np.ones(instr.size, bool)
        if instruments is not None:
            take = np.isin(instr, instruments) | (g in instruments)
        if not take.any():
            continue
        wl = G["wavelength_nm"].astype(np.float64)
        R = G["reflectance"]
        S = np.full((int(take.sum()), target.size), np.nan)
        idx = np.flatnonzero(take)
        for variant in np.unique(instr[idx]):
            rows = idx[instr[idx] == variant]
            dst = np.flatnonzero(np.isin(idx, rows))
            src_fwhm = G.get(f"fwhm_nm_{variant}")
            src_fwhm = None if src_fwhm is None else src_fwhm.astype(np.float64)
            X = R[rows].astype(np.float64)
            if on_grid:
                if g == "ASD" and wl.size == target.size and np.allclose(wl, target):
                    S[dst] = X
                elif g == "NIC4":
                    S[dst] = resample(X, wl, target, NIC4_FWHM_ON_GRID, source_fwhm=src_fwhm)
                else:
                    S[dst] = resample(X, wl, target, None)
            else:
                S[dst] = resample(X, wl, target, tfwhm, source_fwhm=src_fwhm if tfwhm is not None else None)
        blocks.append(S)
        names = G["name"].astype(str)[idx]
        cols["name"].extend(names)
        cols["mineral"].extend(mineral_name(n) for n in names)
        usid = G["sample_id"].astype(str)[idx]
        cols["usgs_sample_id"].extend(usid)
        cols["sample"].extend(usgs_physical_sample(s) for s in usid)
        cols["purity"].extend(G["purity"].astype(str)[idx])
        cols["instrument"].extend(instr[idx])
        cols["mtype"].extend(G["mtype"].astype(str)[idx])
        cols["title"].extend(" ".join(t.split()) for t in G["title"].astype(str)[idx])
        cols["record"].extend(int(r) for r in G["record"][idx])
        cols["mixture"].extend(is_mixture(n) for n in names)
    if not blocks:
        raise LibraryError(f"no spectra from instruments {list(instruments)}; this library has "
                           f"{sorted(set(np.concatenate([raw[g]['instrument'].astype(str) for g in groups])))} "
                           f"(groups {groups})", path=path)
    attrs = raw.get("attrs", {})
    source = ("usgs_splib07: USGS Spectral Library Version 7 (splib07a), chapter M minerals; Kokaly et al. 2017, "
              "USGS Data Series 1035, doi:10.3133/ds1035 (public domain); "
              + ("common 1 nm grid 350-2500 nm" if on_grid else f"resampled per instrument to {target.size} bands"))
    if attrs.get("source"):
        source += f"; via {attrs['source']}"
    return SpectralLibrary(np.vstack(blocks), target, cols["name"], cols["mineral"], source, cols["sample"],
                           None if on_grid else tfwhm,
                           {"purity": cols["purity"], "instrument": cols["instrument"], "mtype": cols["mtype"],
                            "title": cols["title"], "usgs_sample_id": cols["usgs_sample_id"],
                            "record": cols["record"], "is_mixture": cols["mixture"]})


def _flat_library(path: Path, source_id: str | None, wavelengths, fwhm) -> SpectralLibrary:
    raw = _read_flat_h5(str(path), path.stat().st_mtime_ns)
    wl = np.asarray(raw["wavelength_nm"], dtype=np.float64)
    keep = increasing_bands(wl)
    wl = wl[keep]
    R = np.asarray(raw["reflectance"], dtype=np.float64)[:, keep]
    fw = raw.get("fwhm_nm")
    fw = None if fw is None else np.asarray(fw, dtype=np.float64)[keep]
    N = R.shape[0]
    titles = ([" ".join(str(t).split()) for t in raw["title"]] if "title" in raw
              else [str(n) for n in raw.get("name", [f"spectrum_{i}" for i in range(N)])])
    parsed = [_parse_title(t) for t in titles]
    names = [p["name"] or t for p, t in zip(parsed, titles)]
    minerals = [mineral_name(t) for t in titles]
    samples = [usgs_physical_sample(p["sample_id"] or p["name"]) for p in parsed]
    instr = [str(x) for x in raw["instrument"]] if "instrument" in raw else [p["instrument"] for p in parsed]
    attrs = {"purity": [p["purity"] for p in parsed], "instrument": instr, "mtype": [p["mtype"] for p in parsed],
             "title": titles, "usgs_sample_id": [p["sample_id"] for p in parsed],
             "is_mixture": [is_mixture(t) for t in titles]}
    meta = raw.get("_attrs", {})
    source = f"{source_id or path.name}: " + str(meta.get("title") or path.name)
    if meta.get("citation"):
        source += f"; {meta['citation']}"
    lib = SpectralLibrary(R, wl, names, minerals, source, samples, fw, attrs)
    if wavelengths is not None:
        from ..preprocess.resample import resample_library
        lib = resample_library(lib, wavelengths, fwhm, source_fwhm=fw if fwhm is not None else None)
    return lib


def _filter(lib: SpectralLibrary, purity, include_mixtures, wavelength_range, min_coverage,
            minerals) -> SpectralLibrary:
    keep = np.ones(len(lib), bool)
    if purity is not None:
        allowed = set(str(purity).lower())
        pur = lib.attrs.get("purity")
        if pur is None:
            raise LibraryError("this library has no purity column, so purity= cannot filter it")
        keep &= np.array([bool(p) and set(str(p).lower()) <= allowed for p in pur])
    if not include_mixtures and "is_mixture" in lib.attrs:
        keep &= ~np.asarray(lib.attrs["is_mixture"], dtype=bool)
    if minerals is not None:
        want = {mineral_name(m) for m in _as_tuple(minerals)}
        keep &= np.isin(np.asarray(lib.minerals, dtype=object), list(want))
    wl = lib.wavelengths
    band = np.ones(wl.size, bool)
    if wavelength_range is not None:
        lo, hi = (float(v) for v in wavelength_range)
        if not lo < hi:
            raise InputError(f"wavelength_range must be (low, high) in nm with low < high, got {wavelength_range}")
        band = (wl >= lo) & (wl <= hi)
        if not band.any():
            raise InputError(f"wavelength_range {lo:g}-{hi:g} nm holds none of the library's bands "
                             f"({wl[0]:g}-{wl[-1]:g} nm)")
    if min_coverage:
        if not 0.0 <= float(min_coverage) <= 1.0:
            raise InputError(f"min_coverage must be a fraction in [0, 1], got {min_coverage}")
        keep &= np.isfinite(lib.spectra[:, band]).mean(axis=1) >= float(min_coverage)
    out = lib if keep.all() else lib.subset(keep)
    if not band.all():
        out = SpectralLibrary(out.spectra[:, band], wl[band], out.names, out.minerals, out.source, out.sample_ids,
                              None if out.fwhm is None else out.fwhm[band], out.attrs)
    return out


def _freeze(lib: SpectralLibrary) -> SpectralLibrary:
    for a in (lib.spectra, lib.wavelengths, lib.fwhm):
        if a is not None:
            a.setflags(write=False)
    return lib


@functools.lru_cache(maxsize=32)
def _load_cached(kind: str, path: str, mtime_ns: int, source_id, instruments, purity, include_mixtures,
                 wavelength_range, min_coverage, minerals, wavelengths, fwhm) -> SpectralLibrary:
    p = Path(path)
    wl = None if wavelengths is None else np.asarray(wavelengths)
    fw = None if fwhm is None else np.asarray(fwhm)
    if kind == "splib07":
        lib = _splib07_library(p, instruments, wl, fw)
    elif kind == "flat":
        lib = _flat_library(p, source_id, wl, fw)
    elif kind == "sli":
        lib = read_envi_sli(p)
    elif kind == "csv":
        lib = read_csv_library(p)
    else:  # pragma: no cover - guarded by the caller
        raise LibraryError(f"unknown library kind {kind!r}")
    if kind in ("sli", "csv") and wl is not None:
        from ..preprocess.resample import resample_library
        lib = resample_library(lib, wl, fw)
    if kind != "splib07" and instruments is not None and "instrument" in lib.attrs:
        inst = [str(i).upper() for i in lib.attrs["instrument"]]
        m = np.array([any(i.startswith(x) for x in instruments) for i in inst], dtype=bool)
        lib = lib.subset(m)
    lib = _filter(lib, purity, include_mixtures, wavelength_range, min_coverage, minerals)
    return _freeze(lib)


def load_library(id: str | os.PathLike = "usgs_splib07", *, instruments: Sequence[str] | str | None = None,
                 purity: str | None = None, include_mixtures: bool = False,
                 wavelength_range: tuple[float, float] | None = None, min_coverage: float = 0.0,
                 minerals: Sequence[str] | str | None = None, wavelengths=None, fwhm=None) -> SpectralLibrary:
    """A spectral library as a :class:`~hsimin.core.SpectralLibrary` (spectra (N, B) reflectance 0-1, NaN =
    no data; wavelengths (B,) nm).

    Parameters
    ----------
    id : a bundled library id (see :func:`list_libraries`: ``'usgs_splib07'``, ``'usgs_artefacts'``) or a path to
        a library file: ``.h5`` (splib07 or flat layout, see the module doc), ``.sli``/``.hdr`` (ENVI spectral
        library), ``.csv``/``.txt``/``.tsv`` (see :func:`read_csv_library`).
    instruments : keep only these instruments or instrument groups, e.g. ``('ASD',)`` (ASDFR, ASDNG, ASDHR),
        ``('ASD', 'BECK')`` or ``'NIC4'``. Default: all.
    purity : keep spectra whose USGS purity letters are all in this string: ``'a'`` (purest), ``'ab'``...
        (a Nicolet purity such as ``'aau'`` has one letter per wavelength region; ``u`` = not assessed).
    include_mixtures : keep spectra whose names describe mixtures or coatings (default False).
    wavelength_range : (low, high) nm: keep only the bands inside (inclusive).
    min_coverage : keep only spectra with at least this fraction of finite values over the kept bands
        (``min_coverage=1`` with ``wavelength_range=(1000, 2500)``: spectra that fully cover a SWIR scanner).
    minerals : keep only these vocabulary names (any name :func:`~hsimin.core.vocabulary.mineral_name` maps).
    wavelengths, fwhm : (T,) nm: resample the library to these bands on load (Gaussian when ``fwhm`` is given,
        linear interpolation otherwise; for ``usgs_splib07`` each instrument from its native grid with the
        effective width sqrt(fwhm² − instrument FWHM²)). The result's ``fwhm`` is ``fwhm``.

    The result is cached per process (same file and options -> the same object); its arrays are read-only.
    """
    instruments = _as_tuple(instruments)
    if instruments is not None:
        instruments = tuple(str(i).upper() for i in instruments)
    minerals_t = _as_tuple(minerals)
    key_opts = dict(instruments=instruments, purity=None if purity is None else str(purity),
                    include_mixtures=bool(include_mixtures),
                    wavelength_range=None if wavelength_range is None else tuple(float(v) for v in wavelength_range),
                    min_coverage=float(min_coverage or 0.0), minerals=minerals_t,
                    wavelengths=_grid_key(wavelengths), fwhm=_grid_key(fwhm))
    if fwhm is not None and wavelengths is None:
        raise InputError("fwhm= needs wavelengths= (the band centres the widths belong to)")
    if isinstance(id, str) and id in LIBRARY_FILES:
        p = spectral_libs_dir() / LIBRARY_FILES[id]
        if not p.is_file():
            raise LibraryError(f"the bundled library {id!r} is missing its file; reinstall hsimin", path=p)
        source_id = id
    else:
        p = Path(id)
        if not p.exists():
            if isinstance(id, str) and os.sep not in id and "." not in id:
                raise LibraryError(f"no library {id!r}; bundled libraries: {', '.join(list_libraries()) or 'none'}"
                                   ", or give a path to a .h5, .sli/.hdr or .csv library file")
            raise LibraryError("no such library file", path=p)
        source_id = None
    kind = _kind(p)
    p = p.resolve()
    return _load_cached(kind, str(p), p.stat().st_mtime_ns, source_id, **key_opts)


def _kind(p: Path) -> str:
    ext = p.suffix.lower()
    if ext in (".h5", ".hdf5", ".he5"):
        r = p.resolve()
        return _h5_layout_cached(str(r), r.stat().st_mtime_ns)
    if ext in (".sli", ".hdr"):
        return "sli"
    if ext in (".csv", ".tsv", ".txt"):
        return "csv"
    raise LibraryError("cannot tell the library format from the extension; use .h5, .sli/.hdr (ENVI spectral "
                       "library) or .csv", path=p)


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
    parsed = [_parse_title(t) for t in titles]
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
    """Read an ENVI spectral library (``.hdr`` + ``.sli``) with SPy (``spectral.io.envi.open``).

    Uses ``spectra names``, ``wavelength`` with ``wavelength units`` (nm, µm, cm-1; inferred from magnitude when
    missing), ``fwhm``, ``reflectance scale factor`` and ``data ignore value``; values at or below -1e30 (USGS
    deleted channels) become NaN. Non-increasing wavelengths are put in order (``overlap``, see
    :func:`increasing_bands`). Names map to minerals with :func:`~hsimin.core.vocabulary.mineral_name`.
    """
    import spectral.io.envi as envi
    p = Path(path)
    hdr = p if p.suffix.lower() == ".hdr" else p.with_suffix(".hdr")
    if not hdr.is_file():
        raise FormatError("ENVI spectral library header (.hdr) not found beside it", path=hdr)
    try:
        h = envi.read_envi_header(str(hdr))
    except Exception as exc:  # noqa: BLE001 - SPy raises several types for bad headers
        raise HeaderError(f"cannot parse the ENVI header ({exc})", path=hdr) from None
    h = {str(k).lower(): v for k, v in h.items()}
    if "spectral library" not in str(h.get("file type", "")).lower():
        raise FormatError(f"not an ENVI spectral library (file type = {h.get('file type')!r}); use "
                          "hsimin.open_cube for image cubes", path=hdr)
    for k in ("samples", "lines", "data type"):
        if k not in h:
            raise HeaderError(f"the header has no '{k}'", path=hdr)
    data_file = p if p.suffix.lower() != ".hdr" else None
    try:
        lib = envi.open(str(hdr), None if data_file is None else str(data_file))
        B, N = int(h["samples"]), int(h["lines"])
        offset = int(float(h.get("header offset", 0) or 0))
        if offset:
            raw = np.fromfile(lib.params.filename, dtype=lib.params.dtype, count=N * B, offset=offset)
            S = raw.reshape(N, B)
        else:
            S = np.asarray(lib.spectra)
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read the ENVI spectral library ({exc})", path=hdr) from None
    except Exception as exc:  # noqa: BLE001 - SPy's file-not-found and format errors
        raise FormatError(f"cannot read the ENVI spectral library ({type(exc).__name__}: {exc})", path=hdr) from None
    if S.shape != (N, B):
        raise FormatError(f"the data file holds {S.size} values, the header says {N} x {B}", path=hdr)
    S = S.astype(np.float64)
    S[S <= -1e30] = np.nan
    ignore = h.get("data ignore value")
    if ignore is not None:
        try:
            S[S == float(ignore)] = np.nan
        except ValueError:
            pass
    scale = h.get("reflectance scale factor")
    if scale is not None:
        try:
            s = float(scale)
        except ValueError:
            raise HeaderError(f"reflectance scale factor {scale!r} is not a number", path=hdr) from None
        if s > 0 and s != 1.0:
            S = S / s
    if "wavelength" not in h:
        raise WavelengthError("the ENVI spectral library has no 'wavelength' list; hsimin needs band centres",
                              path=hdr)
    try:
        wl_vals = [float(w) for w in h["wavelength"]]
    except (TypeError, ValueError):
        raise WavelengthError("the 'wavelength' list holds values that are not numbers", path=hdr) from None
    if len(wl_vals) != B:
        raise WavelengthError(f"the header lists {len(wl_vals)} wavelengths for {B} bands", path=hdr)
    unit = h.get("wavelength units")
    try:
        wl = to_nanometers(wl_vals, normalise_unit(unit) if unit else None)
    except WavelengthError as exc:
        raise WavelengthError(exc.message, path=hdr) from None
    fw = None
    if "fwhm" in h:
        try:
            fw_vals = np.array([float(f) for f in h["fwhm"]])
        except (TypeError, ValueError):
            raise HeaderError("the 'fwhm' list holds values that are not numbers", path=hdr) from None
        if fw_vals.size == B:
            canon = (normalise_unit(unit) if unit else None) or ("um" if np.nanmax(wl_vals) < 30 else "nm")
            fw = fw_vals * {"nm": 1.0, "um": 1000.0, "mm": 1.0e6}.get(canon, np.nan)
            if canon == "cm-1":
                fw = None  # a width in wavenumbers has no single nm value
    keep = increasing_bands(wl, overlap)
    names = h.get("spectra names")
    if names is None or len(names) != N:
        names = [f"spectrum_{i + 1}" for i in range(N)]
    names = [" ".join(str(n).split()) for n in names]
    parsed = [_parse_title(n) for n in names]
    return SpectralLibrary(S[:, keep], wl[keep], names, [mineral_name(n) for n in names],
                           f"ENVI spectral library {hdr.name}" + (f": {h['description']}" if h.get("description") else ""),
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
                           [usgs_physical_sample(_parse_title(n)["sample_id"] or n) for n in names], None,
                           {"title": names, "is_mixture": [is_mixture(n) for n in names]})
