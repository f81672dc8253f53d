"""Recipe: steps as data (registry, validation naming the step and parameter), exact dict/JSON/TOML round
trips, apply == the functions chained by hand, output bands, and block-by-block application to a Cube."""
from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from hsimin.core import ConfigError, Cube, InputError
from hsimin.core.blocks import Block
from hsimin.preprocess import (STEPS, BandWindow, ContinuumRemoval, DropBadBands, Normalise, Recipe, RemoveBands,
                               RemoveWaterBands, Resample, Savgol, Step, band_window, normalise_brightness,
                               register_step, remove_continuum, resample, smooth_savgol)

WL = np.linspace(900.0, 2600.0, 200)


def spectra(rng, shape):
    """Smooth reflectance-like spectra with two planted absorptions (2200 and 2330 nm) and noise."""
    base = 0.4 + 0.1 * np.sin(WL / 300.0)
    feat = 1 - 0.15 * np.exp(-0.5 * ((WL - 2200) / 15) ** 2) - 0.1 * np.exp(-0.5 * ((WL - 2330) / 20) ** 2)
    X = base * feat * rng.uniform(0.7, 1.3, shape + (1,)) + rng.normal(0, 1e-3, shape + (WL.size,))
    return X


def full_recipe():
    return Recipe([BandWindow(1000, 2500), DropBadBands(), RemoveWaterBands(), RemoveBands([(1000, 1020)]),
                   Savgol(9, 2, nan_policy="interpolate"), ContinuumRemoval(window=(1100.0, 2480.0)),
                   Normalise("l2"), Resample(np.arange(1200.0, 2401.0, 20.0), 12.0, use_source_fwhm=True)])


def test_registry_names():
    assert {"band_window", "drop_bad_bands", "remove_bands", "remove_water_bands", "savgol", "continuum_removal",
            "resample", "normalise"} <= set(STEPS)
    for name, cls in STEPS.items():
        assert cls.name == name and issubclass(cls, Step)


def test_round_trips_are_exact():
    r = full_recipe()
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d                     # plain JSON-able
    assert Recipe.from_dict(d) == r
    assert Recipe.from_dict(json.loads(r.to_json())) == r
    assert Recipe.from_toml(r.to_toml()) == r
    assert Recipe.from_toml(r.to_toml()).to_dict() == d
    assert tomllib.loads(r.to_toml())["steps"][0] == {"step": "band_window", "lo_nm": 1000.0, "hi_nm": 2500.0}
    assert r.fingerprint() == Recipe.from_toml(r.to_toml()).fingerprint()
    assert r.fingerprint() != Recipe(r.steps[:-1]).fingerprint()
    # awkward floats survive TOML (shortest repr, exponents)
    odd = Recipe([BandWindow(1e-05, 1234.5678901234567), Resample([0.1, 1 / 3, 2e20])])
    assert Recipe.from_toml(odd.to_toml()) == odd
    # None parameters are left out of TOML and come back as their default
    assert "window" not in Recipe([ContinuumRemoval()]).to_toml()
    assert Recipe.from_toml(Recipe([ContinuumRemoval()]).to_toml()) == Recipe([ContinuumRemoval()])


def test_parameters_are_normalised_for_equality():
    assert Savgol(11.0, 2) == Savgol(11, 2)
    assert BandWindow(1000, 2500).to_dict() == {"step": "band_window", "lo_nm": 1000.0, "hi_nm": 2500.0}
    assert RemoveBands([[1, 2]]) == RemoveBands(((1.0, 2.0),))
    assert Resample([1000, 1010], 5).target_fwhm == (5.0, 5.0)


def test_apply_equals_functions_chained_by_hand(rng):
    X = spectra(rng, (4, 5))
    r = Recipe([BandWindow(1000, 2500), Savgol(11, 2), ContinuumRemoval(), Normalise("max")])
    got, wl = r.apply(X, WL)
    Y, w = band_window(X, WL, 1000, 2500)
    Y = normalise_brightness(remove_continuum(smooth_savgol(Y, 11, 2), w), "max", w)
    np.testing.assert_array_equal(got, Y)
    np.testing.assert_array_equal(wl, w)
    np.testing.assert_array_equal(r.output_wavelengths(WL), w)


