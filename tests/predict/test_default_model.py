"""The shipped default model: a small, safe, self-describing checkpoint that classifies the bundled tray."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hsimin
from hsimin.models import default_model_path, load_model
from hsimin.predict import predict_cube
from hsimin.samples import TRAY_MINERALS, tray_path, truth_path


@pytest.fixture(scope="module")
def shipped():
    return load_model(default_model_path())


def test_checkpoint_is_small_and_plain(shipped):
    path = default_model_path()
    assert path.suffix == ".pt" and path.stat().st_size < 2 * 2**20
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert raw["format"] == "hsimin-model" and raw["sha256"] == shipped.model_hash


def test_it_describes_how_it_was_made(shipped):
    assert set(TRAY_MINERALS) <= set(shipped.class_names) and "aspectral" in shipped.class_names
    assert shipped.patch_size == 1 and shipped.spec["backbone"]["name"] == "fastspec"
    steps = [s["step"] for s in shipped.recipe["steps"]]
    assert steps == ["band_window", "continuum_removal", "absorbance", "remove_bands"]
    cfg = shipped.extra["train_config"]
    sim = cfg["data"]["simulated"][0]
    assert sim["exclude_sample_tray"] is True and sim["aspectral_test"] is True   # the tray's samples left out
    assert cfg["data"]["grid"]["step"] == 4.0 and cfg["data"]["grid"]["fwhm"] == 11.0   # the HyLogger grid
    assert shipped.extra["split"]["kind"] == "random"        # every library sample trains; see the README
    wl = shipped.wavelengths
    assert wl.min() >= 1300 and wl.max() <= 2480
    assert not ((wl >= 1880) & (wl <= 2020)).any()          # the water-band cores are no input


def test_brightness_and_slope_do_not_change_the_answer(shipped):
    """The recipe's continuum removal cancels a brightness factor exactly (resampling is linear) and a continuum
    slope nearly."""
    cube = hsimin.open_cube(tray_path())
    block = np.asarray(cube.data[100:140])
    base = predict_cube(hsimin.Cube(block, cube.wavelengths, cube.fwhm), shipped)
    ramp = (0.6 * (1 + 0.1 * (cube.wavelengths - 1750) / 750)).astype(np.float32)
    darker = predict_cube(hsimin.Cube(block * 0.5, cube.wavelengths, cube.fwhm), shipped)
    sloped = predict_cube(hsimin.Cube(block * ramp, cube.wavelengths, cube.fwhm), shipped)
    np.testing.assert_array_equal(darker.labels, base.labels)
    np.testing.assert_allclose(darker.scores, base.scores, atol=1e-4)
    assert np.mean(sloped.labels == base.labels) > 0.98


def test_it_labels_the_bundled_tray(shipped):
    cube = hsimin.open_cube(tray_path())
    truth = hsimin.open_map(truth_path())
    mm = predict_cube(cube, shipped)
    assert mm.provenance["bands"]["resampled"]               # the tray's 270 bands onto the model's HyLogger grid
    sel = truth.labels >= 0
    want = np.asarray(truth.classes, dtype=object)[truth.labels[sel]]
    got = np.asarray(mm.classes, dtype=object)[mm.labels[sel]]
    assert np.mean(got == want) >= 0.9
    assert (np.asarray(mm.confidence)[sel] > 0).all()
