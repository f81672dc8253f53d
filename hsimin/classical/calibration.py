"""How well each mineral's SWIR fit explains a scanner spectrum of that mineral: the floor below which a fit names
no mineral (``unknown``).

Why per mineral
---------------
The SWIR interpretation (:class:`hsimin.classical.swir.SwirInterpreter`) calls a spectrum ``unknown`` when its
best fit explains too little of it: one global floor (``min_r2``, 0.45) lets through almost any spectrum with a
feature near a library mineral's, so a mineral the references do not hold is named after its nearest neighbour
(the open-set test of ``benchmarks/realdata_bench.py``). How well a mineral's references explain a real spectrum
of it differs from mineral to mineral: sharp, simple features (kaolinite's doublet, carbonate's 2330 nm band)
are fitted closely through water, mixing and noise; broad or variable ones (smectite, jarosite, gypsum) less so.
The floor is therefore a property of each mineral: the ``FIT_R2_PERCENTILE`` th percentile of the fit's r2 over
simulated scanner spectra of it (:func:`hsimin.classical.simulate.simulate_scanner_spectra`: real USGS splib07
spectra of the mineral mixed with a second mineral and a SWIR-inactive diluent, with molecular water, brightness,
slope and noise at scanner SNR) that the interpretation, without these floors, answers with the mineral's group.
A fit worse than that of 95 % of the mineral's own scanner-like spectra is not taken as the mineral.

The floors are computed once, by ``scripts/make_fit_floors.py`` (:func:`fit_r2_floors`, seeded: the same numbers
every run), on the HyLogger band grid at the interpretation's common resolution, and shipped as
``hsimin/classical/data/swir_fit_r2_floors.json`` with the parameters that made them. Real scanner spectra (the
HyLogger packages) are not used: they stay validation data. A mineral with fewer than ``MIN_SPECTRA`` correctly
answered simulated spectra has no floor of its own (the global ``min_r2`` applies), as has any reference name a
user's library adds.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

__all__ = ["CALIBRATION", "FIT_R2_PERCENTILE", "FLOORS_PATH", "MIN_SPECTRA", "default_fit_r2_floors",
           "fit_r2_floors"]

FIT_R2_PERCENTILE = 5.0
"""The percentile of a mineral's simulated scanner spectra's r2 that is its floor."""

MIN_SPECTRA = 50
"""Fewest correctly answered simulated spectra a mineral needs for a floor of its own."""

CALIBRATION = {"library": "usgs_splib07", "n": 40000, "seed": 20261204, "grid_nm": [1300.0, 2480.0, 4.0],
               "fwhm_nm": 11.0, "max_dilution": 0.9, "max_water": 0.8}
"""The simulated spectra the shipped floors come from: the library, how many, the seed, the band grid (start, stop,
step; the HyLogger-3 SWIR grid), its FWHM, and the degradations (those of the shipped model's training data,
``configs/default_model.toml``)."""

FLOORS_PATH = Path(__file__).resolve().parent / "data" / "swir_fit_r2_floors.json"


def fit_r2_floors(*, library: str = CALIBRATION["library"], n: int = CALIBRATION["n"],
                  seed: int = CALIBRATION["seed"], grid_nm=CALIBRATION["grid_nm"],
                  fwhm_nm: float = CALIBRATION["fwhm_nm"], max_dilution: float = CALIBRATION["max_dilution"],
                  max_water: float = CALIBRATION["max_water"], percentile: float = FIT_R2_PERCENTILE,
                  min_spectra: int = MIN_SPECTRA) -> dict:
    """Per-mineral r2 floors from ``n`` simulated scanner spectra (see the module docstring).

    Returns ``{"floors": {mineral: r2}, "spectra": {mineral: correctly answered spectra}, "parameters": {...}}``
    (JSON-able; floors rounded to 4 decimals)."""
    from ..core.vocabulary import answer_group
    from ..io.libraries import load_library
    from .references import reference_library
    from .simulate import simulate_scanner_spectra
    from .swir import STATUS_OK, SwirInterpreter
    start, stop, step = (float(v) for v in grid_nm)
    wl = np.arange(start, stop + step / 2, step)
    fw = np.full(wl.size, float(fwhm_nm))
    sim = simulate_scanner_spectra(load_library(library), int(n), seed=int(seed), sensor_wavelengths=wl,
                                   sensor_fwhm=fw, max_dilution=float(max_dilution), max_water=float(max_water))
    # the interpretation as it is without floors: the floors must not decide their own calibration
    answers = SwirInterpreter(reference_library(library=library), wl, fw, fit_floors=None).interpret(
        np.asarray(sim.spectra, np.float32))
    min1 = answers.names("min1")
    primary = np.asarray(sim.primary, dtype=object)
    right = (answers.status == STATUS_OK) & np.array([answer_group(a) == answer_group(p) for a, p in zip(min1,
                                                                                                      primary)])
    floors, counts = {}, {}
    for m in sorted(set(min1[right])):
        r2 = answers.r2[right & (min1 == m)].astype(np.float64)
        counts[m] = int(r2.size)
        if r2.size >= min_spectra:
            floors[m] = round(float(np.percentile(r2, percentile)), 4)
    params = {"library": library, "n": int(n), "seed": int(seed), "grid_nm": [start, stop, step],
              "fwhm_nm": float(fwhm_nm), "max_dilution": float(max_dilution), "max_water": float(max_water),
              "percentile": float(percentile), "min_spectra": int(min_spectra)}
    return {"floors": floors, "spectra": counts, "parameters": params}


@functools.lru_cache(maxsize=1)
def _shipped() -> dict:
    with open(FLOORS_PATH, encoding="utf-8") as f:
        return json.load(f)


def default_fit_r2_floors() -> dict[str, float]:
    """The shipped per-mineral r2 floors (``{mineral: r2}``, see the module docstring)."""
    return dict(_shipped()["floors"])
