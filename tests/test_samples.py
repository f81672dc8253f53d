"""The bundled sample tray: opens as a cube with the scanner bands, its truth reads back with open_map, labels
sit only on whole core pixels, and the USGS samples it records exist in the library with the right minerals."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import hsimin
import hsimin.samples as samples

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cube():
    return hsimin.open_cube(samples.tray_path())


@pytest.fixture(scope="module")
def truth():
    return hsimin.open_map(samples.truth_path())


@pytest.fixture(scope="module")
def plan():
    return json.loads((samples.data_dir() / "sample_tray.json").read_text())


def test_paths():
    assert samples.tray_path().name == "sample_tray.hdr" and samples.tray_path().is_file()
    assert samples.truth_path().name == "sample_tray_truth.h5" and samples.truth_path().is_file()
    assert samples.tray_path().with_suffix(".img").stat().st_size <= 12 * 2 ** 20
    assert samples.tray_sample_ids() == samples.TRAY_SAMPLE_IDS
    # the acceptance search takes every file named *truth*/*label* beside the tray as a truth file: only one
    others = [p.name for p in samples.data_dir().iterdir() if "truth" in p.name or "label" in p.name]
    assert others == ["sample_tray_truth.h5"]


def test_tray_opens_with_scanner_bands_and_meta(cube):
    assert cube.shape == (320, 64, 270)
    np.testing.assert_allclose(cube.wavelengths, np.linspace(1000, 2500, 270), atol=1e-3)
    np.testing.assert_allclose(cube.fwhm, 10.0)
    m = cube.meta
    assert (m.hole_id, m.tray_id, m.pixel_size_mm) == ("HSIMIN-DEMO-01", "T001", 4.0)
    assert m.depth_from_m == 100.0 and m.depth_to_m == pytest.approx(104.864)
    data = np.asarray(cube.data)
    assert data.dtype == np.float32 and np.isfinite(data).all()
    assert 0.0 <= data.min() and data.max() < 1.5


def test_truth_labels_only_on_core(cube, truth, plan):
    assert truth.labels.shape == (320, 64)
    assert truth.classes == samples.TRAY_MINERALS
    lab = truth.labels
    core = truth.extra["core_fraction"]
    assert np.all(lab[core < 1] == -1) and np.all(lab[core >= 1] >= 0)
    for c0, c1 in plan["divider_columns"]:
        assert np.all(lab[:, c0:c1] == -1)
    assert np.all(lab[:8] == -1) and np.all(lab[-8:] == -1) and np.all(lab[:, :3] == -1)
    for c0, c1 in plan["stick_columns"]:
        assert np.all(lab[:, c0] == -1) and np.all(lab[:, c1 - 1] == -1)     # rounded stick borders
    counts = np.bincount(lab[lab >= 0], minlength=len(truth.classes))
    assert counts.min() >= 500 and 10000 < counts.sum() < 12000
    sf = truth.extra["second_fraction"][lab >= 0]
    assert 0 <= sf.min() and sf.max() <= 0.3 and sf.mean() > 0.02
    # core is much brighter than the black plastic tray
    data = np.asarray(cube.data)
    assert np.median(data[lab >= 0]) > 3 * np.median(data[core == 0])


def test_intervals_match_the_truth(truth, plan):
    cls = {m: i for i, m in enumerate(truth.classes)}
    for iv in plan["intervals"]:
        c0, c1 = plan["stick_columns"][iv["stick"]]
        inner = truth.labels[iv["line0"] + 1:iv["line1"] - 1, c0 + 1:c1 - 1]
        assert np.all(inner == cls[iv["mineral"]]), iv
    assert {iv["mineral"] for iv in plan["intervals"]} == set(samples.TRAY_MINERALS)


def test_recorded_samples_exist_in_the_library(plan, truth):
    lib = hsimin.load_library("usgs_splib07")
    assert sorted(plan["tray_sample_ids"]) == sorted(samples.TRAY_SAMPLE_IDS)
    assert sorted(truth.provenance["tray_sample_ids"]) == sorted(samples.TRAY_SAMPLE_IDS)
    rows = {(n, i): k for k, (n, i) in enumerate(zip(lib.names, lib.attrs["instrument"]))}
    for mineral, name, instrument, sample in samples.TRAY_SPECTRA:
        k = rows[(name, instrument)]
        assert lib.minerals[k] == mineral and lib.sample_ids[k] == sample
        assert set(lib.attrs["purity"][k]) <= {"a", "b"}
    # every tray mineral keeps other samples to learn from when the tray's samples are held out
    held = np.isin(np.array(lib.sample_ids), samples.TRAY_SAMPLE_IDS)
    for mineral in samples.TRAY_MINERALS:
        others = {s for s, m, h in zip(lib.sample_ids, lib.minerals, held) if m == mineral and not h}
        assert len(others) >= 1, mineral


def test_script_rebuilds_the_same_tray(truth):
    """scripts/make_sample_tray.py builds exactly the shipped truth, and the cube to within 1 DN (10000 = 1.0)."""
    mod = runpy.run_path(str(ROOT / "scripts" / "make_sample_tray.py"), run_name="make_sample_tray")
    refl, truth2, _ = mod["build"](mod["SEED"])
    np.testing.assert_array_equal(truth2.labels, truth.labels)
    dn = np.clip(np.rint(refl * 10000), 0, 65535)
    import spectral
    raw = np.asarray(spectral.open_image(str(samples.tray_path())).open_memmap(interleave="bip"), dtype=np.float64)
    assert np.abs(raw - dn).max() <= 1
