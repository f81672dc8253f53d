"""``hsimin classify``: the three outputs (HDF5, ENVI Classification, PNG), refused checkpoints, one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hsimin.cli import main
from hsimin.cli.classify_commands import output_paths
from hsimin.io import open_cube, open_map
from hsimin.models import load_model
from hsimin.predict import predict_cube

WL = np.linspace(1000.0, 2500.0, 40)
NOSCREEN = ["--no-artefact-screen"]  # for the synthetic fixture spectra (see the first test)


@pytest.fixture
def model_pt(make_model_pt):
    """The conftest's tiny model, with a continuum-removal recipe (so the recipe path runs too)."""
    return make_model_pt(recipe={"hsimin_recipe": 1, "steps": [{"step": "continuum_removal", "mode": "quotient",
                                                                 "window": None}]})


def _one_line_error(err: str, name: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("hsimin: error:") and name in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_classify_writes_hdf5_envi_and_png(tmp_path, cube_hdr, model_pt, capsys):
    out = tmp_path / "map.h5"
    # NOSCREEN: the fixture's spectra are single Gaussian dips, not minerals; the tray-artefact screen (tested
    # on the real sample tray below) would rightly call most of them "not like any mineral"
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(out), *NOSCREEN]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""                                 # no progress bar off a terminal
    assert "map.h5" in captured.out and "35 of 35 pixels classified" in captured.out
    mm = open_map(out)
    want = predict_cube(open_cube(cube_hdr), load_model(model_pt))
    np.testing.assert_array_equal(mm.labels, want.labels)
    np.testing.assert_allclose(mm.scores, want.scores, rtol=1e-6)
    assert mm.classes == ("kaolinite", "calcite", "white_mica") and mm.confidence.shape == (7, 5)
    assert mm.produced_by == load_model(model_pt).model_hash
    assert mm.provenance["model_path"].endswith("tiny.pt")
    envi = open_map(tmp_path / "map_classes.hdr")
    np.testing.assert_array_equal(envi.labels, mm.labels)
    assert list(envi.classes) == list(mm.classes)
    assert (tmp_path / "map_classes.img").is_file()
    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_threshold_and_existing_outputs(tmp_path, cube_hdr, model_pt, capsys):
    out = tmp_path / "map.h5"
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(out), "--threshold", "1",
                 "--no-png", "--no-envi"]) == 0
    assert (open_map(out).labels == -1).all()
    assert not (tmp_path / "map.png").exists() and not (tmp_path / "map_classes.hdr").exists()
    capsys.readouterr()
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(out)]) == 2
    _one_line_error(capsys.readouterr().err, "map.h5")
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(out), "--overwrite",
                 *NOSCREEN]) == 0
    assert (open_map(out).labels >= 0).all()


def test_mask_background_leaves_dark_pixels_unclassified(tmp_path, rng, write_envi, model_pt):
    centre = rng.uniform(1400, 2400, (6, 6, 1))
    data = (0.5 * (1 - 0.3 * np.exp(-0.5 * ((WL - centre) / 50.0) ** 2))).astype(np.float32)
    data[:, :2] *= 0.15                                        # a dark tray floor (albedo ~0.07)
    hdr, _ = write_envi(tmp_path / "dark.hdr", data, fields={"wavelength units": "Nanometers",
                                                             "wavelength": list(WL)})
    out = tmp_path / "m.h5"
    assert main(["classify", str(hdr), "--model", str(model_pt), "-o", str(out), "--no-png", "--no-envi",
                 *NOSCREEN]) == 0
    assert (open_map(out).labels >= 0).all()
    assert main(["classify", str(hdr), "--model", str(model_pt), "-o", str(out), "--no-png", "--no-envi",
                 "--overwrite", "--mask-background", "--min-albedo", "0.15", *NOSCREEN]) == 0
    lab = open_map(out).labels
    assert (lab[:, :2] == -1).all() and (lab[:, 2:] >= 0).all()


