"""``hsimin explain``: one pixel of the sample tray, a PNG and a JSON of the attribution per wavelength."""
import json

import numpy as np
import pytest
import torch

from hsimin.cli import main
from hsimin.io import open_cube
from hsimin.models import create_model, save_model
from hsimin.samples import tray_path

pytest.importorskip("captum")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    cube = open_cube(tray_path())
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [8]}, "in_bands": cube.shape[2],
                          "num_outputs": 3, "patch_size": 1})
    path = tmp_path_factory.mktemp("m") / "m.pt"
    save_model(model, path, wavelengths=cube.wavelengths, class_names=["kaolinite", "white_mica", "calcite"])
    return str(path)


@pytest.mark.parametrize("method", ["ig", "saliency", "occlusion"])
def test_explain_writes_png_and_json(tmp_path, model_path, method, capsys):
    out = tmp_path / "why.png"
    rc = main(["explain", str(tray_path()), "--model", model_path, "--pixel", "100,20", "--method", method,
               "--target", "calcite", "--steps", "8", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    rec = json.loads(out.with_suffix(".json").read_text())
    assert rec["method"] == method and rec["pixel"] == [100, 20] and rec["target_name"] == "calcite"
    assert len(rec["attribution"]) == len(rec["wavelengths_nm"]) == 270
    assert rec["wavelengths_nm"][0] == pytest.approx(1000.0) and np.isfinite(rec["attribution"]).all()
    assert sum(rec["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert f"{method} attribution of pixel (100, 20)" in capsys.readouterr().out


def test_explain_errors_are_one_line(tmp_path, model_path, capsys):
    out = tmp_path / "why.png"
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "999,0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hsimin: error:") and "outside" in err and len(err.strip().splitlines()) == 1
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "1;2", "-o", str(out)]) == 2
    assert "ROW,COL" in capsys.readouterr().err
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "1,2", "--target", "talc",
                 "-o", str(out)]) == 2
    assert "not one of the model's classes" in capsys.readouterr().err
    out.write_bytes(b"x")
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "1,2", "-o", str(out)]) == 2
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "1,2", "-o", str(out),
                 "--overwrite"]) == 0
    assert main(["explain", str(tray_path()), "--model", model_path, "--pixel", "1,2", "-o",
                 str(tmp_path / "why.jpg")]) == 2
