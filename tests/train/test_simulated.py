"""[[data.simulated]]: scanner-like spectra simulated from the library as a training source (small and seeded)."""
import tomllib
from pathlib import Path

import numpy as np
import pytest

from hsimin.core.errors import ConfigError
from hsimin.samples import TRAY_SAMPLE_IDS
from hsimin.train.config import config_to_toml, load_config, parse_config
from hsimin.classical.interpretation import swir_aspectral
from hsimin.train.simulated import (ASPECTRAL_CLASS, SimulatedSource, parse_simulated,
                                    simulated_samples)

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("kaolinite", "white_mica", "calcite", "aspectral")
WL = np.arange(1300.0, 2481.0, 8.0)


@pytest.fixture(scope="module")
def small():
    src = SimulatedSource(n=600, seed=3, fwhm=(10.0, 14.0), params={"max_dilution": 0.9})
    return simulated_samples(src, WL, np.full(WL.size, 12.0), CLASSES, seed=7)


def test_simulated_samples_are_labelled_seeded_and_tray_free(small):
    s = small
    assert s.x.shape == (600, WL.size) and s.class_names == CLASSES and np.isfinite(s.x).all()
    names = np.asarray(CLASSES)[s.y]
    assert set(names) == set(CLASSES)                                      # every class drawn
    assert 0.1 < np.mean(names == ASPECTRAL_CLASS) < 0.5                    # planted + by the noise test
    info = s.info["simulated"]
    assert info["planted_aspectral"] + info["aspectral_by_noise_test"] == int(np.sum(names == ASPECTRAL_CLASS))
    assert set(info["excluded_samples"]) <= set(TRAY_SAMPLE_IDS) and info["excluded_samples"]
    assert not set(s.groups) & set(TRAY_SAMPLE_IDS)                        # the tray's samples never drawn
    again = simulated_samples(SimulatedSource(n=600, seed=3, fwhm=(10.0, 14.0), params={"max_dilution": 0.9}),
                              WL, np.full(WL.size, 12.0), CLASSES, seed=7)
    np.testing.assert_array_equal(again.x, s.x)
    np.testing.assert_array_equal(again.y, s.y)


def test_the_aspectral_label_is_the_library_paths_noise_test():
    """A deep kaolinite is not aspectral; the same spectrum diluted to a 0.3 % feature under noise is."""
    from hsimin import load_library
    lib = load_library("usgs_splib07", minerals=["kaolinite"], wavelengths=WL, fwhm=np.full(WL.size, 12.0))
    r = np.asarray(lib.spectra, np.float64)
    r = r[np.isfinite(r).all(axis=1)][0]
    faint = 0.5 * (0.99 + 0.01 * r / r.max())
    rng = np.random.default_rng(0)
    X = np.vstack([r, faint + rng.normal(0, 0.003, WL.size)])
    np.testing.assert_array_equal(swir_aspectral(X, WL, np.full(WL.size, 12.0)), [False, True])


def test_parse_simulated_names_bad_keys():
    assert parse_simulated({"n": 5, "fwhm": 11}, "data.simulated[0]").fwhm == (11.0,)
    for raw, key in (({"nn": 5}, "data.simulated[0].nn"), ({"n": 0}, "data.simulated[0].n"),
                     ({"fwhm": [-1]}, "data.simulated[0].fwhm"),
                     ({"params": {"sensor_wavelengths": [1]}}, "data.simulated[0].params.sensor_wavelengths"),
                     ({"params": {"max_dilutin": 0.5}}, "data.simulated[0].params.max_dilutin")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            parse_simulated(raw, "data.simulated[0]")


def test_a_config_with_simulated_data_parses_and_reads_back(tmp_path):
    raw = {"data": {"classes": list(CLASSES), "grid": {"start": 1300.0, "stop": 2480.0, "step": 8.0, "fwhm": 12.0},
                    "simulated": [{"n": 100, "params": {"max_water": 0.5}}]},
           "model": {"backbone": {"name": "fastspec", "widths": [8, 4]}}}
    cfg = parse_config(raw, tmp_path)
    assert cfg.data.simulated[0].n == 100 and cfg.data.simulated[0].params == {"max_water": 0.5}
    again = parse_config(tomllib.loads(config_to_toml(cfg)), tmp_path)
    assert again.data.simulated == cfg.data.simulated


def test_the_shipped_models_configs_parse():
    for name in ("default_model.toml", "default_model_heldout.toml"):
        cfg = load_config(ROOT / "configs" / name)
        assert cfg.data.simulated and ASPECTRAL_CLASS in cfg.data.classes
        assert cfg.data.simulated[0].exclude_sample_tray and cfg.threads == 1


def test_hsimin_train_runs_on_simulated_spectra(tmp_path):
    from hsimin.models import load_model
    from hsimin.train import run_training
    raw = {"seed": 1, "threads": 1,
           "data": {"classes": list(CLASSES), "grid": {"start": 1300.0, "stop": 2480.0, "step": 8.0, "fwhm": 12.0},
                    "simulated": [{"n": 400}]},
           "recipe": {"hsimin_recipe": 1, "steps": [{"step": "continuum_removal"}]},
           "model": {"backbone": {"name": "fastspec", "widths": [16], "normalize": False}},
           "split": {"kind": "random", "test_fraction": 0.2, "val_fraction": 0.0},
           "optim": {"epochs": 2, "batch_size": 64},
           "output": {"dir": str(tmp_path / "run"), "progress": "off"}}
    res = run_training(parse_config(raw, tmp_path), log=None)
    lm = load_model(res.checkpoint)
    assert tuple(lm.class_names) == CLASSES and lm.wavelengths.size == WL.size
    assert res.metrics["n_train"] + res.metrics["n_test"] == 400
