"""Apparent absorbance and its recipe step (the worked example of docs/howto_add_preprocessing_step.md)."""
import numpy as np
import pytest

from hsimin.core.errors import ConfigError, InputError
from hsimin.preprocess import Absorbance, Recipe, to_absorbance


def test_values_and_bases():
    R = np.array([1.0, 0.1, 0.01, np.exp(-2.0)])
    np.testing.assert_allclose(to_absorbance(R)[:3], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(to_absorbance(R, "e")[3], 2.0)


def test_brightness_becomes_an_offset():
    # the reason to work in absorbance: R * b -> A - log10(b), the same for every band
    rng = np.random.default_rng(0)
    R = rng.uniform(0.05, 0.9, (5, 30))
    d = to_absorbance(R * 0.4) - to_absorbance(R)
    np.testing.assert_allclose(d, -np.log10(0.4) * np.ones_like(d))


def test_non_positive_and_nan_give_nan_and_dtype_is_kept():
    R = np.array([[0.5, 0.0, -0.1, np.nan, np.inf]], np.float32)
    A = to_absorbance(R)
    assert A.dtype == np.float32 and A.shape == R.shape
    assert np.isfinite(A[0, 0]) and np.isnan(A[0, 1:4]).all() and A[0, 4] == -np.inf
    assert to_absorbance(np.array([1, 10], np.uint16)).dtype == np.float64


def test_in_place():
    R = np.array([[0.1, 1.0]])
    out = to_absorbance(R, out=R)
    assert out is R and np.allclose(R, [[1.0, 0.0]])


def test_bad_base():
    with pytest.raises(InputError, match="base"):
        to_absorbance([0.5], "2")
    with pytest.raises(ConfigError, match="recipe step 'absorbance': base"):
        Absorbance("2")


def test_recipe_step_round_trips_and_applies():
    r = Recipe.from_dict({"hsimin_recipe": 1, "steps": [{"step": "band_window", "lo_nm": 1000.0, "hi_nm": 2000.0},
                                                         {"step": "absorbance", "base": "e"}]})
    assert Recipe.from_toml(r.to_toml()) == r and r.steps[1] == Absorbance("e")
    wl = np.linspace(900.0, 2100.0, 13)
    X = np.full((2, 13), 0.5)
    Y, wl2 = r.apply(X, wl)
    assert Y.shape == (2, 11) and np.allclose(Y, np.log(2.0)) and wl2[0] == 1000.0
