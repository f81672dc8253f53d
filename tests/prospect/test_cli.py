"""``hsimin prospect run`` on small GeoTIFFs written here with rasterio, and one-line CLI errors."""
import json

import h5py
import numpy as np
import pytest

from hsimin.cli import main
from hsimin.core import Raster
from hsimin.io.raster import read_geotiff, write_fault_lines_geojson, write_geotiff, write_sites_csv

from .conftest import CELL, X0, Y0, synthetic_area

pytest.importorskip("rasterio")

FAST = ["--window", "8", "--folds", "3", "--block-size", "12", "--size", "tiny", "--epochs", "2",
        "--attribution-samples", "3", "--threads", "1", "-q"]


@pytest.fixture
def inputs(tmp_path):
    raster, dep, neg = synthetic_area(0)
    paths = []
    for i, name in enumerate(("Au", "Cu", "Li")):
        p = tmp_path / f"{name}.tif"
        write_geotiff(Raster(raster.values[..., i], raster.transform, raster.crs, [name], mask=raster.mask), p)
        paths.append(str(p))
    write_geotiff(Raster(raster.mask.astype(np.float32), raster.transform, raster.crs, ["area"]), tmp_path / "area.tif")
    write_sites_csv(tmp_path / "deposits.csv", *dep)
    write_sites_csv(tmp_path / "negatives.csv", *neg)
    # the two straight faults of the synthetic area, as polylines in map coordinates
    H, W = raster.shape
    f1 = np.array([[X0 + c * CELL, Y0 - (0.8 * c + 5) * CELL] for c in (0, W)])
    f2 = np.array([[X0 + 28.5 * CELL, Y0], [X0 + 28.5 * CELL, Y0 - H * CELL]])
    write_fault_lines_geojson([f1, f2], tmp_path / "faults.geojson")
    return tmp_path, paths


def test_prospect_run_on_geotiffs_writes_every_output(inputs, capsys):
    d, layers = inputs
    out = d / "out"
    rc = main(["prospect", "run", "--layers", *layers, "--deposits", str(d / "deposits.csv"),
               "--negatives", str(d / "negatives.csv"), "--mask", str(d / "area.tif"),
               "--faults", str(d / "faults.geojson"), "-o", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    shown = capsys.readouterr().out
    assert "ssgsnet" in shown and "random_forest" in shown
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("ssgsnet", "resnet", "vit", "dualbranch", "random_forest"):
        assert {"auc_mean", "auc_std", "folds"} <= set(metrics[name]) and len(metrics[name]["folds"]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layers"] == ["Au", "Cu", "Li", "faults"]          # stems + the buffer layer from --faults
    assert summary["recipe"]["transformed_layers"] == ["Au", "Cu", "Li"]
    with h5py.File(out / "layers.h5") as f:
        faults = f["layers/faults"][()]
    # 1 km cells and 500-3000 m rings: cells on a fault score 1, a cell 10 km away scores 0
    assert np.nanmax(faults) == pytest.approx(1.0) and np.nanmin(faults) == 0.0
    tif = read_geotiff(out / "prospectivity.tif")
    assert tif.crs == "EPSG:32650" and tif.shape == (48, 40)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"prospectivity_map.png", "roc.png", "success_rate.png", "attributions.png"} <= set(pngs)
    # a second run into the same folder needs --overwrite, and says so on one line
    rc = main(["prospect", "run", "--layers", *layers, "--deposits", str(d / "deposits.csv"), "-o", str(out), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1


def test_prospect_run_with_kmeans_negatives(inputs, capsys):
    d, layers = inputs
    out = d / "km"
    rc = main(["prospect", "run", "--layers", *layers, "--deposits", str(d / "deposits.csv"),
               "--negative-layer", "Li", "--models", "random_forest,dualbranch", "--attribution", "none",
               "--thresholds", "histogram", "-o", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"random_forest", "dualbranch"}
    used = (out / "sites_used.csv").read_text().splitlines()
    assert sum(line.split(",")[0].startswith("kmeans") for line in used[1:]) == 10


def test_prospect_run_grids_point_samples_by_idw(inputs, capsys):
    d, _ = inputs
    raster, _, _ = synthetic_area(0)
    rng = np.random.default_rng(4)
    r, c = np.nonzero(raster.mask)
    pick = rng.choice(r.size, 600, replace=False)
    r, c = r[pick], c[pick]
    lines = ["sample,x,y,Au,Li"] + [f"s{i},{X0 + (cc + 0.5) * CELL},{Y0 - (rr + 0.5) * CELL},"
                                    f"{raster.values[rr, cc, 0]:.5f},{raster.values[rr, cc, 2]:.5f}"
                                    for i, (rr, cc) in enumerate(zip(r, c))]
    (d / "samples.csv").write_text("\n".join(lines) + "\n")
    out = d / "pts"
    rc = main(["prospect", "run", "--points", str(d / "samples.csv"), "--cell-size", "1000", "--crs", "EPSG:32650",
               "--search-radius", "3000", "--faults", str(d / "faults.geojson"), "--deposits", str(d / "deposits.csv"),
               "--negatives", str(d / "negatives.csv"), "--models", "random_forest", "--attribution", "none",
               "-o", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layers"] == ["Au", "Li", "faults"] and summary["grid"]["crs"] == "EPSG:32650"
    assert summary["grid"]["transform"][0] == 1000.0
    t = summary["grid"]["transform"]
    with h5py.File(out / "layers.h5") as f:
        li = f["layers/Li"][()]
    c0, r0 = int(round((t[2] - X0) / CELL)), int(round((Y0 - t[5]) / CELL))   # the IDW grid within the area
    truth = raster.values[r0:r0 + li.shape[0], c0:c0 + li.shape[1], 2]
    ok = np.isfinite(li) & np.isfinite(truth)
    assert ok.sum() > 1000
    # IDW of samples taken from the synthetic Li field follows that field
    assert np.corrcoef(np.log(li[ok]), np.log(truth[ok]))[0, 1] > 0.8


@pytest.mark.parametrize("args, words", [
    (["--layers", "{d}/nope.tif", "--deposits", "{d}/deposits.csv"], "no such GeoTIFF"),
    (["--layers", "{d}/Au.tif", "--deposits", "{d}/deposits.csv", "--negative-layer", "Ag"], "no layer 'Ag'"),
    (["--layers", "{d}/Au.tif", "--deposits", "{d}/deposits.csv", "--thresholds", "0.9,0.8"], "three thresholds"),
    (["--deposits", "{d}/deposits.csv"], "no layers"),
])
def test_prospect_run_errors_are_one_line(inputs, capsys, args, words):
    d, _ = inputs
    rc = main(["prospect", "run", *[a.format(d=d) for a in args], "-o", str(d / "e"), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1


def test_prospect_demo_help_lists_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["prospect", "demo", "--help"])
    assert "--negatives" in capsys.readouterr().out
