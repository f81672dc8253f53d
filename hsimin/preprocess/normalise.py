"""Brightness normalisation: take out overall brightness (illumination, grain size, surface roughness) and keep
the spectral shape.

Each spectrum is divided by one positive number computed from its finite bands:

- ``"max"``: its largest value, so the spectrum peaks at 1;
- ``"mean"``: its mean, so it averages 1;
- ``"l2"``: its Euclidean norm, so it has unit length (what spectral-angle comparisons implicitly do);
- ``"area"``: the area under it (trapezoid rule over wavelength, nm) divided by the wavelength span, i.e. its
  mean height weighted by band spacing, so it averages 1 even on unevenly spaced bands.

Non-finite bands are left out of the statistic and stay NaN. A spectrum whose statistic is not positive and
finite (all NaN, all zero, or negative on average) cannot be normalised and is all NaN.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from .._numba import jit, parallel_rows
from ..core.errors import InputError
from ..core.units import check_wavelengths
from .lastaxis import as_rows

__all__ = ["NORMALISE_METHODS", "brightness", "normalise_brightness"]

NORMALISE_METHODS = {"max": 0, "mean": 1, "l2": 2, "area": 3}
"""Methods of :func:`normalise_brightness`: name -> kernel code."""


@jit
def _norm_rows(X, x, method, divide, out):  # pragma: no cover - compiled
    N, B = X.shape
    for r in range(N):
        row = X[r]
        stat = 0.0
        count = 0
        if method == 0:
            stat = -np.inf
            for j in range(B):
                v = np.float64(row[j])
                if v - v == 0.0:
                    count += 1
                    if v > stat:
                        stat = v
        elif method == 1:
            for j in range(B):
                v = np.float64(row[j])
                if v - v == 0.0:
                    count += 1
                    stat += v
            if count:
                stat /= count
        elif method == 2:
            for j in range(B):
                v = np.float64(row[j])
                if v - v == 0.0:
                    count += 1
                    stat += v * v
            stat = np.sqrt(stat)
        else:
            # Trapezoids between consecutive finite bands (gaps bridged linearly), over their span.
            first = -1
            last = -1
            xp = 0.0
            yp = 0.0
            for j in range(B):
                v = np.float64(row[j])
                if v - v == 0.0:
                    count += 1
                    if first < 0:
                        first = j
                    else:
                        stat += 0.5 * (v + yp) * (x[j] - xp)
                    last = j
                    xp = x[j]
                    yp = v
            if count == 1:
                stat = np.float64(row[first])
            elif count > 1:
                stat /= x[last] - x[first]
        ok = count > 0 and stat > 0.0 and stat - stat == 0.0
        o = out[r]
        if not divide:
            o[0] = stat if ok else np.nan
            continue
        for j in range(B):
            v = np.float64(row[j])
            o[j] = v / stat if (ok and v - v == 0.0) else np.nan


def _prepare(spectra, method: str, wavelengths):
    if method not in NORMALISE_METHODS:
        raise InputError(f"method must be one of {', '.join(NORMALISE_METHODS)}, got {method!r}")
    X, rows = as_rows(spectra)
    B = X.shape[-1]
    x = (np.arange(B, dtype=np.float64) if wavelengths is None
         else check_wavelengths(wavelengths, B, "wavelengths"))
    return X, rows, x


def brightness(spectra: ArrayLike, method: str = "max", wavelengths: ArrayLike | None=None) -> np.ndarray:
    """The brightness statistic :func:`normalise_brightness` divides by, per spectrum.

    Parameters as for :func:`normalise_brightness`. Returns a (...) float64 array (the leading shape of
    ``spectra``), NaN where the spectrum cannot be normalised.
    """
    X, X2, x = _prepare(spectra, method, wavelengths)
    out = np.empty((X2.shape[0], 1), dtype=np.float64)
    m = NORMALISE_METHODS[method]
    if X2.shape[0] and X2.shape[1]:
        parallel_rows(X2.shape[0], lambda r0, r1: _norm_rows(X2[r0:r1], x, m, False, out[r0:r1]))
    elif X2.shape[0]:
        out[:] = np.nan
    return out.reshape(X.shape[:-1])


def normalise_brightness(spectra: ArrayLike, method: str = "max", wavelengths: ArrayLike | None=None) -> np.ndarray:
    """Spectra divided by their brightness, on the last axis (see the module docstring for the methods).

    Parameters
    ----------
    spectra : (..., B) array of reflectance; non-finite bands are ignored and stay NaN
    method : ``"max"`` (default), ``"mean"``, ``"l2"`` or ``"area"``
    wavelengths : (B,) nm, increasing; used by ``"area"`` (trapezoids over wavelength). None: band index.

    Returns
    -------
    (..., B) array, unitless, float32 if ``spectra`` is float32, else float64. All NaN for a spectrum whose
    statistic is not positive and finite.
    """
    X, X2, x = _prepare(spectra, method, wavelengths)
    out = np.empty(X2.shape, dtype=X.dtype)
    m = NORMALISE_METHODS[method]
    if X2.shape[0] and X2.shape[1]:
        parallel_rows(X2.shape[0], lambda r0, r1: _norm_rows(X2[r0:r1], x, m, True, out[r0:r1]))
    return out.reshape(X.shape)
