"""Choosing bands: a wavelength window, bad bands, atmospheric water bands, any list of windows.

Every function takes spectra ``(..., B)`` (band-last, any leading shape) with their wavelengths ``(B,)`` in nm
and returns the kept spectra with their wavelengths. The ``*_keep`` / ``*_mask`` helpers return the band
selection alone, so callers (a :class:`~hsimin.preprocess.recipe.Recipe`, a reader) can apply the same
selection to FWHM, bad-band flags or a model's band list.

Windows are closed intervals in nm: a band exactly on a window edge is inside it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError
from ..core.units import check_wavelengths
from .lastaxis import spectra_and_wavelengths

__all__ = ["AIRBORNE_WATER_WINDOWS_NM", "WATER_WINDOWS_NM", "band_window", "bad_band_keep", "drop_bad_bands",
           "remove_bands", "remove_water_bands", "take_bands", "water_band_mask", "window_keep", "windows_mask",
           "check_windows"]

WATER_WINDOWS_NM: tuple[tuple[float, float], ...] = ((1340.0, 1460.0), (1790.0, 1960.0))
"""Default atmospheric water-vapour absorption windows (nm): the 1.4 um and 1.9 um bands, where field and airborne
spectra have almost no signal. Lab core scanners measure through centimetres of air, not kilometres, so they keep
these bands (the 1400/1900 nm features of hydrous minerals are real there): do not remove them from lab data."""

AIRBORNE_WATER_WINDOWS_NM: tuple[tuple[float, float], ...] = WATER_WINDOWS_NM + ((2450.0, 2600.0),)
"""Water windows plus the long-wave end of the SWIR (2450-2600 nm), which is also noisy in airborne data."""


def check_windows(windows, what: str = "windows") -> tuple[tuple[float, float], ...]:
    """Windows as a tuple of ``(lo_nm, hi_nm)`` float pairs with ``lo < hi``; a single pair is accepted too."""
    if windows is None:
        raise InputError(f"{what} must be a list of (lo_nm, hi_nm) pairs, got None")
    arr = np.asarray(windows, dtype=object)
    if arr.ndim == 1 and arr.size == 2 and all(np.isscalar(v) for v in arr):
        windows = [tuple(arr)]
    out = []
    for w in windows:
        try:
            lo, hi = (float(v) for v in w)
        except (TypeError, ValueError):
            raise InputError(f"{what}: each window must be a (lo_nm, hi_nm) pair, got {w!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"{what}: window ({lo:g}, {hi:g}) must have finite lo_nm < hi_nm")
        out.append((lo, hi))
    return tuple(out)


def window_keep(wavelengths: ArrayLike, lo_nm: float, hi_nm: float) -> slice:
    """Bands with ``lo_nm <= wavelength <= hi_nm``, as a slice (wavelengths increase, so they are contiguous).

    Raises InputError if the window holds no band.
    """
    wl = check_wavelengths(wavelengths)
    (lo, hi), = check_windows([(lo_nm, hi_nm)], "band window")
    j0 = int(np.searchsorted(wl, lo, side="left"))
    j1 = int(np.searchsorted(wl, hi, side="right"))
    if j1 <= j0:
        span = f"{wl[0]:g}-{wl[-1]:g} nm" if wl.size else "no bands"
        raise InputError(f"band window {lo:g}-{hi:g} nm holds no band (the bands cover {span})")
    return slice(j0, j1)


def windows_mask(wavelengths: ArrayLike, windows) -> np.ndarray:
    """(B,) bool: True where a band lies inside any of ``windows`` (``(lo_nm, hi_nm)`` pairs, inclusive)."""
    wl = check_wavelengths(wavelengths)
    m = np.zeros(wl.size, dtype=bool)
    for lo, hi in check_windows(windows):
        m |= (wl >= lo) & (wl <= hi)
    return m


def water_band_mask(wavelengths: ArrayLike, windows=WATER_WINDOWS_NM) -> np.ndarray:
    """(B,) bool: True for bands inside the atmospheric water windows (default :data:`WATER_WINDOWS_NM`:
    1340-1460 and 1790-1960 nm; :data:`AIRBORNE_WATER_WINDOWS_NM` adds 2450-2600 nm). Relevant for field and
    airborne data, not for lab core scanners."""
    return windows_mask(wavelengths, windows)


def bad_band_keep(bad_bands: ArrayLike, n_bands: int) -> np.ndarray:
    """Indices of the good bands, from ``bad_bands``: a (B,) bool array (True = bad, as ``Cube.bad_bands``) or a
    sequence of integer band indices (negative counts from the end)."""
    bb = np.asarray(bad_bands)
    if bb.dtype == bool:
        if bb.shape != (n_bands,):
            raise InputError(f"bad_bands has shape {bb.shape}; a bool mask needs one value per band ({n_bands})")
        return np.flatnonzero(~bb)
    if bb.size == 0:
        return np.arange(n_bands)
    if bb.dtype.kind not in "iu" or bb.ndim != 1:
        raise InputError("bad_bands must be a (B,) bool mask (True = bad) or a list of integer band indices, "
                         f"got dtype {bb.dtype} shape {bb.shape}")
    if bb.min() < -n_bands or bb.max() >= n_bands:
        raise InputError(f"bad_bands indices {bb.min()}..{bb.max()} out of range for {n_bands} bands")
    m = np.ones(n_bands, dtype=bool)
    m[bb] = False
    return np.flatnonzero(m)


def take_bands(spectra: ArrayLike, wavelengths: ArrayLike, keep) -> tuple[np.ndarray, np.ndarray]:
    """Spectra and wavelengths of the bands ``keep`` (a slice gives a view, indices a copy)."""
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    if not isinstance(keep, slice):
        keep = np.asarray(keep)
        if keep.dtype == bool:
            keep = np.flatnonzero(keep)
        if keep.size == 0:
            raise InputError("no band left: the selection removes every band")
    elif len(range(*keep.indices(wl.size))) == 0:
        raise InputError("no band left: the selection removes every band")
    return X[..., keep], wl[keep]


def band_window(spectra: ArrayLike, wavelengths: ArrayLike, lo_nm: float, hi_nm: float) -> tuple[np.ndarray, np.ndarray]:
    """The bands with ``lo_nm <= wavelength <= hi_nm``.

    Parameters
    ----------
    spectra : (..., B) array; wavelengths : (B,) nm, increasing; lo_nm, hi_nm : window edges, nm (inclusive)

    Returns
    -------
    (spectra (..., B') — a view, not a copy; wavelengths (B',) nm)
    """
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    return take_bands(X, wl, window_keep(wl, lo_nm, hi_nm))


def drop_bad_bands(spectra: ArrayLike, wavelengths: ArrayLike, bad_bands: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The spectra without their bad bands.

    Parameters
    ----------
    spectra : (..., B) array; wavelengths : (B,) nm
    bad_bands : (B,) bool, True = bad (``Cube.bad_bands``, ENVI ``bbl == 0``), or integer band indices

    Returns
    -------
    (spectra (..., B'), wavelengths (B',) nm)
    """
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    return take_bands(X, wl, bad_band_keep(bad_bands, wl.size))


def remove_bands(spectra: ArrayLike, wavelengths: ArrayLike, windows: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The spectra without the bands inside any of ``windows`` (``(lo_nm, hi_nm)`` pairs, inclusive).

    Returns (spectra (..., B'), wavelengths (B',) nm).
    """
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    return take_bands(X, wl, np.flatnonzero(~windows_mask(wl, windows)))


def remove_water_bands(spectra: ArrayLike, wavelengths: ArrayLike, windows=WATER_WINDOWS_NM) -> tuple[np.ndarray, np.ndarray]:
    """The spectra without the atmospheric water bands (see :func:`water_band_mask`).

    Returns (spectra (..., B'), wavelengths (B',) nm).
    """
    return remove_bands(spectra, wavelengths, windows)
