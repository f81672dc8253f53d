"""Band selection: windows (inclusive edges, views), bad bands (mask or indices), water bands, errors."""
from __future__ import annotations

import numpy as np
import pytest

from hsimin.core import InputError, WavelengthError
from hsimin.preprocess import (AIRBORNE_WATER_WINDOWS_NM, WATER_WINDOWS_NM, band_window, drop_bad_bands,
                               remove_bands, remove_water_bands, water_band_mask, windows_mask)
from hsimin.preprocess.bands import bad_band_keep, check_windows, window_keep

WL = np.arange(1000.0, 2501.0, 10.0)  # 151 bands, 10 nm apart


@pytest.fixture
def cube(rng):
    return rng.uniform(0, 1, (3, 4, WL.size))


def test_band_window_inclusive_and_a_view(cube):
    X, wl = band_window(cube, WL, 2000.0, 2200.0)
    assert wl[0] == 2000.0 and wl[-1] == 2200.0 and wl.size == 21
    assert X.shape == (3, 4, 21)
    assert np.shares_memory(X, cube)
    np.testing.assert_array_equal(X, cube[..., 100:121])
    X, wl = band_window(cube, WL, 1995.0, 2004.9)  # only 2000 inside
    assert wl.tolist() == [2000.0]


def test_band_window_errors(cube):
    with pytest.raises(InputError, match="holds no band"):
        band_window(cube, WL, 2501.0, 2600.0)
    with pytest.raises(InputError, match="holds no band"):
        band_window(cube, WL, 2001.0, 2009.0)
    with pytest.raises(InputError, match="lo_nm < hi_nm"):
        band_window(cube, WL, 2200.0, 2000.0)
    with pytest.raises(WavelengthError):
        band_window(cube, WL[:-1], 2000.0, 2200.0)


def test_drop_bad_bands_mask_and_indices(cube):
    bad = np.zeros(WL.size, bool)
    bad[[0, 5, 150]] = True
    X, wl = drop_bad_bands(cube, WL, bad)
    assert X.shape == (3, 4, 148) and not np.isin([1000.0, 1050.0, 2500.0], wl).any()
    X2, wl2 = drop_bad_bands(cube, WL, [0, 5, -1])
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(wl, wl2)
    X3, wl3 = drop_bad_bands(cube, WL, [])
    assert X3.shape == cube.shape
    with pytest.raises(InputError, match="one value per band"):
        drop_bad_bands(cube, WL, bad[:-1])
    with pytest.raises(InputError, match="out of range"):
        drop_bad_bands(cube, WL, [151])
    with pytest.raises(InputError, match="removes every band"):
        drop_bad_bands(cube, WL, np.ones(WL.size, bool))
    assert bad_band_keep(np.array([1, 2]), 4).tolist() == [0, 3]


def test_water_bands():
    m = water_band_mask(WL)
    expected = ((WL >= 1340) & (WL <= 1460)) | ((WL >= 1790) & (WL <= 1960))
    np.testing.assert_array_equal(m, expected)
    assert m.sum() == 13 + 18
    air = water_band_mask(WL, AIRBORNE_WATER_WINDOWS_NM)
    assert air.sum() == m.sum() + 6  # 2450..2500
    assert WATER_WINDOWS_NM == ((1340.0, 1460.0), (1790.0, 1960.0))
    X = np.arange(WL.size, dtype=float)
    Y, wl = remove_water_bands(X, WL)
    assert wl.size == WL.size - m.sum() and not water_band_mask(wl).any()
    np.testing.assert_array_equal(Y, X[~m])


def test_remove_bands_any_windows(cube):
    X, wl = remove_bands(cube, WL, [(1000, 1100), (2400, 2500)])
    assert wl[0] == 1110.0 and wl[-1] == 2390.0 and X.shape[-1] == wl.size == 129
    X, wl = remove_bands(cube, WL, (1500, 1600))  # a single window
    assert wl.size == 140 and not ((wl >= 1500) & (wl <= 1600)).any()
    np.testing.assert_array_equal(windows_mask(WL, []), np.zeros(WL.size, bool))


def test_window_checks():
    assert check_windows([[1, 2], (3, 4.5)]) == ((1.0, 2.0), (3.0, 4.5))
    assert window_keep(WL, 1000, 1020) == slice(0, 3)
    for bad in ([(1, 2, 3)], [("a", 2)], [(2, 1)], [(np.nan, 2)], None):
        with pytest.raises(InputError):
            check_windows(bad)
