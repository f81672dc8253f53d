"""The whole workflow in memory, its outputs, the bundled data, and the numpy side staying torch-free."""
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from hsimin.core import InputError, OutputError
from hsimin.prospect.models import TrainSettings
from hsimin.prospect.outputs import OUTPUT_FILES, write_outputs
from hsimin.prospect.workflow import ProspectConfig, run_prospectivity, split_area

ROOT = Path(__file__).resolve().parents[2]


def _config(**kw):
    base = dict(window=8, folds=3, block_size=12, fault_layer="faults", negative_layer="Li", attribution="shapley",
                attribution_samples=3, train=TrainSettings(size="tiny", epochs=2, augment_copies=2, rf_trees=30,
                                                           pretrain_epochs=1, dann_epochs=1))
    base.update(kw)
    return ProspectConfig(**base)


@pytest.fixture(scope="module")
def result():
    from .conftest import synthetic_area
    raster, dep, neg = synthetic_area(0)
    return run_prospectivity(raster, dep, neg, _config(extra_maps=("dualbranch",)))


def test_run_reports_blocked_cv_for_every_model_on_the_same_folds(result):
    assert set(result.metrics) == {"ssgsnet", "resnet", "vit", "dualbranch", "random_forest"}
    for name, e in result.metrics.items():
        assert 0 <= e["auc_mean"] <= 1 and e["auc_std"] >= 0 and len(e["folds"]) == 3
        assert [f["n_test"] for f in e["folds"]] == [f.test.size for f in result.folds]
        assert np.isfinite(result.oof[name]).all()
    assert result.best_model == result.map_model
    best_auc = result.metrics[result.best_model]["auc_mean"]
    assert best_auc == max(e["auc_mean"] for e in result.metrics.values())
    # the planted signal (Li high near faults) is found by the best model
    assert best_auc > 0.7


def test_map_classes_success_and_attributions(result):
    p, m = result.probability, result.layers.mask
    assert p.shape == m.shape and np.all(np.isfinite(p[m])) and np.all(np.isnan(p[~m]))
    assert p[m].min() >= 0 and p[m].max() <= 1
    assert set(np.unique(result.classes)) <= {-1, 0, 1, 2, 3} and (result.classes[~m] == -1).all()
    assert 0 <= result.success["auc"] <= 1
    a = result.attribution
    assert a["layers"] == ["Au", "Cu", "Li", "faults"] and len(a["mean_abs"]) == 4 and a["model"] == result.map_model
    s = result.summary()
    assert s["n_sites"] == {"positive": 10, "negative": 10} and s["recipe"]["transformed_layers"] == ["Au", "Cu", "Li"]


def test_write_outputs_and_refuse_to_overwrite(result, tmp_path):
    out = tmp_path / "out"
    write_outputs(result, out)
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    extra = [m for m in result.maps if m != result.map_model]
    assert set(result.maps) == {result.map_model, "dualbranch"}
    for m in extra:                                  # extra maps: the same files with a _<model> suffix
        for name in (f"prospectivity_{m}.h5", f"prospectivity_map_{m}.png", f"attributions_{m}.png"):
            assert (out / name).is_file(), name
    assert set(json.loads((out / "summary.json").read_text())["maps"]) == set(result.maps)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["ssgsnet"]) >= {"auc_mean", "auc_std", "folds"}
    with h5py.File(out / "prospectivity.h5") as f:
        prob = f["layers/prospectivity"][()]
        assert prob.ndim == 2 and np.nanmax(prob) <= 1 and f["extra/classes"].dtype == np.int8
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OutputError):
        write_outputs(result, out)
    write_outputs(result, out, overwrite=True)


def test_histogram_thresholds_pretraining_and_dann():
    from .conftest import synthetic_area
    raster, dep, neg = synthetic_area(1)
    r = run_prospectivity(raster, dep, neg, _config(models=("resnet", "random_forest"), thresholds="histogram",
                                                    pretrain=True, pretrain_windows=64, transfer="dann",
                                                    transfer_model="resnet", attribution="ig",
                                                    map_model="resnet"))
    inside = np.isfinite(r.probability)          # a network's scores are continuous, so few ties at thresholds
    assert np.mean(r.classes[inside] == 3) == pytest.approx(0.05, abs=0.02)
    assert r.metrics["resnet"]["pretrained"] and not r.metrics["random_forest"]["pretrained"]
    t = r.transfer
    assert t["model"] == "resnet" and 0 <= t["auc_dann"] <= 1 and 0 <= t["auc_source_only"] <= 1
    assert t["n_target_sites"] > 0 and t["n_source_sites"] > 0
    assert r.attribution["method"] in ("ig", "shapley")


def test_kmeans_negatives_when_no_list_is_given():
    from .conftest import synthetic_area
    raster, dep, _ = synthetic_area(2)
    r = run_prospectivity(raster, dep, None, _config(models=("random_forest",), attribution="none"))
    assert (r.sites.labels == 0).sum() == 10 and r.attribution is None
    assert all(i.startswith("kmeans") for i in r.sites.ids[r.sites.labels == 0])


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(InputError, match="transfer"):
        ProspectConfig(transfer="coral")
    with pytest.raises(InputError, match="thresholds"):
        ProspectConfig(thresholds="otsu")
    from .conftest import synthetic_area
    raster, dep, neg = synthetic_area(0)
    with pytest.raises(InputError, match="unknown models"):
        run_prospectivity(raster, dep, neg, _config(models=("svm",)))


