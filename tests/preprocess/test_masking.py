"""Tray/background masking on seeded synthetic scans: real USGS mineral spectra as core, planted dark tray,
flat panel, saturated glints and invalid pixels; block-by-block masking of a Cube equals the whole-array result."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hsimin.core import Cube, InputError
from hsimin.preprocess import BACKGROUND_CODES, classify_background, mask_background, mask_cube, spectral_contrast

USGS = Path(__file__).resolve().parents[2] / "spectral_libs" / "usgs_splib07" / "usgs_splib07a_minerals.h5"
GRID = np.linspace(1000.0, 2500.0, 270)
MINERALS = ["Kaolinite_CM9", "Muscovite_GDS113_Ruby", "Calcite_WS272", "Talc_GDS23", "Alunite_HS295.3B"]


@pytest.fixture(scope="module")
def minerals():
    with h5py.File(USGS, "r") as f:
        g = f["ASD"]
        names = g["name"].asstr()[:]
        src = g["wavelength_nm"][:].astype(np.float64)
        out = [np.interp(GRID, src, g["reflectance"][int(np.flatnonzero(names == n)[0])].astype(np.float64))
               for n in MINERALS]
    S = np.array(out)
    assert np.isfinite(S).all()
    return S


@pytest.fixture
def scene(minerals, rng):
    """A 12 x 10 scan. Planted, by column: 0-5 core (the five real minerals, brightness 0.5-1.1, noise sigma
    0.002), 6 dark tray (reflectance 0.015, noise 0.002), 7 flat grey panel (0.6, noise 0.001), 8 glints (a core
    spectrum with bands 100-110 at 1.3), 9 invalid (70 % of bands NaN, and one all-NaN pixel). One core pixel
    has 10 % NaN bands and must stay core."""
    H, W = 12, 10
    cube = np.empty((H, W, GRID.size))
    truth = np.zeros((H, W), np.uint8)
    for c in range(6):
        s = minerals[rng.integers(0, len(minerals), H)] * rng.uniform(0.5, 1.1, (H, 1))
        cube[:, c] = s + rng.normal(0, 0.002, s.shape)
    cube[:, 6] = 0.015 + rng.normal(0, 0.002, (H, GRID.size))
    truth[:, 6] = BACKGROUND_CODES["dark"]
    cube[:, 7] = 0.6 + rng.normal(0, 0.001, (H, GRID.size))
    truth[:, 7] = BACKGROUND_CODES["flat"]
    cube[:, 8] = minerals[0] * 0.8
    cube[:, 8, 100:111] = 1.3
    truth[:, 8] = BACKGROUND_CODES["saturated"]
    cube[:, 9] = minerals[1]
    cube[:, 9, rng.random((H, GRID.size)).argsort(axis=1)[:, :189]] = np.nan
    cube[0, 9] = np.nan
    truth[:, 9] = BACKGROUND_CODES["invalid"]
    cube[3, 2, rng.choice(GRID.size, 27, replace=False)] = np.nan
    return cube, truth


def test_codes_on_planted_scene(scene):
    cube, truth = scene
    codes = classify_background(cube, GRID)
    assert codes.shape == truth.shape and codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, truth)
    np.testing.assert_array_equal(mask_background(cube, GRID), truth == 0)


def test_contrast_separates_minerals_from_flat_panel(minerals, rng):
    noisy_flat = 0.6 + rng.normal(0, 0.001, (50, GRID.size))
    assert spectral_contrast(noisy_flat, GRID).max() < 0.005
    assert spectral_contrast(minerals, GRID).min() > 0.05
    assert np.all(spectral_contrast(noisy_flat, GRID, smooth=False) > spectral_contrast(noisy_flat, GRID))
    assert np.isnan(spectral_contrast(np.full(GRID.size, np.nan), GRID))


def test_thresholds_are_parameters(scene):
    cube, truth = scene
    # tests switched off: dark tray and flat panel become core
    codes = classify_background(cube, GRID, min_albedo=0.0, min_contrast=0.0)
    assert (codes[:, 6] == 0).all() and (codes[:, 7] == 0).all()
    assert classify_background(cube, GRID, saturation=np.inf)[:, 8].tolist() == [0] * 12
    # a strict albedo threshold also takes the darkest core
    strict = classify_background(cube, GRID, min_albedo=0.7)
    assert (strict[:, :6] == BACKGROUND_CODES["dark"]).any()
    # a pixel with 10 % NaN bands is invalid only once the allowance drops below 10 %
    assert classify_background(cube, GRID)[3, 2] == 0
    assert classify_background(cube, GRID, max_invalid_fraction=0.05)[3, 2] == BACKGROUND_CODES["invalid"]
    with pytest.raises(InputError, match="min_albedo"):
        classify_background(cube, GRID, min_albedo=-1)
    with pytest.raises(InputError, match="max_invalid_fraction"):
        classify_background(cube, GRID, max_invalid_fraction=1.0)


def test_cube_is_masked_block_by_block(scene):
    cube, truth = scene
    c = Cube(cube.astype(np.float32), GRID)
    np.testing.assert_array_equal(mask_cube(c, lines=5), truth == 0)  # 3 blocks: 5, 5, 2 lines
    np.testing.assert_array_equal(mask_cube(c, lines=5, codes=True), truth)
    np.testing.assert_array_equal(mask_background(c, lines=1), truth == 0)
    with pytest.raises(InputError, match="own wavelengths"):
        mask_background(c, GRID)
    with pytest.raises(InputError, match="wavelengths"):
        mask_background(cube)


def test_spectra_shape(scene):
    cube, truth = scene
    flat = classify_background(cube.reshape(-1, GRID.size), GRID)
    np.testing.assert_array_equal(flat, truth.ravel())
    assert classify_background(cube[0, 0], GRID).shape == ()
