"""Spectral libraries: the bundled USGS splib07 minerals and tray artefacts, and ``load_library`` for any library
(the readers of library files are in :mod:`hsimin.io.library_files`).

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

import functools
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import FormatError, InputError, LibraryError
from ..core.types import SpectralLibrary
from ..core.units import check_wavelengths
from ..core.vocabulary import is_mixture, mineral_name
from ..preprocess.resample import resample
from .library_files import (increasing_bands, parse_usgs_title, read_csv_library, read_envi_sli,
                            read_usgs_ascii, usgs_physical_sample)

__all__ = ["COMMON_GRID_NM", "LIBRARY_FILES", "increasing_bands", "list_libraries", "load_library",
           "read_csv_library", "read_envi_sli", "read_usgs_ascii", "spectral_libs_dir", "usgs_physical_sample"]

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
    parsed = [parse_usgs_title(t) for t in titles]
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



