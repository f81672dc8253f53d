"""Scanner-like spectra from library spectra: what real core and chips have that a clean library lacks.

A USGS library spectrum is one pure mineral, dry, measured in a lab at high SNR. A scanner sees a pixel or a chip
that is a mixture (a second SWIR-active mineral; quartz, feldspar or dark material that carries no SWIR feature
and dilutes the features of the others), holds molecular water (bound and pore water at ~1410-1460 and
~1910-1950 nm), is brighter or darker and tilted by the illumination, and is measured through the scanner's own
band responses with its noise. :func:`simulate_scanner_spectra` builds such spectra from real library spectra,
with every quantity it draws returned, so an identification method (or a model) can be tested, or trained, on
what it will meet, and its answers scored against what was planted.

The model, per spectrum (reflectance on the library's 1 nm grid, then convolved to the sensor's bands)::

    R = ( (1 - f2 - fa) * r1 + f2 * r2 + fa * ra )        areal (linear) mixing, or, with probability p_intimate,
    R = r1 ** (1 - f2 - fa) * r2 ** f2 * ra ** fa          intimate mixing (linear in absorbance)
    R *= exp(-sum_k w_k * g_k(λ))                         molecular water: Gaussian absorbances near 1415, 1455,
                                                          1915, 1945 nm (centre, width and depth drawn)
    R *= b * (1 + s * t(λ))                               brightness b, continuum slope s, t from -1 to +1
    R_sensor = bands(R) + N(0, sqrt((mean R / snr)² + floor²))

``r1`` is a SWIR-active mineral (the answer), ``r2`` an optional second mineral of another class with
``f2 <= f_max2`` (default 0.5, so ``r1`` stays dominant by abundance), ``ra`` a spectrum of an SWIR-inactive
material (quartz, feldspar, garnet, pyroxene, olivine, iron oxides; or a dark one) with ``fa`` drawn up to
``max_dilution``. A share of the spectra are **aspectral** (``r1`` is an inactive material, no SWIR-active
mineral at all) and, optionally, **artefacts** (a tray material). numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import SpectralLibrary

__all__ = ["INACTIVE_MINERALS", "SimulatedSpectra", "WATER_BANDS", "simulate_scanner_spectra", "water_absorbance"]

INACTIVE_MINERALS = ("quartz", "feldspar", "garnet", "pyroxene", "olivine", "goethite", "hematite", "magnetite",
                     "chert", "anhydrite", "ilmenite", "chromite", "rutile", "cassiterite", "zircon", "pyrite")
"""Materials without a diagnostic SWIR (1300-2500 nm) feature: diluents and the 'aspectral' answers."""

WATER_BANDS = ((1415.0, 15.0, 60.0, 25.0), (1455.0, 15.0, 110.0, 30.0), (1915.0, 10.0, 70.0, 20.0),
               (1945.0, 20.0, 130.0, 40.0))
"""Molecular water absorptions: (centre nm, centre spread, FWHM nm, FWHM spread) -- bound water near 1415/1915,
pore and adsorbed water broader and longer near 1455/1945."""


@dataclass(frozen=True)
class SimulatedSpectra:
    """Spectra made by :func:`simulate_scanner_spectra` and everything planted in them.

    spectra : (n, B) float32 reflectance on ``wavelengths``
    primary, secondary : (n,) str vocabulary names (``secondary`` '' when none; ``primary`` 'aspectral' for
        aspectral spectra and the artefact name for artefacts)
    fraction2, dilution : (n,) float64 abundances of the second mineral and the SWIR-inactive diluent
    water : (n,) float64 absorbance of the deepest water band planted
    snr : (n,) float64
    sample : (n,) str: the library sample the primary came from (hold it out of the references)
    """

    spectra: np.ndarray
    wavelengths: np.ndarray
    primary: np.ndarray
    secondary: np.ndarray
    fraction2: np.ndarray
    dilution: np.ndarray
    water: np.ndarray
    snr: np.ndarray
    sample: np.ndarray


def water_absorbance(wavelengths, depths: Sequence[float], centres: Sequence[float], widths: Sequence[float]
                     ) -> np.ndarray:
    """(B,) absorbance of Gaussian water bands (depth = absorbance at the centre, FWHM ``widths``, nm)."""
    wl = np.asarray(wavelengths, np.float64)
    out = np.zeros_like(wl)
    for d, c, w in zip(depths, centres, widths):
        out += d * np.exp(-4.0 * np.log(2.0) * ((wl - c) / w) ** 2)
    return out


def simulate_scanner_spectra(library: SpectralLibrary, n: int, *, seed: int = 0, sensor_wavelengths=None,
                             sensor_fwhm=None, active: Sequence[str] | None = None,
                             aspectral_fraction: float = 0.15, artefacts: SpectralLibrary | None = None,
                             artefact_fraction: float = 0.0, p_second: float = 0.5, max_fraction2: float = 0.5,
                             max_dilution: float = 0.7, max_water: float = 0.6, p_intimate: float = 0.3,
                             brightness: tuple[float, float] = (0.5, 1.3), max_slope: float = 0.15,
                             snr: tuple[float, float] = (150.0, 2000.0), noise_floor: float = 0.001,
                             exclude_samples: Sequence[str] = (), only_samples: Sequence[str] | None = None
                             ) -> SimulatedSpectra:
    """Scanner-like spectra built from a library's real spectra (see the module docstring).

    Parameters
    ----------
    library : the source spectra (a fine grid, e.g. ``load_library('usgs_splib07')`` at 1 nm); spectra with a gap
        over the sensor's range are not used
    n : number of spectra
    sensor_wavelengths, sensor_fwhm : the sensor's bands (nm); None: the library's own grid
    active : the SWIR-active minerals to draw primaries and second minerals from (default: every library
        mineral not in :data:`INACTIVE_MINERALS`)
    aspectral_fraction : share of aspectral spectra (an inactive material plus water and noise)
    artefacts, artefact_fraction : tray-material spectra and the share of spectra made of them
    p_second, max_fraction2 : probability of a second mineral and its largest abundance
    max_dilution, max_water, p_intimate, brightness, max_slope, snr, noise_floor : the degradations
    exclude_samples : library sample ids never used as primary (held-out evaluation: keep the references' samples
        out, or the other way round with ``only_samples``)
    only_samples : if given, primaries come only from these samples
    seed : seed of ``numpy.random.default_rng``

    Returns a :class:`SimulatedSpectra`.
    """
    from ..preprocess.resample import resample
    rng = np.random.default_rng(seed)
    wl = np.asarray(library.wavelengths, np.float64)
    S = np.asarray(library.spectra, np.float64)
    target = wl if sensor_wavelengths is None else np.asarray(sensor_wavelengths, np.float64)
    lo, hi = target.min() - 30.0, target.max() + 30.0
    span = (wl >= max(lo, wl.min())) & (wl <= min(hi, wl.max()))
    usable = np.isfinite(S[:, span]).all(axis=1) & (S[:, span] > 0).all(axis=1)
    minerals = np.asarray(library.minerals, dtype=object)
    samples = np.asarray(library.sample_ids if library.sample_ids is not None else library.names, dtype=object)
    mix = library.attrs.get("is_mixture")
    if mix is not None:
        usable &= ~np.asarray(mix, bool)
    inactive = np.isin(minerals, INACTIVE_MINERALS)
    act = usable & ~inactive if active is None else usable & np.isin(minerals, list(active))
    prim_ok = act & ~np.isin(samples, list(exclude_samples))
    if only_samples is not None:
        prim_ok &= np.isin(samples, list(only_samples))
    dil = np.flatnonzero(usable & inactive)
    prim = np.flatnonzero(prim_ok)
    second = np.flatnonzero(act)
    if prim.size == 0 or dil.size == 0:
        raise InputError("the library has no usable SWIR-active primary or no SWIR-inactive diluent spectrum")
    # draw primaries class-balanced: a mineral with 90 spectra is not 90 times as likely as one with 2
    classes = sorted(set(minerals[prim]))
    by_class = {c: prim[minerals[prim] == c] for c in classes}
    A = S[:, span]
    g = wl[span]
    n = int(n)
    out = np.empty((n, g.size))
    p1 = np.empty(n, dtype=object)
    p2 = np.full(n, "", dtype=object)
    f2 = np.zeros(n)
    fa = np.zeros(n)
    water = np.zeros(n)
    snr_v = np.exp(rng.uniform(np.log(snr[0]), np.log(snr[1]), n))
    smp = np.empty(n, dtype=object)
    art_S = None
    if artefacts is not None and artefact_fraction > 0:
        aw = np.asarray(artefacts.wavelengths, np.float64)
        art_S = np.array([np.interp(g, aw, s) for s in np.asarray(artefacts.spectra, np.float64)])
        ok_a = np.isfinite(art_S).all(axis=1) & (art_S > 0).all(axis=1)
        art_S, art_names = art_S[ok_a], np.asarray(artefacts.minerals, dtype=object)[ok_a]
    kind = rng.random(n)
    for i in range(n):
        if art_S is not None and kind[i] < artefact_fraction:
            j = int(rng.integers(len(art_S)))
            r1 = art_S[j]
            p1[i], smp[i] = art_names[j], f"artefact:{j}"
        elif kind[i] < artefact_fraction + aspectral_fraction:
            j = int(rng.choice(dil))
            r1 = A[j]
            p1[i], smp[i] = "aspectral", str(samples[j])
        else:
            c = classes[int(rng.integers(len(classes)))]
            j = int(rng.choice(by_class[c]))
            r1 = A[j]
            p1[i], smp[i] = str(minerals[j]), str(samples[j])
        parts, fr = [r1], [1.0]
        if p1[i] not in ("aspectral",) and not str(smp[i]).startswith("artefact") and rng.random() < p_second:
            cand = second[minerals[second] != minerals[j]] if p1[i] != "aspectral" else second
            k = int(rng.choice(cand))
            f2[i] = rng.uniform(0.05, max_fraction2)
            p2[i] = str(minerals[k])
            parts.append(A[k])
            fr.append(f2[i])
        if rng.random() < 0.8:
            fa[i] = rng.uniform(0.0, max_dilution) * (1.0 - f2[i])
            parts.append(A[int(rng.choice(dil))])
            fr.append(fa[i])
        fr[0] = 1.0 - sum(fr[1:])
        if rng.random() < p_intimate:
            R = np.exp(sum(f * np.log(np.clip(p, 1e-4, None)) for f, p in zip(fr, parts)))
        else:
            R = sum(f * p for f, p in zip(fr, parts))
        depths = rng.uniform(0.0, max_water, 4) * rng.uniform(0, 1) ** 2 * np.array([0.5, 0.5, 1.0, 1.0])
        cen = [c0 + rng.uniform(-dc, dc) for c0, dc, _, _ in WATER_BANDS]
        wid = [w0 + rng.uniform(-dw, dw) for _, _, w0, dw in WATER_BANDS]
        wa = water_absorbance(g, depths, cen, wid)
        water[i] = float(wa.max())
        t = np.linspace(-1.0, 1.0, g.size)
        R = R * np.exp(-wa) * rng.uniform(*brightness) * (1.0 + rng.uniform(-max_slope, max_slope) * t)
        out[i] = R
    if sensor_wavelengths is not None:
        out = resample(out, g, target, sensor_fwhm)
    sigma = np.sqrt((np.nanmean(out, axis=1, keepdims=True) / snr_v[:, None]) ** 2 + noise_floor ** 2)
    out = out + rng.normal(0.0, 1.0, out.shape) * sigma
    return SimulatedSpectra(out.astype(np.float32), target if sensor_wavelengths is not None else g,
                            p1.astype(str), p2.astype(str), f2, fa, water, snr_v, smp.astype(str))
