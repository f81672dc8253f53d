"""The napari plugin without a viewer: manifest, reader, writer, sample data and the layer <-> hsimin conversions."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("napari")

from hsimin.core import Cube, FormatError, InputError, MineralMap, ScanMeta  # noqa: E402
from hsimin.io import open_map, save_map  # noqa: E402
from hsimin.io.colors import class_colors  # noqa: E402
from hsimin.samples import tray_path, truth_path  # noqa: E402
from napari_hsimin import get_reader, read_path, sample_tray, sample_tray_truth, write_labels  # noqa: E402
from napari_hsimin._convert import (attribution_to_layer_data, band_label, classes_of,  # noqa: E402
                                    cube_to_layer_data, feature_maps_to_layer_data, labels_to_map, layer_to_cube,
                                    legend_entries, map_to_layer_data, pixel_of, suggestions_to_layer_data,
                                    training_layer_data)

ROOT = Path(__file__).resolve().parents[2]


def _layers_by_type(layer_data):
    out = {}
    for data, kwargs, kind in layer_data:
        out.setdefault(kind, []).append((data, kwargs))
    return out


def test_manifest_contributions_resolve():
    from npe2 import PluginManifest
    pm = PluginManifest.from_distribution("hsimin")
    assert pm.name == "hsimin"
    c = pm.contributions
    patterns = {p for r in c.readers for p in r.filename_patterns}
    # every path is offered to hsimin; the reader registry decides (get_reader returns None for the rest)
    assert "*" in patterns and all(r.accepts_directories for r in c.readers)
    assert c.writers[0].layer_types == ["labels"] and {".h5", ".hdr"} <= set(c.writers[0].filename_extensions)
    assert {s.key for s in c.sample_data} >= {"sample_tray", "sample_tray_truth"}
    names = {w.display_name for w in c.widgets}
    assert {"Spectrum inspector", "Mineral map", "Attribution map", "Label, retrain, re-map"} <= names
    for cmd in c.commands:             # every python_name imports and names a callable
        module, attr = cmd.python_name.split(":")
        mod = __import__(module, fromlist=[attr])
        assert callable(getattr(mod, attr)), cmd.python_name
    # a widget is named in four places (docs/howto_add_napari_widget.md): they must agree
    import napari_hsimin
    import napari_hsimin._widgets as widgets
    by_id = {cmd.id: cmd.python_name for cmd in c.commands}
    manifest_widgets = {by_id[w.command].split(":")[1] for w in c.widgets}
    assert manifest_widgets == set(widgets.__all__) == napari_hsimin._WIDGETS
    assert set(widgets.__all__) <= set(napari_hsimin.__all__)


def test_import_is_headless_and_light():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    code = ("import sys, json, napari_hsimin\n"
            "print(json.dumps({m: m in sys.modules for m in ('qtpy', 'PyQt5', 'torch', 'captum')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"qtpy": False, "PyQt5": False, "torch": False,
                                                              "captum": False}


def test_get_reader_recognises_hsimin_paths(tmp_path):
    assert get_reader(str(tray_path())) is read_path
    assert get_reader([str(truth_path())]) is read_path
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader([str(tray_path()), str(truth_path())]) is None
    assert get_reader(str(tmp_path)) is None                          # an empty folder is no Specim capture
    cap = tmp_path / "scan" / "capture"
    cap.mkdir(parents=True)
    for name in ("scan.hdr", "DARKREF_scan.hdr", "WHITEREF_scan.hdr"):
        (cap / name).write_text("ENVI\n")
    assert get_reader(str(tmp_path / "scan")) is read_path


def test_read_cube_keeps_wavelengths_and_labels_the_band_axis_in_nm(tray):
    (data, kwargs, kind), = read_path(str(tray_path()))
    assert kind == "image" and data.shape == (270, 320, 64) and data.dtype == np.float32
    md = kwargs["metadata"]
    np.testing.assert_array_equal(md["wavelengths"], tray.wavelengths)
    np.testing.assert_array_equal(md["fwhm"], tray.fwhm)
    assert md["hsimin_kind"] == "cube" and md["scan_meta"]["tray_id"] == "T001"
    np.testing.assert_array_equal(data[:, 100, 20], tray.data[100, 20])
    assert kwargs["axis_labels"] == ("1000.0 nm", "line", "sample")
    assert band_label(tray.wavelengths, 200) == f"{tray.wavelengths[200]:.1f} nm"
    lo, hi = kwargs["contrast_limits"]
    assert 0 <= lo < hi <= 1.0


def test_read_truth_map_as_labels_with_names_and_colours(truth):
    layers = _layers_by_type(read_path(str(truth_path())))
    (values, kwargs), = layers["labels"]
    np.testing.assert_array_equal(values, np.where(truth.labels >= 0, truth.labels + 1, 0))
    assert kwargs["metadata"]["classes"] == list(truth.classes)
    assert list(kwargs["features"]["class"]) == ["unclassified", *truth.classes]
    cols = class_colors(truth.classes)
    for i in range(len(truth.classes)):
        np.testing.assert_allclose(kwargs["colormap"][i + 1][:3], cols[i] / 255.0)
    assert kwargs["colormap"][0][3] == 0.0                       # unclassified is transparent


def test_read_envi_classification_and_combined_hdf5(tmp_path, truth, tray):
    save_map(truth, tmp_path / "truth.hdr")
    layers = _layers_by_type(read_path(str(tmp_path / "truth.hdr")))
    assert list(layers) == ["labels"]
    assert layers["labels"][0][1]["metadata"]["classes"] == list(truth.classes)
    from hsimin.io.hdf5 import write_hdf5
    small = Cube(np.asarray(tray.data[:20, :10]), tray.wavelengths, tray.fwhm, meta=ScanMeta(tray_id="S"))
    mm = MineralMap(truth.labels[:20, :10], truth.classes, confidence=np.full((20, 10), 0.5, np.float32))
    write_hdf5(tmp_path / "both.h5", cube=small, maps={"sam": mm})
    layers = _layers_by_type(read_path(str(tmp_path / "both.h5")))
    assert layers["image"][0][0].shape == (270, 20, 10)                      # the cube
    assert layers["image"][1][1]["name"].endswith("confidence")               # the map's confidence
    assert layers["labels"][0][1]["name"] == "both sam"
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FormatError):
        read_path(str(tmp_path / "other.h5"))


@pytest.mark.parametrize("ext", [".h5", ".hdr"])
def test_writer_round_trip(tmp_path, truth, ext):
    (values, kwargs, _), = map_to_layer_data(truth, name="truth", confidence=False)
    paths = write_labels(str(tmp_path / f"map{ext}"), values, kwargs)
    assert Path(paths[0]).is_file() and all(Path(p).is_file() for p in paths)
    back = open_map(paths[0])
    assert list(back.classes) == list(truth.classes)
    np.testing.assert_array_equal(back.labels, truth.labels)
    painted = np.zeros((4, 5), np.int32)
    painted[1, 2] = 3
    write_labels(str(tmp_path / "painted.h5"), painted, {"name": "mine"})         # no class names: class_1..3
    back = open_map(tmp_path / "painted.h5")
    assert list(back.classes) == ["class_1", "class_2", "class_3"] and back.labels[1, 2] == 2
    with pytest.raises(InputError, match="2-D"):
        write_labels(str(tmp_path / "bad.h5"), np.zeros((2, 3, 4), np.int32), {})


def test_labels_to_map_reads_classes_from_features_and_keeps_scores():
    import pandas as pd
    feats = pd.DataFrame({"index": [0, 1, 2], "class": ["unclassified", "calcite", "talc"]})
    lab = np.array([[0, 1], [2, 2]], np.int32)
    mm = labels_to_map(lab, {"features": feats})
    assert list(mm.classes) == ["calcite", "talc"] and mm.labels.tolist() == [[-1, 0], [1, 1]]
    assert classes_of(SimpleNamespace(metadata={}, features=feats)) == ["calcite", "talc"]
    scored = MineralMap(np.array([[0, 1]], np.int16), ["a", "b"], scores=np.ones((1, 2, 2), np.float32))
    (values, kwargs, _), = map_to_layer_data(scored, confidence=False)
    assert labels_to_map(values, kwargs) is scored                          # unchanged: keeps scores
    values[0, 0] = 0
    edited = labels_to_map(values, kwargs)
    assert edited is not scored and edited.labels.tolist() == [[-1, 1]] and edited.scores is None
    with pytest.raises(InputError, match="only 2 classes"):
        labels_to_map(np.array([[3]], np.int32), kwargs)


def test_cube_layer_round_trip_and_pixel_lookup(tray):
    from napari.layers import Image
    small = Cube(np.asarray(tray.data[:12, :7]), tray.wavelengths, tray.fwhm, mask=np.ones((12, 7), bool),
                 meta=ScanMeta(hole_id="H1"))
    data, kwargs, _ = cube_to_layer_data(small)
    layer = Image(data, **kwargs, translate=(0, 100, 50), scale=(1, 2, 2))
    back = layer_to_cube(layer)
    np.testing.assert_array_equal(np.asarray(back.data), np.asarray(small.data))
    np.testing.assert_array_equal(back.wavelengths, small.wavelengths)
    assert back.meta.hole_id == "H1" and back.mask.shape == (12, 7)
    assert pixel_of(layer, (5, 100 + 2 * 3, 50 + 2 * 4)) == (3, 4)
    assert pixel_of(layer, (5, 100 + 2 * 3.4, 50 + 2 * 4.6)) == (3, 5)
    assert pixel_of(layer, (5, 99 - 2, 50)) is None and pixel_of(layer, (5, 100, 50 + 2 * 7)) is None
    with pytest.raises(InputError, match="not a hyperspectral cube"):
        layer_to_cube(Image(np.zeros((3, 4, 5))))


class _CountingLazy:
    """A lazy (H, W, B) cube array over an in-memory one that records the largest line range it was asked for."""

    def __init__(self, a):
        from hsimin.io.lazy import LazyCubeArray

        outer = self

        class _L(LazyCubeArray):
            def _read_lines(self, r0, r1):
                outer.max_lines = max(outer.max_lines, r1 - r0)
                return a[r0:r1].copy()

        self.max_lines = 0
        self.array = _L(a.shape)


def test_band_first_view_indexes_like_numpy_in_bounded_blocks():
    from napari_hsimin._convert import BandFirstCube
    rng = np.random.default_rng(7)                     # planted: uniform random values, 37 lines x 11 x 9 bands
    a = rng.random((37, 11, 9), dtype=np.float32)
    lazy = _CountingLazy(a)
    view = BandFirstCube(lazy.array, block_bytes=5 * 11 * 9 * 4)   # 5 lines per read
    ref = np.moveaxis(a, -1, 0)
    assert view.shape == ref.shape and view.ndim == 3 and view.dtype == np.float32
    keys = [3, (3,), (slice(None),), (2, slice(1, 9), slice(None, None, 2)), (slice(None), 5, 4),
            (slice(2, 7), slice(None, None, 3), slice(None, None, 4)), (Ellipsis, 3), (-1, -1, -1),
            (slice(None), slice(None, None, -1), 2), (np.array([1, 4, 4]), slice(0, 3), slice(None)),
            (slice(None), np.array([5, 1, 30]), 3), (slice(None), -2), (Ellipsis,)]
    for key in keys:
        got, want = view[key], ref[key]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=str(key))
    np.testing.assert_array_equal(np.asarray(view), ref)
    assert lazy.max_lines == 5                          # never more than one block of lines at a time
    with pytest.raises(IndexError):
        view[9]


def test_a_cube_bigger_than_the_budget_stays_on_disk_in_its_layer(tmp_path, monkeypatch):
    """Above LAZY_LAYER_BYTES the layer holds a lazy band-first view of the ENVI file: band planes and spectra
    read from disk, and layer_to_cube hands hsimin the lazy cube (no full load)."""
    from napari.layers import Image

    import napari_hsimin._convert as convert
    from hsimin.io import open_cube
    cube = open_cube(tray_path())                       # lazy ENVI reader, 320 x 64 x 270 (22 MB as float32)
    monkeypatch.setattr(convert, "LAZY_LAYER_BYTES", 1 << 20)
    data, kwargs, kind = cube_to_layer_data(cube)
    assert isinstance(data, convert.BandFirstCube) and kind == "image"
    loaded = np.moveaxis(np.asarray(cube.data), -1, 0)
    np.testing.assert_array_equal(data[200], loaded[200])
    np.testing.assert_array_equal(data[:, 100, 30], loaded[:, 100, 30])
    lo, hi = kwargs["contrast_limits"]
    assert 0.0 <= lo < hi <= 1.5
    layer = Image(data, **kwargs)
    back = layer_to_cube(layer)
    assert not isinstance(back.data, np.ndarray) and back.data is cube.data
    np.testing.assert_array_equal(back.wavelengths, cube.wavelengths)
    monkeypatch.setattr(convert, "LAZY_LAYER_BYTES", 1 << 40)
    small, _, _ = cube_to_layer_data(cube)              # under the budget: loaded, as before
    assert isinstance(small, np.ndarray) and small.shape == (270, 320, 64)


def test_map_layers_threshold_legend_and_other_rasters():
    conf = np.array([[0.9, 0.2], [0.6, 0.0]], np.float32)
    mm = MineralMap(np.array([[0, 1], [1, -1]], np.int16), ["kaolinite", "calcite"], confidence=conf)
    (lab, kw, kind), (c, ckw, ckind) = map_to_layer_data(mm, name="m", min_confidence=0.5)
    assert kind == "labels" and ckind == "image" and lab.tolist() == [[1, 0], [2, 0]]
    np.testing.assert_array_equal(c, conf)
    assert kw["metadata"]["mineral_map"] is mm and ckw["contrast_limits"] == (0.0, 1.0)
    entries = legend_entries(["kaolinite", "calcite", "talc"], np.array([2, 2, 2, 1, 0]))
    assert [e[0] for e in entries] == ["calcite", "kaolinite"]                 # talc absent, most frequent first
    assert entries[0][2] == pytest.approx(0.75) and entries[0][1] == "#00e6ff"
    feats = {"f2200_wavelength_nm": np.array([[2195.0, np.nan], [2210.0, 2205.0]]),
             "f2200_depth": np.array([[0.1, 0.0], [0.3, 0.2]]), "f2200_asymmetry": np.zeros((2, 2))}
    lds = {kw["name"]: (d, kw) for d, kw, _ in feature_maps_to_layer_data(feats, prefix="t ")}
    assert lds["t f2200_wavelength_nm"][1]["colormap"] == "turbo" and lds["t f2200_wavelength_nm"][1]["visible"]
    assert lds["t f2200_depth"][1]["colormap"] == "magma" and lds["t f2200_depth"][1]["contrast_limits"][0] == 0.0
    assert lds["t f2200_asymmetry"][1]["contrast_limits"] == (-1.0, 1.0)
    a, akw, _ = attribution_to_layer_data(np.array([[-2.0, 1.0], [np.nan, 0.5]]), "why", target="calcite")
    lo, hi = akw["contrast_limits"]
    assert lo == -hi and hi > 1.0 and akw["colormap"] == "PiYG"
    pts, pkw, pkind = suggestions_to_layer_data(np.array([[1, 2], [3, 4]]), np.array([0.01, 0.2]), ["a", "b"])
    assert pkind == "points" and pts.shape == (2, 2) and list(pkw["features"]["rank"]) == [1, 2]
    lab, tkw, _ = training_layer_data((270, 30, 20), ["calcite", "talc"])
    assert lab.shape == (30, 20) and not lab.any() and tkw["metadata"]["classes"] == ["calcite", "talc"]


def test_sample_data_contributions(truth):
    (data, kwargs, kind), = sample_tray()
    assert kind == "image" and data.shape == (270, 320, 64) and kwargs["name"] == "sample tray"
    layers = _layers_by_type(sample_tray_truth())
    assert layers["labels"][0][1]["metadata"]["classes"] == list(truth.classes)


def test_read_a_specim_capture_folder(tmp_path, write_envi):
    """raw + DARKREF + WHITEREF in capture/ -> one cube layer in reflectance, wavelengths in its metadata."""
    rng = np.random.default_rng(7)
    L, S, B = 6, 5, 12
    wl = np.linspace(1000.0, 2500.0, B)
    d0 = rng.integers(80, 200, (S, B))
    w0 = rng.integers(3000, 4000, (S, B))
    R = rng.uniform(0.1, 0.9, (L, S, B))
    raw = np.round(d0[None] + R * (w0 - d0)[None])
    cap = tmp_path / "TRAY7" / "capture"
    cap.mkdir(parents=True)
    fields = {"wavelength units": "Nanometers", "wavelength": list(wl)}
    for prefix, arr in (("", raw), ("DARKREF_", np.repeat(d0[None], 3, 0)), ("WHITEREF_", np.repeat(w0[None], 3, 0))):
        write_envi(cap / f"{prefix}TRAY7.hdr", arr.astype("uint16"), fields=fields, ext=".raw")
    folder = tmp_path / "TRAY7"
    assert get_reader(str(folder)) is read_path
    (data, kwargs, kind), = read_path(str(folder))
    assert kind == "image" and data.shape == (B, L, S)
    np.testing.assert_allclose(kwargs["metadata"]["wavelengths"], wl)
    expect = (raw - d0[None]) / (w0 - d0)[None]
    np.testing.assert_allclose(np.moveaxis(data, 0, -1), expect, rtol=1e-5, atol=1e-6)


def test_tray_artefacts_are_half_transparent_and_small_classes_summed_in_the_legend():
    from napari_hsimin._convert import ARTEFACT_ALPHA, label_colormap, legend_html
    cmap = label_colormap(["kaolinite", "plastic", "Wood"])
    assert cmap[1][3] == 1.0 and cmap[2][3] == ARTEFACT_ALPHA and cmap[3][3] == ARTEFACT_ALPHA
    html = legend_html([("calcite", "#00e6ff", 0.9), ("talc", "#c7ffa9", 0.0995), ("garnet", "#9e224c", 0.0005)])
    assert "calcite" in html and "talc" in html and "1 more: garnet" in html and html.count("<tr>") == 3


def test_tsg_packages_open_through_the_registry():
    from hsimin.samples import hylogger_path
    tsg = hylogger_path("SWMB007d")
    for path in (tsg, tsg.parent, hylogger_path("SWMB007d", "tir")):
        assert get_reader(str(path)) is read_path
    (data, kwargs, kind), = read_path(str(tsg))
    assert kind == "image" and data.shape == (531, 72, 1)
    assert kwargs["metadata"]["wavelengths"][0] == 380.0 and kwargs["metadata"]["scan_meta"]["hole_id"] == \
        "SWMB007d_Chips"


def test_a_reader_registered_with_hsimin_opens_in_napari(tmp_path, monkeypatch):
    """A reader added to hsimin's registry (as an entry point would add it) reaches napari with no plugin change."""
    from hsimin.io import registry
    from hsimin.io.registry import Reader

    def sniff(p):
        return p.suffix == ".toy"

    def open_toy(p, **_):
        vals = np.frombuffer(p.read_bytes(), np.float32).reshape(2, 3, 4)
        return Cube(vals.copy(), [1000.0, 1100.0, 1200.0, 1300.0], meta=ScanMeta(source=str(p)))

    monkeypatch.setitem(registry._READERS, "toy", Reader("toy", sniff, open_toy, priority=1))
    path = tmp_path / "scan.toy"
    path.write_bytes(np.arange(24, dtype=np.float32).tobytes())
    assert get_reader(str(path)) is read_path
    (data, kwargs, kind), = read_path(str(path))
    assert kind == "image" and data.shape == (4, 2, 3) and float(data[1, 0, 0]) == 1.0
    assert get_reader(str(tmp_path / "other.txt")) is None
