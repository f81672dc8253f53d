"""hsimin's bundled sample data: a small SWIR core-tray scan built from real USGS spectra, with its truth.

``data/sample_tray.hdr`` (+ ``.img``) is an ENVI cube, 320 lines x 64 samples x 270 bands (1000-2500 nm,
FWHM 10 nm), uint16 BIL with ``reflectance scale factor = 10000``, laid out like a Specim SWIR scan of a core
tray: four core sticks running down the lines, black-plastic tray floor and dividers, broken-core gaps. Every
core pixel is a real USGS splib07 spectrum (:data:`TRAY_SPECTRA`) with a second tray mineral mixed in (0-30 %),
brightness, slope and noise; ``data/sample_tray_truth.h5`` holds the per-pixel dominant mineral
(:class:`~hsimin.core.MineralMap`, -1 on tray, gaps and stick-edge pixels). ``scripts/make_sample_tray.py``
made both; ``data/sample_tray_README.md`` says exactly how.

The USGS samples used (:data:`TRAY_SAMPLE_IDS`, physical-sample ids as in
``hsimin.load_library('usgs_splib07').sample_ids``) must be held out of anything evaluated on this tray.

``data/hylogger/`` holds four real HyLogger scans as CSIRO TSG packages (three HyLogger-3 chip holes, SWMB007d,
SWMB008d, SWMB007s, and 222 HyLogger-4 test rocks, GSNSW_testrocks), with TSG's own interpretation (TSA) inside:
:func:`hylogger_path` finds one. They are for reading, demos and **validation only** (see their PROVENANCE.md).

This module only locates files: it imports nothing beyond the standard library.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["HYLOGGER_SETS", "TRAY_MINERALS", "TRAY_SAMPLE_IDS", "TRAY_SPECTRA", "data_dir", "hylogger_path",
           "tray_path", "tray_sample_ids", "truth_path"]

HYLOGGER_SETS: dict[str, str] = {
    "SWMB007d": "SWMB007d/SWMB007d_chips_tsg.tsg",
    "SWMB008d": "SWMB008d/SWMB008d_chips_tsg.tsg",
    "SWMB007s": "SWMB007s/SWMB007s_chips_tsg.tsg",
    "GSNSW_testrocks": "GSNSW_testrocks/HL4_testrocks_tsg.tsg",
}
"""The bundled HyLogger TSG packages: set name -> its NIR-SWIR ``.tsg`` under ``data/hylogger/``."""

TRAY_SPECTRA: tuple[tuple[str, str, str, str], ...] = (
    # (vocabulary mineral, USGS splib07a spectrum name, instrument, physical sample id)
    ("kaolinite", "Kaolinite_KGa-2_(pxl)", "ASDNG", "KGA-2"),
    ("kaolinite", "Kaolinite_CM5", "BECK", "CM5"),
    ("white_mica", "Muscovite_HS146.3B", "ASDFR", "HS146"),
    ("white_mica", "Illite_IMt-1.b_lt2um", "ASDNG", "IMT-1"),
    ("smectite", "Montmorillonite_SWy-1", "ASDNG", "SWY-1"),
    ("smectite", "Montmorillonite_CM27", "BECK", "CM27"),
    ("chlorite", "Chlorite_HS179.3B", "ASDFR", "HS179"),
    ("chlorite", "Clinochlore_GDS158_Flagstaff", "ASDNG", "GDS158"),
    ("epidote", "Epidote_GDS301_75-150um", "ASDFR", "GDS301"),
    ("calcite", "Calcite_GDS304_75-150um", "ASDFR", "GDS304"),
    ("calcite", "Calcite_HS48.3B", "BECK", "HS48"),
    ("dolomite", "Dolomite_COD2005", "BECK", "COD2005"),
    ("talc", "Talc_HS21.3B", "ASDFR", "HS21"),
    ("serpentine", "Chrysotile_HS323.1B", "ASDNG", "HS323"),
    ("serpentine", "Lizardite_NMNHR4687.b_165um", "BECK", "NMNHR4687"),
    ("gypsum", "Gypsum_SU2202", "BECK", "SU2202"),
)
"""The real spectra planted in the sample tray, one or two USGS samples (purity a or b) per mineral."""

TRAY_MINERALS: tuple[str, ...] = tuple(dict.fromkeys(m for m, _, _, _ in TRAY_SPECTRA))
"""The tray's classes, in the order of the truth map's ``classes``."""

TRAY_SAMPLE_IDS: tuple[str, ...] = tuple(sorted({s for _, _, _, s in TRAY_SPECTRA}))
"""Physical-sample ids (``SpectralLibrary.sample_ids`` of ``usgs_splib07``) of every spectrum in the tray.
Every spectrum of these samples (all grain sizes, all instruments) must be left out of training and of any
library that a result on the tray is reported with."""


def data_dir() -> Path:
    """Folder of the bundled sample files."""
    return Path(__file__).resolve().parent / "data"


def tray_path() -> Path:
    """The sample tray's ENVI header (``sample_tray.hdr``); open it with ``hsimin.open_cube``."""
    return data_dir() / "sample_tray.hdr"


def truth_path() -> Path:
    """The sample tray's per-pixel truth (``sample_tray_truth.h5``); open it with ``hsimin.open_map``."""
    return data_dir() / "sample_tray_truth.h5"


def tray_sample_ids() -> tuple[str, ...]:
    """:data:`TRAY_SAMPLE_IDS`: the USGS physical samples the sample tray is made of."""
    return TRAY_SAMPLE_IDS


def hylogger_path(name: str = "SWMB007d", spectral_range: str = "nir") -> Path:
    """The ``.tsg`` file of a bundled HyLogger package (:data:`HYLOGGER_SETS`): its NIR-SWIR pair, or with
    ``spectral_range`` ``'tir'``/``'mir'`` its thermal or mid-IR pair. Open it with ``hsimin.open_cube``."""
    if name not in HYLOGGER_SETS:
        raise KeyError(f"no bundled HyLogger package {name!r}; choose one of {', '.join(HYLOGGER_SETS)}")
    p = data_dir() / "hylogger" / HYLOGGER_SETS[name]
    if spectral_range == "nir":
        return p
    if spectral_range not in ("tir", "mir"):
        raise ValueError(f"spectral_range must be 'nir', 'tir' or 'mir', got {spectral_range!r}")
    return p.with_name(f"{p.stem}_{spectral_range}.tsg")
