"""hsimin.preprocess: pure array transforms on the last (band) axis, NaN-aware, wavelengths in nm.

Every function takes a spectrum (B,), spectra (N, B) or a cube (H, W, B) and works on the last axis; none
touches the filesystem. A :class:`Recipe` strings steps together, serialises them (dict, JSON, TOML) and
applies them block by block to a cube.
"""
from .absorbance import Absorbance, to_absorbance
from .bands import (AIRBORNE_WATER_WINDOWS_NM, WATER_WINDOWS_NM, band_window, drop_bad_bands, remove_bands,
                    remove_water_bands, water_band_mask, windows_mask)
from .continuum import continuum, remove_continuum
from .masking import BACKGROUND_CODES, classify_background, mask_background, mask_cube, spectral_contrast
from .normalise import brightness, normalise_brightness
from .recipe import (STEPS, BandWindow, ContinuumRemoval, DropBadBands, Normalise, Recipe, RemoveBands,
                     RemoveWaterBands, Resample, Savgol, Step, register_step)
from .resample import resample, resample_library
from .savgol import savgol_operator, smooth_savgol
from .steps import Bands

__all__ = [
    "AIRBORNE_WATER_WINDOWS_NM", "Absorbance", "BACKGROUND_CODES", "Bands", "BandWindow", "ContinuumRemoval", "DropBadBands", "Normalise",
    "Recipe", "RemoveBands", "RemoveWaterBands", "Resample", "STEPS", "Savgol", "Step", "WATER_WINDOWS_NM",
    "band_window", "brightness", "classify_background", "continuum", "drop_bad_bands", "mask_background",
    "mask_cube", "normalise_brightness", "register_step", "remove_bands", "remove_continuum",
    "remove_water_bands", "resample", "resample_library", "savgol_operator", "smooth_savgol",
    "spectral_contrast", "to_absorbance", "water_band_mask", "windows_mask",
]