def test_band_steps_update_fwhm_and_bad_bands(rng):
    X = spectra(rng, (6,))
    fwhm = np.linspace(8, 12, WL.size)
    bad = np.zeros(WL.size, bool)
    bad[[60, 61]] = True
    r = Recipe([BandWindow(1000, 2500), DropBadBands(), RemoveWaterBands()])
    Y, b = r.transform(X, WL, fwhm, bad)
    keep = (WL >= 1000) & (WL <= 2500) & ~bad & ~(((WL >= 1340) & (WL <= 1460)) | ((WL >= 1790) & (WL <= 1960)))
    np.testing.assert_array_equal(b.wavelengths, WL[keep])
    np.testing.assert_array_equal(b.fwhm, fwhm[keep])
    assert not b.bad_bands.any() and b.bad_bands.size == keep.sum()
    np.testing.assert_array_equal(Y, X[:, keep])
    assert r.output_bands(WL, fwhm, bad).wavelengths.size == keep.sum()
    # without flags, drop_bad_bands keeps everything; integer indices work as flags too
    assert Recipe([DropBadBands()]).apply(X, WL)[0].shape == X.shape
    assert Recipe([DropBadBands()]).apply(X, WL, bad_bands=[60, 61])[0].shape == (6, WL.size - 2)


def test_resample_step_uses_source_fwhm_when_asked(rng):
    X = spectra(rng, (3,))
    fwhm = np.full(WL.size, 9.0)
    target = np.arange(1000.0, 2501.0, 25.0)
    got, wl = Recipe([Resample(target, 20.0, use_source_fwhm=True)]).apply(X, WL, fwhm)
    np.testing.assert_array_equal(got, resample(X, WL, target, np.full(target.size, 20.0), source_fwhm=fwhm))
    got2, _ = Recipe([Resample(target, 20.0)]).apply(X, WL, fwhm)
    np.testing.assert_array_equal(got2, resample(X, WL, target, np.full(target.size, 20.0)))
    assert not np.array_equal(got, got2)
    np.testing.assert_array_equal(wl, target)
    assert Recipe([Resample(target, 20.0)]).output_bands(WL).fwhm.tolist() == [20.0] * target.size


def test_apply_cube_streams_blocks_equal_to_whole_array(rng):
    data = spectra(rng, (7, 5)).astype(np.float32)
    mask = rng.random((7, 5)) > 0.3
    fwhm = np.full(WL.size, 10.0)
    cube = Cube(data, WL, fwhm=fwhm, mask=mask)
    r = full_recipe()
    whole, wl = r.apply(data, WL, fwhm)
    blocks = list(r.apply_cube(cube, lines=3))
    assert [b.rows for b in blocks] == [slice(0, 3), slice(3, 6), slice(6, 7)]
    assert all(isinstance(b, Block) and b.data.dtype == np.float32 for b in blocks)
    got = np.concatenate([b.data for b in blocks])
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b.mask for b in blocks]), mask)
    # masked_only: background pixels are NaN, core pixels the same numbers
    got = np.concatenate([b.data for b in r.apply_cube(cube, lines=2, masked_only=True)])
    assert np.isnan(got[~mask]).all()
    np.testing.assert_allclose(got[mask], whole[mask], rtol=0, atol=1e-6)
    assert got.shape[-1] == wl.size == r.output_wavelengths(WL).size


