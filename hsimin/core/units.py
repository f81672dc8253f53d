"""Wavelength units: everything inside hsimin is nanometres, float64, strictly increasing.

Readers call :func:`to_nanometers` once at load time; nothing else converts units.
"""
from __future__ import annotations

import re

import numpy as np
from numpy.typing import ArrayLike

from .errors import WavelengthError

# Normalised unit spelling -> factor to nm, or "wavenumber" for cm^-1.
_UNIT_FACTORS: dict[str, float | str] = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1000.0, "µm": 1000.0, "μm": 1000.0, "micrometer": 1000.0, "micrometers": 1000.0,
    "micrometre": 1000.0, "micrometres": 1000.0, "micron": 1000.0, "microns": 1000.0, "microm": 1000.0,
    "mm": 1.0e6, "millimeter": 1.0e6, "millimeters": 1.0e6,
    "cm-1": "wavenumber", "cm^-1": "wavenumber", "1/cm": "wavenumber", "wavenumber": "wavenumber",
    "wavenumbers": "wavenumber", "cm⁻¹": "wavenumber", "inverse centimeters": "wavenumber",
}


def normalise_unit(unit: str | None) -> str | None:
    """Canonical spelling of a wavelength unit (``'nm'``, ``'um'``, ``'mm'``, ``'cm-1'``), or None when the
    unit is absent or 'unknown' (then :func:`to_nanometers` infers it from the magnitude)."""
    if unit is None:
        return None
    key = re.sub(r"\s+", " ", str(unit).strip().lower())
    if key in ("", "unknown", "none", "n/a", "index", "band", "bands"):
        return None
    factor = _UNIT_FACTORS.get(key) or _UNIT_FACTORS.get(key.replace(" ", ""))
    if factor is None:
        raise WavelengthError(f"unknown wavelength unit {unit!r}; use nm, micrometers (um) or cm-1")
    if factor == "wavenumber":
        return "cm-1"
    return {1.0: "nm", 1000.0: "um", 1.0e6: "mm"}[factor]


def infer_unit(values: np.ndarray) -> str:
    """Guess the unit of wavelengths given without one: values below 30 are micrometres, above 30 nm.

    Core scanners cover 350-2600 nm (0.35-2.6 um), so the two ranges never overlap.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        raise WavelengthError("wavelengths are all NaN")
    return "um" if np.nanmax(finite) < 30.0 else "nm"


def to_nanometers(values: ArrayLike, unit: str | None = None) -> np.ndarray:
    """Wavelengths in nm (float64), from values in ``unit`` (nm, um/micrometers, mm, cm-1).

    The order is kept: cm-1 values that increase give nm that decrease. Use :func:`sort_order`
    to get increasing wavelengths.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size and not np.all(np.isfinite(v)):
        raise WavelengthError("wavelengths contain NaN or infinite values")
    canon = normalise_unit(unit) or infer_unit(v)
    if canon == "nm":
        return v.copy()
    if canon == "um":
        return v * 1000.0
    if canon == "mm":
        return v * 1.0e6
    if np.any(v <= 0):
        raise WavelengthError("wavenumbers (cm-1) must be positive")
    return 1.0e7 / v


def sort_order(wavelengths_nm: np.ndarray) -> np.ndarray | None:
    """Index array that puts wavelengths in strictly increasing order, or None if they already are.

    Raises :class:`WavelengthError` if two bands share a wavelength (no consistent order exists).
    """
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    if wl.ndim != 1:   # np.diff of a (B, 3) table runs along its rows and would report 'repeats'
        raise WavelengthError(f"wavelengths must be one value per band (1-D), got an array of shape {wl.shape}")
    d = np.diff(wl)
    if np.all(d > 0):
        return None
    order = np.argsort(wl, kind="stable")
    if np.any(np.diff(wl[order]) <= 0):
        dup = wl[order][:-1][np.diff(wl[order]) <= 0][0]
        raise WavelengthError(f"wavelengths repeat ({dup:g} nm twice), so bands cannot be put in a consistent "
                              "order; fix the header's wavelength list")
    return order


def check_wavelengths(wavelengths: ArrayLike, n_bands: int | None = None, what: str = "wavelengths") -> np.ndarray:
    """Validated wavelengths: 1-D float64 nm, finite, strictly increasing, ``n_bands`` long if given."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1:
        raise WavelengthError(f"{what} must be 1-D, got shape {wl.shape}")
    if n_bands is not None and wl.size != n_bands:
        raise WavelengthError(f"{what} has {wl.size} values for {n_bands} bands")
    if not np.all(np.isfinite(wl)):
        raise WavelengthError(f"{what} contain NaN or infinite values")
    if wl.size > 1 and not np.all(np.diff(wl) > 0):
        raise WavelengthError(f"{what} are not strictly increasing (nm); sort the bands first")
    return wl