def test_split_area_halves_along_the_long_axis():
    m = np.zeros((10, 40), bool)
    m[2:8, 1:39] = True
    a, b = split_area(m)
    assert not (a & b).any() and ((a | b) == m).all()
    assert abs(int(a.sum()) - int(b.sum())) <= 6
    ca, cb = np.nonzero(a)[1].mean(), np.nonzero(b)[1].mean()
    assert abs(ca - cb) > 15                                         # split across columns, not rows


def test_bundled_demo_data_is_on_one_grid_with_sites_inside():
    from hsimin.io.raster import read_raster_attrs
    from hsimin.prospect.data import GEOCHEM, load_demo
    layers, dep, neg = load_demo()
    assert layers.crs == "EPSG:32650" and len(layers.layer_names) == 15 and layers.layer_names[-1] == "faults"
    assert layers.transform[0] == 2000.0 and 25_000 < layers.mask.sum() < 35_000
    assert len(dep["x"]) == 23 and len(neg["x"]) == 23
    from hsimin.prospect.layers import xy_to_rowcol
    r, c = xy_to_rowcol(layers.transform, dep["x"], dep["y"])
    assert layers.mask[r, c].all()
    assert read_raster_attrs(GEOCHEM)["units"]["Au"] == "ppb"
    data_dir = ROOT / "hsimin" / "prospect" / "data"
    assert sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file()) < 3 * 2**20
    assert "MIT" in (data_dir / "PROVENANCE.md").read_text()


def test_numpy_side_of_prospect_does_not_import_torch():
    code = ("import sys\n"
            "from hsimin.prospect import idw_grid, fault_buffer_score, make_sites, extract_windows, predict_map\n"
            "from hsimin.prospect import prepare_layers, ProspectConfig\n"
            "import hsimin.prospect.layers, hsimin.prospect.sites, hsimin.prospect.mapping, hsimin.io.raster\n"
            "print('torch' in sys.modules, 'captum' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------- faults (issue 14)

def test_the_bare_defaults_pick_a_feasible_blocked_cv_and_report_it():
    """A district's site count failed at the defaults ('a spatially blocked fold has no positive or no negative
    test site'). Windows as wide as a quarter of the area, 10 deposits, 10 negatives, no --folds/--block-size."""
    from .conftest import synthetic_area
    raster, dep, neg = synthetic_area(0)
    messages = []
    cfg = _config(window=16, folds=None, block_size=None, models=("random_forest",), attribution="none")
    r = run_prospectivity(raster, dep, neg, cfg, progress=messages.append)
    assert r.cv is not None and len(r.folds) == r.cv.folds and np.isfinite(r.metrics["random_forest"]["auc_mean"])
    assert any(m == r.cv.describe() for m in messages)
    s = r.summary()
    assert s["cv"]["folds"] == r.cv.folds and s["cv"]["block_size"] == r.cv.block_size
    assert s["cv"]["requested_folds"] is None and s["cv"]["adjusted"] == r.cv.adjusted


def test_run_files_checks_the_output_folder_before_reading_anything(tmp_path, monkeypatch):
    """prospect run found an unwritable output only after its work; prospect demo was still training after 120 s."""
    import errno
    import os

    from hsimin.io import atomic
    import hsimin.prospect.runs as wf
    monkeypatch.setattr(wf, "load_inputs", lambda *a, **k: pytest.fail("inputs were read before the check"))
    monkeypatch.setattr(wf, "run_prospectivity", lambda *a, **k: pytest.fail("the work started before the check"))

    def refuse(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    for call in (lambda: wf.run_files(["a.tif"], "d.csv", tmp_path / "p"),
                 lambda: wf.run_demo(tmp_path / "p")):
        with pytest.raises(OutputError, match="Read-only file system") as err:
            call()
        assert err.value.path == str(tmp_path)


def test_a_prospect_run_on_a_folder_in_use_is_refused(tmp_path, monkeypatch):
    from hsimin.core import OutputInUseError
    from hsimin.io.locks import FolderLock
    import hsimin.prospect.runs as wf
    monkeypatch.setattr(wf, "load_inputs", lambda *a, **k: pytest.fail("inputs were read"))
    out = tmp_path / "p"
    out.mkdir()
    with FolderLock(out, "hsimin prospect"):
        with pytest.raises(OutputInUseError):
            wf.run_files(["a.tif"], "d.csv", out)


def test_outputs_are_committed_together_metrics_last(result, tmp_path, monkeypatch):
    """A failure while writing (a full disk at the fourth figure) leaves none of the outputs."""
    from hsimin.core import DiskFullError
    from hsimin.io import writers as raster_io
    real = raster_io.save_figure
    n = [0]

    def filling(fig, path, **kw):
        n[0] += 1
        if n[0] == 4:
            raise DiskFullError("cannot write the output (No space left on device)", path=path)
        return real(fig, path, **kw)
    monkeypatch.setattr(raster_io, "save_figure", filling)
    out = tmp_path / "out"
    with pytest.raises(DiskFullError):
        write_outputs(result, out)
    assert sorted(p.name for p in out.iterdir()) == []
    monkeypatch.setattr(raster_io, "save_figure", real)
    written = write_outputs(result, out)
    assert written[-1].name == "metrics.json"
