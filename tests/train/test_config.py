"""Training configs: the example parses, errors name the key, the resolved TOML reads back to the same config."""
import tomllib
from pathlib import Path

import pytest

from hsimin.core.errors import ConfigError
from hsimin.train.config import config_to_json, config_to_toml, load_config, parse_config, toml_dumps

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "example_train.toml"
MINIMAL = {"data": {"library": [{"id": "usgs_splib07"}]}, "model": {"backbone": "cnn1d"}}


def test_example_config_parses():
    cfg = load_config(EXAMPLE)
    assert cfg.data.libraries[0].exclude_sample_tray and cfg.data.grid.sample_tray
    assert cfg.split.kind == "group" and cfg.model.spec["backbone"]["name"] == "cnn1d"
    assert cfg.recipe["steps"][0]["step"] == "continuum_removal"
    assert set(cfg.augment) == {"mixing", "shift", "slope", "brightness", "noise"}
    assert Path(cfg.output.dir).is_absolute() and cfg.source == str(EXAMPLE.resolve())


def test_resolved_toml_reads_back_to_the_same_config(tmp_path):
    cfg = load_config(EXAMPLE)
    text = config_to_toml(cfg)
    again = parse_config(tomllib.loads(text), tmp_path)
    assert again.to_dict() == {**cfg.to_dict(), "source": None}
    assert '"optim"' in config_to_json(cfg)


def test_defaults_fill_a_minimal_config(tmp_path):
    cfg = parse_config(MINIMAL, tmp_path)
    assert cfg.optim.epochs == 30 and cfg.split.kind == "group" and cfg.augment == {}
    assert cfg.output.dir == str(tmp_path.resolve() / "runs" / "train")


@pytest.mark.parametrize("patch,key", [
    ({"optim": {"lrr": 1e-3}}, "optim.lrr"),
    ({"optim": {"lr": "fast"}}, "optim.lr"),
    ({"optim": {"lr": -1.0}}, "optim.lr"),
    ({"optim": {"schedule": "step"}}, "optim.schedule"),
    ({"split": {"kind": "pixels"}}, "split.kind"),
    ({"split": {"test_fraction": 0.0}}, "split.test_fraction"),
    ({"augment": {"noise": {"snrr": 3}}}, "augment.noise.snrr"),
    ({"augment": {"blur": {}}}, "augment.blur"),
    ({"model": {"backbone": "cnn1d", "in_bands": 5}}, "model.in_bands"),
    ({"data": {"library": [{"id": "usgs_splib07", "purty": "a"}]}}, "data.library[0].purty"),
    ({"data": {"library": [{}], "grid": {"start": 1000.0}}}, "data.grid"),
    ({"data": {}}, "data"),
    ({"dann": {"enabled": True}}, "dann.enabled"),
    ({"ssl": {"temperature": 0}}, "ssl.temperature"),
    ({"recipe": {"steps": [{"step": "nope"}]}}, "recipe"),
    ({"seeds": 3}, "seeds"),
])
def test_errors_name_the_key(tmp_path, patch, key):
    raw = {**MINIMAL, **patch}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, tmp_path)
    assert str(err.value).startswith(key)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim\nlr = 1")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.path == str(bad) and "TOML" in str(err.value)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[data]\n[[data.library]]\nid = "x"\n[model]\nbackbone = "cnn1d"\n[optim]\nepochz = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(wrong)
    assert str(err.value) == f"{wrong}: optim.epochz: unknown key; known keys here: " + \
        "balance, batch_size, epochs, grad_clip, label_smoothing, lr, min_delta, monitor, patience, schedule, " \
        "warmup_epochs, weight_decay"


def test_toml_dumps_round_trip():
    d = {"a": 1, "b": [1.5, 2.0], "s": 'quote "x"', "t": {"u": True, "v": None, "w": {"x": "y"}},
         "arr": [{"p": 1}, {"p": 2, "q": [3]}], "inline": {"k": [1, 2]}}
    back = tomllib.loads(toml_dumps(d))
    assert back == {"a": 1, "b": [1.5, 2.0], "s": 'quote "x"', "t": {"u": True, "w": {"x": "y"}},
                    "arr": [{"p": 1}, {"p": 2, "q": [3]}], "inline": {"k": [1, 2]}}
