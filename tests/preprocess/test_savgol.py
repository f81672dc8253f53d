"""Savitzky-Golay: scipy's numbers (every edge mode, odd and even windows, derivatives, delta) on real USGS and
random spectra, NaN policies, derivative units, dtypes, shapes and errors."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.signal import savgol_filter

from hsimin.core import InputError
from hsimin.preprocess import savgol_operator, smooth_savgol

USGS = Path(__file__).resolve().parents[2] / "spectral_libs" / "usgs_splib07" / "usgs_splib07a_minerals.h5"
GRID = np.linspace(1000.0, 2500.0, 270)


@pytest.fixture(scope="module")
def real():
    """The NaN-free USGS splib07a ASD spectra, linearly interpolated onto GRID."""
    with h5py.File(USGS, "r") as f:
        g = f["ASD"]
        src = g["wavelength_nm"][:].astype(np.float64)
        R = g["reflectance"][:].astype(np.float64)
    R = np.array([np.interp(GRID, src, r) for r in R])
    return R[np.isfinite(R).all(axis=1)]


@pytest.mark.parametrize("w,p,d", [(11, 2, 0), (7, 3, 0), (15, 4, 0), (9, 2, 1), (13, 3, 2), (5, 0, 0), (3, 2, 2)])
def test_matches_scipy_on_real_spectra(real, w, p, d):
    got = smooth_savgol(real, w, p, deriv=d)
    assert got.dtype == np.float64
    assert np.abs(got - savgol_filter(real, w, p, deriv=d, axis=-1)).max() <= 1e-12


@pytest.mark.parametrize("mode", ["interp", "mirror", "nearest", "constant"])
@pytest.mark.parametrize("w", [1, 2, 4, 5, 8, 11, 12, 21])
def test_matches_scipy_every_mode_and_length(rng, mode, w):
    for p in sorted({0, min(2, w - 1), min(5, w - 1)}):  # higher orders: ill-conditioned in scipy too
        for d in sorted({0, p}):
            for B in sorted({w, w + 1, 2 * w + 3, 3 * w + 7, 64}):
                x = rng.normal(size=(3, B))
                ref = savgol_filter(x, w, p, deriv=d, delta=0.7, mode=mode, axis=-1)
                got = smooth_savgol(x, w, p, d, 0.7, mode=mode)
                scale = max(1.0, np.abs(ref).max())
                assert np.abs(got - ref).max() <= 1e-10 * scale, (w, p, d, B)


def test_operator_matrix_is_scipys(rng):
    op = savgol_operator(9, 3, 1, 2.5)
    M = op.matrix(40)
    np.testing.assert_allclose(M, savgol_filter(np.eye(40), 9, 3, deriv=1, delta=2.5, axis=-1).T, atol=1e-13)
    assert op.min_bands == 9
    with pytest.raises(InputError, match="at least 9"):
        op.matrix(8)


def test_derivative_per_nm_from_wavelengths():
    # planted: a parabola in wavelength, whose exact first derivative the filter (order 2) returns
    wl = np.linspace(1000.0, 2500.0, 151)  # 10 nm steps
    s = 0.2 + 3e-4 * (wl - 1000.0) - 1e-7 * (wl - 1000.0) ** 2
    d1 = smooth_savgol(s, 7, 2, deriv=1, wavelengths=wl)
    np.testing.assert_allclose(d1, 3e-4 - 2e-7 * (wl - 1000.0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(smooth_savgol(s, 7, 2, deriv=1), d1 * 10.0, atol=1e-12)  # default: per band
    np.testing.assert_allclose(smooth_savgol(s, 7, 2, deriv=1, delta=10.0), d1, atol=1e-15)
    with pytest.raises(InputError, match="evenly spaced"):
        smooth_savgol(s, 7, 2, deriv=1, wavelengths=np.r_[wl[:-1], wl[-1] + 50])
    with pytest.raises(InputError, match="not both"):
        smooth_savgol(s, 7, 2, deriv=1, delta=10.0, wavelengths=wl)


def test_propagate_nan_touches_only_windows_reading_it(real):
    w, h = 11, 5
    x = real[:5].copy()
    k = 100
    x[:, k] = np.nan
    got = smooth_savgol(x, w, 2)
    hit = np.zeros(270, bool)
    hit[k - h:k + h + 1] = True
    assert np.isnan(got[:, hit]).all() and np.isfinite(got[:, ~hit]).all()
    ref = savgol_filter(real[:5], w, 2, axis=-1)
    assert np.abs(got[:, ~hit] - ref[:, ~hit]).max() <= 1e-12
    # near an edge, the edge polynomial reads the first window_length bands: all edge bands become NaN too
    x = real[:2].copy()
    x[:, 8] = np.nan
    got = smooth_savgol(x, w, 2)
    assert np.isnan(got[:, :14]).all() and np.isfinite(got[:, 14:]).all()


def test_interpolate_policy_bridges_gaps_and_restores_nan(rng):
    # planted: a straight line (kept exactly by any filter of order >= 1, and by linear gap bridging) with an
    # inner gap of 4 bands, a leading run of 3 and a trailing run of 2 missing bands
    B = 80
    line = 0.3 + 0.002 * np.arange(B)
    x = np.tile(line, (3, 1))
    missing = np.zeros(B, bool)
    missing[[0, 1, 2, 40, 41, 42, 43, 78, 79]] = True
    x[:, missing] = np.nan
    got = smooth_savgol(x, 9, 2, nan_policy="interpolate")
    assert np.array_equal(np.isnan(got), np.broadcast_to(missing, got.shape))
    np.testing.assert_allclose(got[:, ~missing], x[:, ~missing], atol=1e-13)
    # With propagate the gap costs a window on each side instead
    prop = smooth_savgol(x, 9, 2)
    assert np.isnan(prop).sum() > np.isnan(got).sum()
    # A noisy spectrum with one inner gap: finite bands equal scipy on the linearly bridged spectrum
    y = rng.normal(size=B)
    y[30:33] = np.nan
    bridged = y.copy()
    bridged[30:33] = np.interp([30, 31, 32], [29, 33], [y[29], y[33]])
    got = smooth_savgol(y, 7, 3, nan_policy="interpolate")
    ref = savgol_filter(bridged, 7, 3)
    keep = np.isfinite(y)
    np.testing.assert_allclose(got[keep], ref[keep], atol=1e-12)
    # Fewer finite bands in the span than the window: all NaN
    z = np.full(B, np.nan)
    z[10:15] = 1.0
    assert np.isnan(smooth_savgol(z, 9, 2, nan_policy="interpolate")).all()


def test_float32_in_float32_out(real):
    x = real[:50].astype(np.float32)
    got = smooth_savgol(x, 11, 2)
    assert got.dtype == np.float32
    assert np.abs(got - savgol_filter(x.astype(np.float64), 11, 2)).max() <= 1e-6


def test_any_leading_shape_and_out(real):
    flat = smooth_savgol(real[:24], 11, 2)
    np.testing.assert_array_equal(smooth_savgol(real[:24].reshape(4, 6, 270), 11, 2).reshape(24, 270), flat)
    np.testing.assert_array_equal(smooth_savgol(real[3], 11, 2), flat[3])
    assert smooth_savgol(np.empty((0, 270)), 11, 2).shape == (0, 270)
    x = real[:24].copy()
    smooth_savgol(x, 11, 2, out=x)  # in place
    np.testing.assert_array_equal(x, flat)
    strided = np.empty((24, 540))[:, ::2]
    smooth_savgol(real[:24], 11, 2, out=strided)
    np.testing.assert_array_equal(strided, flat)


@pytest.mark.parametrize("kw,match", [
    (dict(window_length=5, polyorder=5), "polyorder"),
    (dict(window_length=5, polyorder=2, deriv=3), "deriv"),
    (dict(window_length=5.5, polyorder=2), "integers"),
    (dict(window_length=0, polyorder=0), "positive"),
    (dict(window_length=5, polyorder=2, mode="wrap"), "mode"),
    (dict(window_length=5, polyorder=2, nan_policy="omit"), "nan_policy"),
    (dict(window_length=5, polyorder=2, delta=0.0), "delta"),
    (dict(window_length=31, polyorder=2), "at least 31"),
])
def test_errors(kw, match):
    with pytest.raises(InputError, match=match):
        smooth_savgol(np.ones((2, 30)), **kw)
