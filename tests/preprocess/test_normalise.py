"""Brightness normalisation: each method's statistic on planted spectra, NaN handling, dtypes, shapes."""
from __future__ import annotations

import numpy as np
import pytest

from hsimin.core import InputError
from hsimin.preprocess import brightness, normalise_brightness


def test_methods_take_out_a_planted_brightness_factor(rng):
    # planted: one shape times brightness factors 0.1-2; every method must give the same normalised spectrum
    wl = np.linspace(1000, 2500, 100)
    shape = 0.5 + 0.2 * np.sin(wl / 200.0)
    X = shape[None, :] * rng.uniform(0.1, 2.0, (20, 1))
    for method in ("max", "mean", "l2", "area"):
        Y = normalise_brightness(X, method, wl)
        np.testing.assert_allclose(Y, np.broadcast_to(Y[0], Y.shape), rtol=1e-12)
    np.testing.assert_allclose(normalise_brightness(X, "max").max(axis=1), 1.0)
    np.testing.assert_allclose(normalise_brightness(X, "mean").mean(axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(normalise_brightness(X, "l2"), axis=1), 1.0)
    Y = normalise_brightness(X, "area", wl)
    np.testing.assert_allclose(np.trapezoid(Y, wl, axis=1) / (wl[-1] - wl[0]), 1.0)


def test_area_uses_wavelength_spacing():
    wl = np.array([1000.0, 1001.0, 1002.0, 2000.0])  # uneven: the last step dominates the area
    s = np.array([1.0, 1.0, 1.0, 3.0])
    expected = np.trapezoid(s, wl) / (wl[-1] - wl[0])
    assert brightness(s, "area", wl) == pytest.approx(expected)
    assert brightness(s, "area") == pytest.approx(np.trapezoid(s) / 3.0)  # band index without wavelengths


def test_nan_bands_ignored_and_kept_nan():
    s = np.array([0.2, np.nan, 0.4, np.inf, 0.8])
    y = normalise_brightness(s, "max")
    np.testing.assert_allclose(y[[0, 2, 4]], [0.25, 0.5, 1.0])
    assert np.isnan(y[[1, 3]]).all()
    assert brightness(s, "mean") == pytest.approx((0.2 + 0.4 + 0.8) / 3)
    # area bridges the gap linearly: trapezoids between consecutive finite bands
    wl = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert brightness(s, "area", wl) == pytest.approx((0.5 * (0.2 + 0.4) * 2 + 0.5 * (0.4 + 0.8) * 2) / 4)


def test_unnormalisable_spectra_are_nan():
    X = np.array([[np.nan, np.nan], [0.0, 0.0], [-1.0, -0.5], [0.5, 1.0]])
    for method in ("max", "mean", "l2", "area"):
        Y = normalise_brightness(X, method)
        assert np.isnan(Y[:3]).all() if method != "l2" else np.isnan(Y[:2]).all()
        assert np.isfinite(Y[3]).all()


def test_dtypes_shapes_errors(rng):
    X = rng.uniform(0.1, 1, (2, 3, 7)).astype(np.float32)
    Y = normalise_brightness(X, "l2")
    assert Y.dtype == np.float32 and Y.shape == X.shape
    assert brightness(X, "l2").shape == (2, 3)
    assert normalise_brightness(np.arange(1, 5), "max").dtype == np.float64
    with pytest.raises(InputError, match="method"):
        normalise_brightness(X, "median")
