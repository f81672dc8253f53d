"""hsimin.io.raster: GeoTIFF, raster HDF5, site/point CSV, fault lines, JSON; all atomic."""
import json

import h5py
import numpy as np
import pytest

from hsimin.core import FormatError, InputError, OutputExistsError, Raster
from hsimin.io.raster import (read_fault_lines, read_geotiff, read_geotiff_layers, read_mask_geotiff,
                              read_points_csv, read_raster_h5, read_sites_csv, write_fault_lines_geojson,
                              write_geotiff, write_json, write_raster_h5, write_sites_csv)

rasterio = pytest.importorskip("rasterio")


def _raster(seed=0, L=2):
    rng = np.random.default_rng(seed)
    v = rng.uniform(1, 5, (6, 7, L)).astype(np.float32)
    v[0, 0, 0] = np.nan
    m = np.ones((6, 7), bool)
    m[5, 6] = False
    return Raster(v, (1000.0, 0.0, 400000.0, 0.0, -1000.0, 3000000.0), "EPSG:32650", [f"L{i}" for i in range(L)], m)


def test_geotiff_round_trip_keeps_grid_crs_and_nodata(tmp_path):
    r = _raster()
    single = Raster(r.values[..., :1], r.transform, r.crs, ["Cu"], mask=r.mask)
    write_geotiff(single, tmp_path / "Cu.tif")
    back = read_geotiff(tmp_path / "Cu.tif")
    assert back.layer_names == ("Cu",) and back.crs == "EPSG:32650"
    assert np.allclose(back.transform, r.transform)
    assert np.isnan(back.values[0, 0, 0]) and np.isnan(back.values[5, 6, 0])   # nodata and outside mask
    ok = np.isfinite(back.values[..., 0])
    assert np.allclose(back.values[..., 0][ok], r.values[..., 0][ok])
    assert not back.mask[0, 0] and back.mask[1, 1]
    multi = read_geotiff(write_geotiff(r, tmp_path / "two.tif"))
    assert multi.layer_names == ("two_b1", "two_b2")


def test_geotiff_layers_must_share_a_grid(tmp_path):
    r = _raster()
    for i, name in enumerate(("Au", "Li")):
        write_geotiff(Raster(r.values[..., i], r.transform, r.crs, [name]), tmp_path / f"{name}.tif")
    stack = read_geotiff_layers([tmp_path / "Au.tif", tmp_path / "Li.tif"])
    assert stack.layer_names == ("Au", "Li") and stack.values.shape == (6, 7, 2)
    shifted = Raster(r.values[..., 0], (1000.0, 0.0, 401000.0, 0.0, -1000.0, 3000000.0), r.crs, ["W"])
    write_geotiff(shifted, tmp_path / "W.tif")
    with pytest.raises(InputError, match="resample"):
        read_geotiff_layers([tmp_path / "Au.tif", tmp_path / "W.tif"])
    with pytest.raises(InputError, match="no layer files"):
        read_geotiff_layers([])
    with pytest.raises(FormatError, match="no such"):
        read_geotiff(tmp_path / "missing.tif")


def test_mask_geotiff(tmp_path):
    r = _raster()
    mv = np.ones((6, 7), np.float32)
    mv[2:4] = 0
    write_geotiff(Raster(mv, r.transform, r.crs, ["mask"]), tmp_path / "mask.tif")
    m = read_mask_geotiff(tmp_path / "mask.tif", like=r)
    assert m.sum() == 6 * 7 - 14 and not m[2].any()
    other = Raster(np.ones((3, 3), np.float32), r.transform, r.crs, ["x"])
    with pytest.raises(InputError, match="grid"):
        read_mask_geotiff(tmp_path / "mask.tif", like=other)


def test_raster_h5_round_trip_and_schema(tmp_path):
    r = _raster()
    p = write_raster_h5(r, tmp_path / "r.h5", extra={"classes": np.zeros(r.shape, np.int8)}, attrs={"note": "x"})
    back = read_raster_h5(p)
    assert back.layer_names == r.layer_names and back.crs == r.crs and np.allclose(back.transform, r.transform)
    assert np.array_equal(back.mask, r.mask)
    assert np.isnan(back.values[5, 6]).all()                # outside the mask written as NaN
    with h5py.File(p) as f:
        assert f.attrs["hsimin_raster"] == 1 and f["layers/L0"].ndim == 2 and "extra/classes" in f
    with pytest.raises(OutputExistsError):
        write_raster_h5(r, p)
    with pytest.raises(FormatError, match="not an hsimin raster"):
        with h5py.File(tmp_path / "other.h5", "w") as f:
            f["x"] = 1
        read_raster_h5(tmp_path / "other.h5")


def test_sites_csv_round_trip_and_errors(tmp_path):
    p = write_sites_csv(tmp_path / "s.csv", [1.5, 2.5], [3.0, 4.0], [1, 0], ["a", "b"], extra={"note": ["x", "y"]})
    s = read_sites_csv(p)
    assert s["x"].tolist() == [1.5, 2.5] and s["label"].tolist() == [1, 0] and s["id"].tolist() == ["a", "b"]
    (tmp_path / "bad.csv").write_text("east,north\n1,2\n")
    with pytest.raises(FormatError, match="no 'x' column"):
        read_sites_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("x,y\n1,abc\n")
    with pytest.raises(FormatError, match="not a number"):
        read_sites_csv(tmp_path / "bad2.csv")
    (tmp_path / "upper.csv").write_text("ID,X,Y\nq,1,2\n")
    assert read_sites_csv(tmp_path / "upper.csv")["x"].tolist() == [1.0]


def test_points_csv_picks_numeric_columns(tmp_path):
    (tmp_path / "pts.csv").write_text("sample,x,y,Au,Li\nA1,0,0,1.2,30\nA2,10,0,,40\n")
    x, y, vals = read_points_csv(tmp_path / "pts.csv")
    assert sorted(vals) == ["Au", "Li"] and np.isnan(vals["Au"][1]) and x.tolist() == [0.0, 10.0]


def test_fault_lines_from_geojson_and_csv(tmp_path):
    lines = [np.array([[0.0, 0.0], [100.0, 50.0], [200.0, 50.0]]), np.array([[5.0, 5.0], [6.0, 7.0]])]
    write_fault_lines_geojson(lines, tmp_path / "f.geojson")
    back = read_fault_lines(tmp_path / "f.geojson")
    assert len(back) == 2 and np.allclose(back[0], lines[0])
    multi = {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]],
                                                                                         [[2, 2], [3, 3]]]}}
    (tmp_path / "m.json").write_text(json.dumps(multi))
    assert len(read_fault_lines(tmp_path / "m.json")) == 2
    (tmp_path / "f.csv").write_text("line_id,x,y\nA,0,0\nA,10,0\nB,0,5\nB,0,15\n")
    csv_lines = read_fault_lines(tmp_path / "f.csv")
    assert [len(c) for c in csv_lines] == [2, 2] and np.allclose(csv_lines[1][1], [0, 15])
    (tmp_path / "nolines.geojson").write_text(json.dumps({"type": "Point", "coordinates": [0, 0]}))
    with pytest.raises(FormatError, match="no LineString"):
        read_fault_lines(tmp_path / "nolines.geojson")


def test_write_json_converts_numpy_and_nan(tmp_path):
    p = write_json({"a": np.float32(0.5), "b": np.arange(3), "c": float("nan")}, tmp_path / "m.json")
    assert json.loads(p.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": None}
    assert not list(tmp_path.glob(".*.part"))
