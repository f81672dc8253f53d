"""The library gate of classify_cube: for a model with an 'aspectral' class, aspectral and unknown are decided by
the library path's SWIR answer, and the model names the mineral."""
import numpy as np
import pytest

import hsimin
from hsimin import load_library
from hsimin.classical.interpretation import swir_status
from hsimin.core.types import MineralMap
from hsimin.predict.workflow import classify_cube, library_gate_map

WL = np.arange(1300.0, 2481.0, 4.0)
FWHM = np.full(WL.size, 11.0)


@pytest.fixture(scope="module")
def spectra():
    lib = load_library("usgs_splib07", minerals=["kaolinite"], wavelengths=WL, fwhm=FWHM)
    S = np.asarray(lib.spectra, np.float64)
    kaolinite = S[np.isfinite(S).all(axis=1)][0]
    flat = 0.3 + np.random.default_rng(0).normal(0, 0.001, WL.size)          # no feature above the noise
    odd = 0.5 * (1 - 0.3 * np.exp(-0.5 * ((WL - 2120) / 6) ** 2)) * (1 - 0.3 * np.exp(-0.5 * ((WL - 1650) / 6) ** 2))
    return np.vstack([kaolinite, flat, odd, flat]).astype(np.float32)         # odd: deep bands no mineral has


def test_the_gate_follows_the_library_paths_answer(spectra):
    np.testing.assert_array_equal(swir_status(spectra, WL, FWHM), [0, 2, 1, 2])
    cube = hsimin.Cube(spectra[None], WL, FWHM)
    classes = ("kaolinite", "calcite", "aspectral")
    scores = np.array([[0.2, 0.1, 0.7],      # the model says aspectral, the library explains kaolinite
                       [0.6, 0.3, 0.1],      # the model names a mineral, the library finds no feature
                       [0.1, 0.8, 0.1],      # features no library mineral explains
                       [0.1, 0.1, 0.8]], np.float32)[None]
    labels = scores.argmax(axis=2).astype(np.int16)
    labels[0, 3] = -1                        # unclassified stays unclassified
    mm = MineralMap(labels, classes, scores=scores, confidence=scores.max(axis=2))
    out, counts = library_gate_map(mm, cube)
    np.testing.assert_array_equal(out.labels[0], [0, 2, -1, -1])
    np.testing.assert_allclose(out.confidence[0, :3], [0.2, 0.1, 0.0])
    assert counts == {**counts, "to_aspectral": 1, "to_mineral": 1, "to_unknown": 1}
    assert out.provenance["library_gate"] == counts


def test_a_model_without_an_aspectral_class_is_not_gated(spectra, tmp_path):
    from hsimin.models import create_model, load_model, save_model
    model = create_model({"backbone": {"name": "fastspec", "widths": [4]}, "in_bands": WL.size, "num_outputs": 2,
                          "patch_size": 1})
    save_model(model, tmp_path / "m.pt", wavelengths=WL, class_names=["kaolinite", "calcite"])
    res = classify_cube(hsimin.Cube(spectra[None], WL, FWHM), load_model(tmp_path / "m.pt"), artefact_screen=False)
    assert res.gated is None and "library_gate" not in res.map.provenance


def test_the_shipped_model_reads_the_tray_floor_as_aspectral_not_talc():
    """Black polyethylene's C-H band at 2310 nm sits on talc's MgOH band: the model alone calls much of the sample
    tray's plastic floor talc; the gate (no feature a library mineral explains above the noise) makes it
    aspectral. The core keeps its labels."""
    from hsimin.samples import tray_path, truth_path
    cube, truth = hsimin.open_cube(tray_path()), hsimin.open_map(truth_path())
    floor = truth.extra["core_fraction"] == 0
    core = truth.labels >= 0
    alone = classify_cube(cube, artefact_screen=False, library_gate=False).map
    gated = classify_cube(cube, artefact_screen=False).map
    classes = list(gated.classes)
    assert np.mean(alone.labels[floor] == classes.index("talc")) > 0.2
    assert np.mean(gated.labels[floor] == classes.index("aspectral")) > 0.95
    assert np.mean(gated.labels[core] == alone.labels[core]) > 0.995


def test_classify_cli_gates_by_default_and_not_with_no_library_gate(spectra, tmp_path, capsys):
    """``hsimin classify`` applies the gate unless ``--no-library-gate``: the flat spectra come out aspectral with
    it, and the map's provenance says which was done."""
    from hsimin.cli import main
    from hsimin.io import save_cube
    src = tmp_path / "four.h5"
    save_cube(hsimin.Cube(np.repeat(spectra[None], 3, axis=0), WL, FWHM), src)
    maps = {}
    for name, extra in (("gated", []), ("alone", ["--no-library-gate"])):
        out = tmp_path / f"{name}.h5"
        assert main(["classify", str(src), "-o", str(out), "--no-png", "--no-envi", "--no-artefact-screen",
                     *extra]) == 0
        maps[name] = hsimin.open_map(out)
    gated, alone = maps["gated"], maps["alone"]
    assert "library_gate" in gated.provenance and "library_gate" not in alone.provenance
    k = list(gated.classes).index("aspectral")
    assert (gated.labels[:, [1, 3]] == k).all()                  # no feature above the noise: aspectral
    assert (gated.labels[:, 2] == -1).all()                      # features no library mineral explains
    assert not np.array_equal(gated.labels, alone.labels)
    capsys.readouterr()