def test_output_names():
    assert output_paths("a/m.h5") == {"hdf5": Path("a/m.h5"), "envi": Path("a/m_classes.hdr"),
                                      "png": Path("a/m.png")}
    assert set(output_paths("m.hdr")) == {"envi", "png"} and set(output_paths("m.png")) == {"png"}


class _Payload:
    """Unpickling this runs ``open(path, 'w')``: the marker file appears if the checkpoint is unpickled unsafely."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_checkpoint_with_a_pickled_object_is_refused(tmp_path, cube_hdr):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil_model.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "classes": ["kaolinite"], "extra": _Payload(marker)}, evil)
    out = tmp_path / "evil_map.h5"
    p = subprocess.run([sys.executable, "-m", "hsimin", "classify", str(cube_hdr), "--model", str(evil), "-o",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    line = _one_line_error(p.stderr, "evil_model.pt")
    assert "pickled" in line
    assert not marker.exists() and not out.exists()
    assert not (tmp_path / "evil_map.png").exists() and not (tmp_path / "evil_map_classes.hdr").exists()


def test_missing_model_and_uncovered_bands_are_one_line_errors(tmp_path, cube_hdr, model_pt, write_envi, capsys):
    assert main(["classify", str(cube_hdr), "--model", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "m.h5")]) == 2
    _one_line_error(capsys.readouterr().err, "nope.pt")
    short = np.linspace(1000.0, 1800.0, 12)
    hdr, _ = write_envi(tmp_path / "short.hdr", np.full((2, 2, 12), 0.4, np.float32),
                        fields={"wavelength units": "Nanometers", "wavelength": list(short)})
    assert main(["classify", str(hdr), "--model", str(model_pt), "-o", str(tmp_path / "m.h5")]) == 2
    line = _one_line_error(capsys.readouterr().err, "short.hdr")
    assert "cover" in line
    assert not (tmp_path / "m.h5").exists()


def test_tray_artefacts_are_screened_out_of_the_shipped_models_map(tmp_path, capsys):
    """The shipped model has no tray class. Without the screen the sample tray's black plastic floor is
    'aspectral' (no feature a library mineral explains above the noise: the library gate; the model alone would call
    much of it talc, tests/predict/test_library_gate.py); with the screen (the default) most of it is left
    unclassified as tray, none of it gets a mineral, and every labelled core pixel keeps exactly the label it had."""
    from hsimin.samples import tray_path, truth_path

    truth = open_map(truth_path())
    core = truth.labels >= 0
    floor = truth.extra["core_fraction"] == 0
    maps = {}
    for name, extra in (("screened", []), ("plain", ["--no-artefact-screen"])):
        out = tmp_path / f"{name}.h5"
        assert main(["classify", str(tray_path()), "-o", str(out), "--no-envi", "--no-png", *extra]) == 0
        maps[name] = open_map(out)
    said = capsys.readouterr().out
    assert "screened out as tray" in said
    screened, plain = maps["screened"].labels, maps["plain"].labels
    np.testing.assert_array_equal(screened[core], plain[core])          # core untouched
    aspectral = list(maps["plain"].classes).index("aspectral")
    assert np.mean(plain[floor] == aspectral) > 0.95, np.mean(plain[floor] == aspectral)
    assert np.mean(screened[floor] < 0) > 0.75, np.mean(screened[floor] < 0)
    assert not ((screened[floor] >= 0) & (screened[floor] != aspectral)).any()   # no mineral on the floor
    # every unlabelled pixel is screened out as tray, or features no library mineral explains (the gate)
    gate = maps["screened"].provenance["library_gate"]
    assert maps["screened"].provenance["artefact_screen"]["pixels_screened_out"] + gate["to_unknown"] == \
        int((screened < 0).sum())
    assert gate["to_unknown"] < 0.001 * core.sum()
