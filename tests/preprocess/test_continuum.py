"""Continuum removal: identical to SPy's remove_continuum on real USGS spectra (and noisy, unevenly sampled and
random ones), hull properties, planted features, NaN handling, windows, dtypes, shapes and errors."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hsimin.core import InputError, WavelengthError
from hsimin.preprocess import continuum, remove_continuum

spy_continuum = pytest.importorskip("spectral.algorithms.continuum")

USGS = Path(__file__).resolve().parents[2] / "spectral_libs" / "usgs_splib07" / "usgs_splib07a_minerals.h5"
GRID = np.linspace(1000.0, 2500.0, 270)  # a SWIR core-scanner band set, nm


def usgs_asd(grid=GRID, fwhm=10.0) -> np.ndarray:
    """Every NaN-free USGS splib07a ASD mineral spectrum, Gaussian-convolved (FWHM 10 nm) onto ``grid``."""
    with h5py.File(USGS, "r") as f:
        g = f["ASD"]
        src = g["wavelength_nm"][:].astype(np.float64)
        R = g["reflectance"][:].astype(np.float64)
    sig = fwhm / 2.3548
    W = np.exp(-0.5 * ((src[None, :] - grid[:, None]) / sig) ** 2)
    W /= W.sum(axis=1, keepdims=True)
    inside = (src >= grid[0] - 3 * fwhm) & (src <= grid[-1] + 3 * fwhm)
    ok = np.isfinite(R[:, inside]).all(axis=1)
    return R[ok][:, inside] @ W[:, inside].T


@pytest.fixture(scope="module")
def real():
    S = usgs_asd()
    assert S.shape[0] > 300 and S.shape[1] == GRID.size
    return S


def spy_rc(S, wl):
    return spy_continuum.remove_continuum(np.array(S, dtype=np.float64), np.array(wl, dtype=np.float64))


# --------------------------------------------------------------------------- agreement with SPy

def test_matches_spy_on_real_usgs_spectra(real):
    got = remove_continuum(real, GRID)
    assert got.dtype == np.float64 and got.shape == real.shape
    assert np.abs(got - spy_rc(real, GRID)).max() <= 1e-12


def test_hull_matches_spy_spectral_continuum(real):
    ref = spy_continuum.spectral_continuum(real.copy(), GRID.copy())
    assert np.abs(continuum(real, GRID) - ref).max() <= 1e-12


def test_matches_spy_on_noisy_brightness_scaled_spectra(real, rng):
    # planted: brightness factor 0.8-1.2 and Gaussian noise (sigma 0.001), as in a scan
    X = real[rng.integers(0, len(real), 3000)] * rng.uniform(0.8, 1.2, (3000, 1)) + rng.normal(0, 1e-3, (3000, 270))
    assert np.abs(remove_continuum(X, GRID) - spy_rc(X, GRID)).max() <= 1e-12


def test_hull_is_against_wavelength_not_band_index(rng):
    # Uneven spacing: the same values on a stretched grid have a different hull; SPy's result is followed.
    wl = np.cumsum(rng.uniform(1.0, 30.0, 120)) + 1000.0
    X = 0.4 + 0.1 * np.sin(wl / 90.0)[None, :] + rng.normal(0, 0.01, (50, 120))
    got = remove_continuum(X, wl)
    assert np.abs(got - spy_rc(X, wl)).max() <= 1e-12
    assert np.abs(got - spy_rc(X, np.arange(120.0))).max() > 1e-3


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=st.floats(-1.0, 2.0, allow_nan=False, width=64)))
def test_matches_spy_on_arbitrary_spectra(s):
    # (SPy itself fails on a single band.) Random values include ties, plateaus, collinear runs and negative values.
    wl = np.arange(s.size, dtype=np.float64) * 3.0 + 400.0
    if np.any(spy_continuum.spectral_continuum(s.copy(), wl) == 0):
        return  # 0/0 in SPy's quotient too; covered by the hull comparison below
    ref = spy_rc(s, wl)
    got = remove_continuum(s, wl)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=st.integers(0, 4).map(float)))
def test_hull_matches_spy_with_many_ties(s):
    # Few distinct values: long flat runs and exactly collinear points.
    wl = np.arange(s.size, dtype=np.float64) * 5.0 + 1000.0
    np.testing.assert_allclose(continuum(s, wl), spy_continuum.spectral_continuum(s.copy(), wl), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- hull properties and planted features

def test_hull_properties(real, rng):
    X = real[:100] + rng.normal(0, 2e-3, (100, 270))
    h = continuum(X, GRID)
    assert np.all(h >= X - 1e-12)                                      # above every point
    assert np.allclose(h[:, [0, -1]], X[:, [0, -1]], rtol=0, atol=0)   # through both ends
    slopes = np.diff(h, axis=1) / np.diff(GRID)
    assert np.all(np.diff(slopes, axis=1) <= 1e-9)                     # concave
    touch = np.isclose(h, X, rtol=0, atol=1e-15)
    assert np.all(touch.sum(axis=1) >= 2)


def test_planted_gaussian_feature_on_linear_continuum():
    # planted: continuum 0.3 + 1e-4 * (wl - 1000), absorption of depth 0.2 (fraction) centred at 2200 nm
    wl = np.linspace(1000.0, 2500.0, 301)
    cont = 0.3 + 1e-4 * (wl - 1000.0)
    s = cont * (1.0 - 0.2 * np.exp(-0.5 * ((wl - 2200.0) / 20.0) ** 2))
    cr = remove_continuum(s, wl)
    assert cr.min() == pytest.approx(0.8, abs=1e-6)
    assert wl[cr.argmin()] == 2200.0
    np.testing.assert_allclose(continuum(s, wl), cont, atol=2e-9)
    diff = remove_continuum(s, wl, mode="difference")
    np.testing.assert_allclose(diff, 1.0 + s - continuum(s, wl), atol=1e-15)
    assert diff.min() == pytest.approx(1.0 - 0.2 * np.interp(2200.0, wl, cont), abs=1e-6)


@pytest.mark.parametrize("s", [np.full(10, 0.4), np.linspace(0.2, 0.6, 10), np.r_[np.full(5, 0.5), np.full(5, 0.5)],
                               np.linspace(0.6, 0.2, 10)])
def test_flat_and_linear_spectra_give_ones(s):
    wl = np.linspace(1000, 1900, 10)
    np.testing.assert_allclose(remove_continuum(s, wl), 1.0, atol=1e-15)


def test_convex_spectrum_is_its_own_hull():
    wl = np.linspace(1000, 2500, 50)
    s = 0.5 - 1e-7 * (wl - 1750.0) ** 2  # concave-down everywhere: every point is a hull vertex
    np.testing.assert_array_equal(continuum(s, wl), s)


# --------------------------------------------------------------------------- NaN handling

def test_nan_bands_are_skipped_and_stay_nan(real):
    X = real[:60].copy()
    holes = [0, 1, 50, 51, 52, 133, 268, 269]
    X[:, holes] = np.nan
    got = remove_continuum(X, GRID)
    assert np.isnan(got[:, holes]).all()
    keep = np.setdiff1d(np.arange(270), holes)
    ref = spy_rc(X[:, keep], GRID[keep])  # the hull of the remaining bands, at the remaining bands
    assert np.abs(got[:, keep] - ref).max() <= 1e-12


def test_scattered_nan_and_inf_per_spectrum(real, rng):
    X = real[:40].copy()
    X[rng.random(X.shape) < 0.1] = np.nan
    X[3, 7] = np.inf
    X[4, 9] = -np.inf
    got = continuum(X, GRID)
    bad = ~np.isfinite(X)
    assert np.array_equal(np.isnan(got), bad)
    for i in range(len(X)):
        k = ~bad[i]
        np.testing.assert_allclose(got[i, k], spy_continuum.spectral_continuum(X[i, k], GRID[k]), atol=1e-12)


def test_all_nan_and_single_finite_band():
    wl = np.linspace(1000, 2000, 6)
    X = np.full((2, 6), np.nan)
    X[1, 3] = 0.25
    got = remove_continuum(X, wl)
    assert np.isnan(got[0]).all()
    assert got[1, 3] == 1.0 and np.isnan(np.delete(got[1], 3)).all()
    assert continuum(X, wl)[1, 3] == 0.25


# --------------------------------------------------------------------------- window, out, dtypes, shapes

def test_window_builds_hull_inside_window_only(real):
    got = remove_continuum(real[:30], GRID, window=(2100.0, 2300.0))
    inside = (GRID >= 2100.0) & (GRID <= 2300.0)
    assert np.isnan(got[:, ~inside]).all()
    ref = spy_rc(real[:30, inside], GRID[inside])
    assert np.abs(got[:, inside] - ref).max() <= 1e-12
    with pytest.raises(InputError, match="holds no band"):
        remove_continuum(real[:2], GRID, window=(2600.0, 2700.0))
    with pytest.raises(InputError, match="lo_nm < hi_nm"):
        remove_continuum(real[:2], GRID, window=(2300.0, 2100.0))


def test_float32_in_float32_out(real):
    X = real[:100].astype(np.float32)
    got = remove_continuum(X, GRID)
    assert got.dtype == np.float32
    ref = spy_continuum.remove_continuum(X.copy(), GRID.copy())  # SPy keeps float32 too
    assert np.abs(got.astype(np.float64) - ref).max() <= 1e-6


def test_integer_input_gives_float64():
    s = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.int16)
    wl = np.arange(8.0) * 10 + 1000
    got = remove_continuum(s, wl)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, spy_rc(s, wl), atol=1e-15)


def test_any_leading_shape(real):
    flat = remove_continuum(real[:24], GRID)
    np.testing.assert_array_equal(remove_continuum(real[:24].reshape(2, 3, 4, 270), GRID).reshape(24, 270), flat)
    np.testing.assert_array_equal(remove_continuum(real[5], GRID), flat[5])
    assert remove_continuum(np.empty((0, 270)), GRID).shape == (0, 270)
    assert remove_continuum(np.empty((3, 0, 270), np.float32), GRID).dtype == np.float32


def test_out_and_in_place(real):
    X = real[:20].copy()
    ref = remove_continuum(X, GRID)
    out = np.empty_like(X)
    assert remove_continuum(X, GRID, out=out) is out
    np.testing.assert_array_equal(out, ref)
    remove_continuum(X, GRID, out=X)  # in place
    np.testing.assert_array_equal(X, ref)
    strided = np.empty((20, 540))[:, ::2]  # not contiguous: goes through a buffer
    remove_continuum(real[:20], GRID, out=strided)
    np.testing.assert_array_equal(strided, ref)
    X32 = real[:20].astype(np.float32)
    out64 = np.empty(X32.shape)
    remove_continuum(X32, GRID, out=out64)  # float64 result of float32 input, like SPy's out
    np.testing.assert_allclose(out64, spy_continuum.remove_continuum(X32.copy(), GRID, out=np.empty(X32.shape)),
                               atol=1e-12)
    with pytest.raises(InputError, match="out must be"):
        remove_continuum(real[:20], GRID, out=np.empty((20, 269)))


def test_non_contiguous_input(real):
    X = np.asfortranarray(real[:30])
    np.testing.assert_array_equal(remove_continuum(X, GRID), remove_continuum(np.ascontiguousarray(X), GRID))
    np.testing.assert_array_equal(remove_continuum(real[:30, ::3], GRID[::3]), spy_rc(real[:30, ::3], GRID[::3]))


def test_errors():
    wl = np.linspace(1000, 2000, 5)
    with pytest.raises(InputError, match="mode"):
        remove_continuum(np.ones(5), wl, mode="convex")
    with pytest.raises(WavelengthError, match="5 values for 4 bands"):
        remove_continuum(np.ones(4), wl)
    with pytest.raises(WavelengthError, match="increasing"):
        remove_continuum(np.ones(5), wl[::-1])
    with pytest.raises(InputError, match="band axis"):
        remove_continuum(np.float64(1.0), wl[:1])
    with pytest.raises(InputError, match="numeric"):
        remove_continuum(np.array(["a"] * 5), wl)


# --------------------------------------------------------------------------- the threaded row runner

def test_many_rows_on_several_threads_equal_one_thread(real, rng):
    from hsimin._numba import num_threads

    X = real[rng.integers(0, len(real), 20000)] + rng.normal(0, 1e-3, (20000, 270))
    with num_threads(1):
        one = remove_continuum(X, GRID)
    with num_threads(3):  # more threads than cores is allowed
        three = remove_continuum(X, GRID)
    np.testing.assert_array_equal(one, three)


def test_parallel_rows_covers_every_row_once_and_reraises():
    import threading

    from hsimin._numba import num_threads, parallel_rows

    seen = np.zeros(50_000, np.int64)
    threads = set()

    def fn(r0, r1):
        seen[r0:r1] += 1
        threads.add(threading.get_ident())

    with num_threads(2):
        parallel_rows(seen.size, fn)
    assert (seen == 1).all()
    assert len(threads) >= 1

    def boom(r0, r1):
        if r0 > 0:
            raise ValueError(f"chunk {r0}")

    with num_threads(2), pytest.raises(ValueError, match="chunk"):
        parallel_rows(50_000, boom)
    calls = []
    parallel_rows(10, lambda r0, r1: calls.append((r0, r1)))  # small jobs run in the caller, in one piece
    assert calls == [(0, 10)]
    parallel_rows(0, lambda r0, r1: calls.append((r0, r1)))
    assert calls == [(0, 10)]
