"""A whole config-driven run on synthetic trays written to disk: the run folder, the split reporting, the
checkpoint, SSL + DANN options, and ``hsimin train`` on the command line."""
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from hsimin.cli import main
from hsimin.core import MineralMap
from hsimin.io import save_cube, save_map
from hsimin.models import load_model
from hsimin.testing import make_tray, swir_wavelengths
from hsimin.train.config import load_config, parse_config
from hsimin.train.loop import predict_samples
from hsimin.train.run import run_training

WL = swir_wavelengths(24)
CLASSES = {"a": [(1400.0, 0.5, 80.0)], "b": [(1900.0, 0.5, 80.0)], "c": [(2300.0, 0.5, 80.0)]}


def _write_tray(folder: Path, name: str, seed: int) -> tuple[str, str]:
    t = make_tray((64, 14), WL, seed=seed, classes=CLASSES, n_sticks=2, tray_id=name)
    cube, lab = folder / f"{name}.h5", folder / f"{name}_labels.h5"
    save_cube(t.cube, cube)
    save_map(MineralMap(t.labels, t.class_names), lab)
    return str(cube), str(lab)


@pytest.fixture(scope="module")
def trays(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trays")
    return [_write_tray(folder, f"T{i}", seed=i) for i in range(4)]


def _config(trays, kind="spatial_block", patch=3, **extra):
    model = ({"backbone": {"name": "cnn2d", "reduce_to": 4, "widths": [8, 8]}} if patch > 1 else
             {"backbone": {"name": "fastspec", "widths": [16, 8]}})
    raw = {"seed": 1, "threads": 1,
           "data": {"patch_size": patch, "max_per_class": 60,
                    "cube": [{"path": c, "labels": lab} for c, lab in trays]},
           "recipe": {"steps": [{"step": "normalise", "method": "max"}]},
           "model": model,
           "split": {"kind": kind, "test_fraction": 0.25, "val_fraction": 0.2, "block_size": 8},
           "augment": {"brightness": {"low": 0.9, "high": 1.1}, "noise": {"snr": 200.0}},
           "optim": {"epochs": 3, "batch_size": 32, "lr": 5e-3, "patience": 5},
           "output": {"progress": False}}
    for k, v in extra.items():
        raw[k] = {**raw.get(k, {}), **v}
    return raw


def test_spatial_block_run_writes_the_run_folder(tmp_path, trays, capsys):
    cfg = parse_config(_config(trays[:1]), tmp_path)
    res = run_training(cfg, tmp_path / "run")
    out = capsys.readouterr().out
    assert "spatial_block split" in out and "optimistic" not in out and "test: OA" in out
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert files == {"config.toml", "config.json", "history.json", "metrics.json", "per_class.csv", "confusion.csv",
                     "confusion.png", "curves.png", "model.pt"}
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["split_kind"] == "spatial_block" and m["optimistic"] is False and m["split"]["gap"] == 1
    assert 0.0 <= m["test"]["oa"] <= 1.0 and m["test"]["n"] == m["n_test"] > 0
    assert len(m["test"]["confusion"]) == len(m["class_names"]) and set(m["class_names"]) <= {"a", "b", "c"}
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(hist) == 3 and {"train_loss", "val_loss", "train_acc", "val_acc", "lr"} <= set(hist[0])
    for png in ("curves.png", "confusion.png"):
        assert (tmp_path / "run" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = load_config(tmp_path / "run" / "config.toml")
    assert again.to_dict() == {**cfg.to_dict(), "source": again.source}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["split"]["kind"] == "spatial_block"
    lm = load_model(tmp_path / "run" / "model.pt")
    assert lm.class_names == tuple(m["class_names"]) and np.allclose(lm.wavelengths, WL)
    assert lm.recipe == cfg.recipe and lm.patch_size == 3 and lm.extra["split"]["kind"] == "spatial_block"
    x = torch.rand(5, WL.size, 3, 3)
    assert np.allclose(predict_samples(lm.model, x), predict_samples(res.model, x), atol=1e-6)
    with pytest.raises(Exception, match="not empty"):
        run_training(cfg, tmp_path / "run")


def test_random_split_is_reported_optimistic(tmp_path, trays, capsys):
    cfg = parse_config(_config(trays[:1], kind="random", patch=1), tmp_path)
    res = run_training(cfg, tmp_path / "run")
    assert "random pixel split: optimistic" in capsys.readouterr().out
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["optimistic"] is True and m["note"] == "random pixel split: optimistic"
    assert m["split"]["description"].startswith("random pixel split: optimistic")
    assert res.metrics["split_kind"] == "random"


def test_group_split_by_tray_with_ssl_and_dann(tmp_path, trays):
    raw = _config(trays[:3], kind="group", patch=1, ssl={"enabled": True, "epochs": 2, "batch_size": 32},
                  dann={"enabled": True, "hidden": [8]})
    raw["data"]["unlabelled"] = [{"path": trays[3][0], "n": 64}]
    raw["split"]["test_fraction"] = 0.34
    raw["split"]["val_fraction"] = 0.33
    raw["split"]["stratify"] = False
    cfg = parse_config(raw, tmp_path)
    res = run_training(cfg, tmp_path / "run", log=None)
    m = res.metrics
    assert m["split_kind"] == "group" and len(m["split"]["test_groups"]) == 1
    assert m["method"] == "dann" and m["ssl_pretrained"]
    assert "domain_acc" in res.history[0]
    assert len(json.loads((tmp_path / "run" / "ssl_history.json").read_text())) == 2
    # init_from: the next run starts from this checkpoint's backbone
    raw2 = _config(trays[:1], kind="random", patch=1)
    raw2["model"]["init_from"] = str(tmp_path / "run" / "model.pt")
    res2 = run_training(parse_config(raw2, tmp_path), tmp_path / "run2", log=None)
    assert res2.extra["init_tensors"] > 0


def test_cli_train(tmp_path, trays, capsys):
    cfg_path = tmp_path / "cfg.toml"
    from hsimin.train.config import toml_dumps
    cfg_path.write_text(toml_dumps(_config(trays[:1], patch=1)))
    assert main(["train", str(cfg_path), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "test: OA" in capsys.readouterr().out
    assert (tmp_path / "out" / "model.pt").is_file()
    assert tomllib.loads((tmp_path / "out" / "config.toml").read_text())["data"]["patch_size"] == 1
    bad = tmp_path / "bad.toml"
    bad.write_text(toml_dumps({**_config(trays[:1], patch=1), "optim": {"lrr": 1}}))
    assert main(["train", str(bad), "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "optim.lrr" in err and err.startswith("hsimin: error:")


def test_an_unwritable_or_busy_run_folder_fails_before_training(tmp_path, trays, monkeypatch):
    """Output folders are checked before the work (issue 14), and a run folder in use is locked."""
    import errno
    import os

    import hsimin.train.run as run_mod
    from hsimin.core import OutputError, OutputInUseError
    from hsimin.io import atomic
    from hsimin.io.locks import FolderLock
    cfg = parse_config(_config(trays[:1]), tmp_path)
    monkeypatch.setattr(run_mod, "seed_everything", lambda *a: pytest.fail("training started before the check"))
    busy = tmp_path / "busy"
    busy.mkdir()
    with FolderLock(busy, "hsimin train"):
        with pytest.raises(OutputInUseError):
            run_training(cfg, busy, overwrite=True)

    def refuse(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="Read-only file system"):
        run_training(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
