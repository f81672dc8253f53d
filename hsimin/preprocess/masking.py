"""Tray and background masking: which pixels of a scan are core.

A core-scanner image holds, besides core, the tray (usually dark plastic), gaps between core pieces, spacer
blocks, labels, glints and calibration targets. A pixel is called background when any test fails:

=========  ===============================================================================  ==========================
code       test (on the pixel's finite bands)                                               parameter, default
=========  ===============================================================================  ==========================
invalid    too many non-finite bands (ignore value, failed calibration), or none finite     max_invalid_fraction 0.5
saturated  any band above the limit (detector saturation, glints, over-exposed targets)     saturation 1.05
dark       mean reflectance below the limit (black plastic trays, shadows, empty gaps)      min_albedo 0.03
flat       spectral contrast below the limit (white/grey panels, felt, shadow)              min_contrast 0.005
=========  ===============================================================================  ==========================

Spectral contrast is the deepest absorption of the spectrum below its upper convex hull, ``1 - min(hull
quotient)``, measured after a 100 nm moving average (so that noise alone scores lower; real absorption features
lose part of their depth but stay far above the threshold). Noise still adds about ``2 * sigma / albedo`` (a
flat panel at SNR 600 scores 0.002-0.003), so the default threshold is low. Caution: some real core is nearly
aspectral in the SWIR (pure quartz, some feldspar) with contrast of 1-3 %; raise ``min_contrast`` only on
scans where that cannot occur, and lower ``min_albedo`` for very dark rock (black shale, massive sulphide or
magnetite can reflect under 5 %).

Codes are checked in the order invalid, saturated, dark, flat; a pixel gets the first that applies.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..core.blocks import iter_blocks
from ..core.errors import InputError
from ..core.types import Cube
from .continuum import remove_continuum
from .savgol import smooth_savgol
from .lastaxis import spectra_and_wavelengths

__all__ = ["BACKGROUND_CODES", "CONTRAST_SMOOTHING_NM", "DEFAULT_THRESHOLDS", "classify_background",
           "mask_background", "mask_cube", "spectral_contrast"]

CORE, INVALID, SATURATED, DARK, FLAT = 0, 1, 2, 3, 4
BACKGROUND_CODES = {"core": CORE, "invalid": INVALID, "saturated": SATURATED, "dark": DARK, "flat": FLAT}
"""Codes of :func:`classify_background`: name -> uint8 value (0 = core)."""

DEFAULT_THRESHOLDS = {"min_albedo": 0.03, "min_contrast": 0.005, "saturation": 1.05, "max_invalid_fraction": 0.5}
"""Defaults of the masking thresholds (see the module docstring)."""

CONTRAST_SMOOTHING_NM = 100.0
"""Width (nm) of the moving average applied before measuring spectral contrast."""


def _smoothing_window(wl: np.ndarray) -> int:
    """Odd number of bands spanning about CONTRAST_SMOOTHING_NM (at least 1, at most the band count)."""
    if wl.size < 3:
        return 1
    n = int(round(CONTRAST_SMOOTHING_NM / float(np.median(np.diff(wl)))))
    n = min(max(n, 1), wl.size)
    return n if n % 2 else n - 1


def spectral_contrast(spectra: ArrayLike, wavelengths: ArrayLike, *, smooth: bool = True) -> np.ndarray:
    """Deepest absorption below the upper convex hull, ``1 - min(hull quotient)``, per spectrum.

    Parameters
    ----------
    spectra : (..., B) reflectance; non-finite bands are ignored
    wavelengths : (B,) nm, increasing
    smooth : apply a moving average over about 100 nm (:data:`CONTRAST_SMOOTHING_NM`) first, which lowers the
        score of noise (non-finite bands are bridged for the average and left out of the hull)

    Returns
    -------
    (...) float64, a fraction (0 = flat or convex); NaN for a spectrum without finite bands.
    """
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    w = _smoothing_window(wl) if smooth else 1
    if w > 1:
        X = smooth_savgol(X, w, 0, nan_policy="interpolate")
    cr = remove_continuum(X, wl)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(cr)
        lowest = np.where(finite, cr, np.inf).min(axis=-1)
    return np.where(finite.any(axis=-1), 1.0 - lowest.astype(np.float64), np.nan)


def classify_background(spectra: ArrayLike, wavelengths: ArrayLike, *, min_albedo: float = DEFAULT_THRESHOLDS["min_albedo"],
                        min_contrast: float = DEFAULT_THRESHOLDS["min_contrast"],
                        saturation: float = DEFAULT_THRESHOLDS["saturation"],
                        max_invalid_fraction: float = DEFAULT_THRESHOLDS["max_invalid_fraction"]) -> np.ndarray:
    """Background code of every spectrum: 0 core, 1 invalid, 2 saturated, 3 dark, 4 flat
    (:data:`BACKGROUND_CODES`; tests and defaults in the module docstring).

    Parameters
    ----------
    spectra : (..., B) reflectance (0-1 fraction)
    wavelengths : (B,) nm, increasing
    min_albedo : mean reflectance below this is dark; 0 turns the test off
    min_contrast : spectral contrast (fraction) below this is flat; 0 turns the test off
    saturation : a band above this reflectance is saturated; ``inf`` turns the test off
    max_invalid_fraction : a pixel with more than this fraction of non-finite bands is invalid

    Returns
    -------
    (...) uint8 codes, the leading shape of ``spectra``.
    """
    X, wl = spectra_and_wavelengths(spectra, wavelengths)
    for name, v in (("min_albedo", min_albedo), ("min_contrast", min_contrast)):
        if not (np.isfinite(v) and v >= 0):
            raise InputError(f"{name} must be a finite number >= 0, got {v}")
    if not saturation > 0:
        raise InputError(f"saturation must be > 0 (reflectance), got {saturation}")
    if not 0 <= max_invalid_fraction < 1:
        raise InputError(f"max_invalid_fraction must be in [0, 1), got {max_invalid_fraction}")
    B = wl.size
    X2 = X.reshape(-1, B)
    finite = np.isfinite(X2)
    n_ok = finite.sum(axis=1)
    codes = np.zeros(X2.shape[0], dtype=np.uint8)
    invalid = (n_ok == 0) | (n_ok < (1.0 - max_invalid_fraction) * B)
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = np.where(finite, X2, 0.0)
        albedo = Z.sum(axis=1, dtype=np.float64) / n_ok
        peak = np.where(finite, X2, -np.inf).max(axis=1) if B else np.full(X2.shape[0], -np.inf)
    saturated = ~invalid & (peak > saturation)
    dark = ~invalid & ~saturated & (albedo < min_albedo)
    codes[invalid] = INVALID
    codes[saturated] = SATURATED
    codes[dark] = DARK
    if min_contrast > 0:
        todo = np.flatnonzero(codes == CORE)
        if todo.size:
            contrast = spectral_contrast(X2[todo], wl)
            codes[todo[~(contrast >= min_contrast)]] = FLAT
    return codes.reshape(X.shape[:-1])


def mask_background(data: ArrayLike, wavelengths: ArrayLike | None=None, *, lines: int | None = None, **thresholds) -> np.ndarray:
    """Core mask: True where a pixel is core, False for tray, background, glints and invalid pixels.

    Parameters
    ----------
    data : a :class:`~hsimin.core.Cube` (streamed block by block, see :func:`mask_cube`), or a (..., B) array
        of reflectance (a block (h, W, B), spectra (N, B))
    wavelengths : (B,) nm — required for an array; a Cube brings its own
    lines : lines per block when ``data`` is a Cube
    thresholds : ``min_albedo``, ``min_contrast``, ``saturation``, ``max_invalid_fraction``
        (see :func:`classify_background`)

    Returns
    -------
    bool array of the leading shape: (H, W) for a Cube or block, (N,) for spectra.
    """
    if isinstance(data, Cube):
        if wavelengths is not None:
            raise InputError("a Cube brings its own wavelengths; do not pass wavelengths with it")
        return mask_cube(data, lines=lines, **thresholds)
    if wavelengths is None:
        raise InputError("wavelengths (nm) are needed to mask an array")
    return classify_background(data, wavelengths, **thresholds) == CORE


def mask_cube(cube: Cube, *, lines: int | None = None, max_bytes: int | None = None, codes: bool = False,
              **thresholds) -> np.ndarray:
    """Core mask of a whole cube, computed block by block (bounded memory on any cube size).

    Parameters
    ----------
    cube : Cube (its data may be a memmap or a lazy reader-backed array)
    lines, max_bytes : block size, as in :func:`hsimin.core.blocks.iter_blocks`
    codes : return the (H, W) uint8 background codes instead of the bool mask
    thresholds : see :func:`classify_background`

    Returns
    -------
    (H, W) bool, True = core (or uint8 codes). ``cube.mask`` is not consulted: combine with ``&`` if wanted.
    """
    H, W, _ = cube.shape
    out = np.empty((H, W), dtype=np.uint8)
    for block in iter_blocks(cube, lines, max_bytes=max_bytes):
        out[block.rows] = classify_background(block.data, cube.wavelengths, **thresholds)
    return out if codes else out == CORE