@pytest.mark.parametrize("d,match", [
    ({"steps": [{"step": "smooth"}]}, r"step 1: unknown step 'smooth'; known steps: absorbance, band_window"),
    ({"steps": [{"step": "band_window", "lo_nm": 1000, "hi_nm": 2500}, {"step": "savgol", "window_length": 5,
                                                                        "polyorder": 5}]},
     r"step 2 \(savgol\): polyorder: must be less than window_length"),
    ({"steps": [{"step": "savgol", "window_length": 5, "polyorder": 2, "deriv": 3}]}, r"\(savgol\): deriv"),
    ({"steps": [{"step": "savgol", "window_length": "11", "polyorder": 2}]}, r"window_length: must be an integer"),
    ({"steps": [{"step": "savgol", "window_length": 11}]}, r"\(savgol\): .*polyorder"),
    ({"steps": [{"step": "savgol", "window_length": 11, "polyorder": 2, "width": 3}]},
     r"unknown parameter\(s\) width; savgol takes window_length, polyorder"),
    ({"steps": [{"step": "band_window", "lo_nm": 2500, "hi_nm": 1000}]}, r"hi_nm: must be above lo_nm"),
    ({"steps": [{"step": "normalise", "method": "median"}]}, r"\(normalise\): method: must be one of"),
    ({"steps": [{"step": "continuum_removal", "mode": "convex"}]}, r"mode: must be one of 'quotient'"),
    ({"steps": [{"step": "remove_bands", "windows": [[1, 2, 3]]}]}, r"\(remove_bands\): windows"),
    ({"steps": [{"step": "resample", "target_wavelengths": [2000, 1000]}]}, r"target_wavelengths.*increasing"),
    ({"steps": [{"step": "resample", "target_wavelengths": [1000, 2000], "target_fwhm": [5]}]},
     r"target_fwhm: has 1 values for 2 target bands"),
    ({"steps": [{"step": "savgol", "window_length": 5, "polyorder": 2, "per_nm": "yes"}]}, r"per_nm: must be true"),
    ({"hsimin_recipe": 2, "steps": []}, r"version 2 is not supported"),
    ({"steps": [], "extra": 1}, r"unknown recipe key\(s\) extra"),
    ({"steps": {"step": "savgol"}}, r"'steps' must be a list"),
    ({"steps": ["savgol"]}, r"step 1: must be a table"),
])
def test_validation_names_step_and_parameter(d, match):
    with pytest.raises(ConfigError, match=match):
        Recipe.from_dict(d)


def test_bad_toml_and_bad_steps():
    with pytest.raises(ConfigError, match="not valid TOML"):
        Recipe.from_toml("[[steps]\nstep = 1")
    with pytest.raises(ConfigError, match="not a registered recipe step"):
        Recipe([lambda x: x])


def test_errors_at_apply_time_name_the_step(rng):
    X = spectra(rng, (2,))
    with pytest.raises(ConfigError, match=r"'band_window': band window 3000-4000 nm holds no band"):
        Recipe([BandWindow(3000, 4000)]).apply(X, WL)
    with pytest.raises(ConfigError, match=r"'savgol': .*needs at least 51"):
        Recipe([BandWindow(1000, 1100), Savgol(51, 2)]).apply(X, WL)
    with pytest.raises(ConfigError, match="every band is flagged bad"):
        Recipe([DropBadBands()]).apply(X, WL, bad_bands=np.ones(WL.size, bool))
    with pytest.raises(InputError, match="200 wavelengths"):
        Recipe([]).apply(X[:, :10], WL)


def test_a_new_step_is_one_registered_class(rng):
    @register_step("test_scale_by_two")
    class ScaleByTwo(Step):
        def apply(self, spectra, b):
            return spectra * 2.0

    try:
        r = Recipe.from_dict({"steps": [{"step": "test_scale_by_two"}]})
        X = spectra(rng, (2,))
        np.testing.assert_array_equal(r.apply(X, WL)[0], 2 * X)
        assert Recipe.from_toml(r.to_toml()) == r
        with pytest.raises(ValueError, match="registered already"):
            register_step("savgol")(ScaleByTwo)
    finally:
        STEPS.pop("test_scale_by_two", None)
