"""The plugin's widgets in a real viewer (``make_napari_viewer``): open the sample tray, map it, click pixels,
explain, paint, retrain and re-map. Needs a display: ``make test`` runs these under ``xvfb-run``."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from hsimin.io import open_map  # noqa: E402

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")),
                                 reason="needs a display: run under xvfb-run (make test does)")]

TIMEOUT_S = 180


@pytest.fixture
def viewer(make_napari_viewer):
    v = make_napari_viewer()
    v.open_sample("hsimin", "sample_tray")                     # through the manifest's sample-data contribution
    return v


def _click(viewer, position, *, drag_to=None, modifiers=()):
    """A left click (or a drag) at a world position, through napari's own mouse-callback dispatch."""
    import wrapt
    from types import SimpleNamespace

    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    def event(kind, pos, dragging=False):
        return wrapt.ObjectProxy(SimpleNamespace(type=kind, position=tuple(pos), button=1, modifiers=list(modifiers),
                                                 is_dragging=dragging, handled=False, pos=(0, 0),
                                                 view_direction=None, up_direction=None, dims_displayed=[1, 2],
                                                 delta=(0, 0)))

    mouse_press_callbacks(viewer, event("mouse_press", position))
    if drag_to is not None:
        mouse_move_callbacks(viewer, event("mouse_move", drag_to, dragging=True))
    mouse_release_callbacks(viewer, event("mouse_release", drag_to or position))


def _sam_map(viewer):
    """Dock a MapWidget, map the current cube with SAM and wait; returns the widget (job finished, no error)."""
    from napari_hsimin import MapWidget

    w = MapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.method.value = "sam"
    w.run()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    return w


def test_sample_tray_opens_with_the_band_slider_in_nm(viewer):
    layer = viewer.layers["sample tray"]
    wl = layer.metadata["wavelengths"]
    assert layer.data.shape == (270, 320, 64) and wl.shape == (270,)
    viewer.dims.set_current_step(0, 200)
    assert layer.axis_labels[0] == f"{wl[200]:.1f} nm"
    assert viewer.dims.axis_labels[0] == f"{wl[200]:.1f} nm"


def test_map_widget_library_identification_legend_threshold_features_and_cancel(viewer, truth):
    w = _sam_map(viewer)
    layer = w.map_layer
    assert layer.name == "sample tray minerals (sam)" and layer.data.shape == (320, 64)
    classes = layer.metadata["classes"]
    names = np.array(["", *classes], dtype=object)[layer.data]
    core = truth.labels >= 0
    truth_names = np.array(truth.classes, dtype=object)[truth.labels[core]]
    assert np.mean(names[core] == truth_names) > 0.9                 # a real map of the real-spectra tray
    tray_floor = truth.extra["core_fraction"] == 0
    assert tray_floor.sum() > 3000
    assert np.mean(np.isin(names[tray_floor], ["plastic", ""])) > 0.9  # the tray is named for what it is
    assert viewer.layers["sample tray"].metadata["mask"].shape == (320, 64)
    top = max(set(names[core]), key=lambda n: np.sum(names[core] == n))
    assert top in w.legend.value and "%" in w.legend.value
    classified = (layer.data > 0).sum()
    w.min_confidence.value = 0.5
    assert 0 < (layer.data > 0).sum() < classified
    conf = viewer.layers["sample tray minerals (sam) confidence"].data
    assert 0.0 < conf.max() <= 1.0 and conf.min() >= 0.0

    w.run_features()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    pos = viewer.layers["sample tray f2200_wavelength_nm"]
    assert pos.colormap.name == "turbo" and pos.visible
    finite = pos.data[np.isfinite(pos.data)]
    assert finite.size > 1000 and finite.min() > 2180 and finite.max() < 2228
    assert viewer.layers["sample tray f2330_depth"].colormap.name == "magma"

    w.run()
    w.job.cancel()
    w.job.wait(TIMEOUT_S)
    assert w.job.cancelled and w.job.error is None and w.status.value == "cancelled"


def test_inspector_click_pin_drag_and_hover(viewer, tray, truth):
    from napari_hsimin import SpectrumInspector

    ins = SpectrumInspector(viewer)
    viewer.window.add_dock_widget(ins)
    kao = truth.classes.index("kaolinite")
    r, c = (int(v) for v in np.argwhere(truth.labels == kao)[len(np.argwhere(truth.labels == kao)) // 2])
    _click(viewer, (0, r, c))
    rep = ins.current
    assert (rep.row, rep.col) == (r, c) and ins.last_error is None
    np.testing.assert_allclose(rep.spectrum, tray.data[r, c], rtol=1e-6)
    assert len(rep.matches) == 5 and [s for _, s in rep.matches] == sorted((s for _, s in rep.matches), reverse=True)
    assert "kaolinite" in [m for m, _ in rep.matches]
    assert 2195 < rep.features["f2200_wavelength_nm"] < 2215 and rep.features["f2200_depth"] > 0.05
    assert np.nanmax(rep.continuum_removed) <= 1.0 + 1e-6
    assert rep.matches[0][0] in ins.info.value and "AlOH 2200" in ins.info.value
    # hsimin's interpretation of the pixel, as hsimin identify gives it
    assert rep.answers["swir"]["min1"] == "kaolinite" and rep.answers["swir"]["wt1"] >= 0.5
    assert "interpretation" in ins.info.value and "kaolinite" in rep.label

    ins.pin()
    _click(viewer, (0, r + 40, c))
    assert (ins.current.row, ins.current.col) == (r + 40, c) and len(ins.pins) == 1
    spectra_lines = [ln for ln in ins.figure.axes[0].get_lines() if len(ln.get_xdata()) > 2]
    assert len(spectra_lines) == 2                                  # the pinned pixel and the current one
    assert viewer.layers["inspected pixels"].data.shape == (2, 2)

    _click(viewer, (0, 10, 10), drag_to=(0, 30, 30))              # a drag pans: nothing inspected
    assert (ins.current.row, ins.current.col) == (r + 40, c)

    from napari.utils.interactions import mouse_move_callbacks
    import wrapt
    from types import SimpleNamespace
    move = wrapt.ObjectProxy(SimpleNamespace(type="mouse_move", position=(0, 5, 6), modifiers=[], is_dragging=False,
                                             button=None, handled=False))
    mouse_move_callbacks(viewer, move)
    assert (ins.current.row, ins.current.col) == (r + 40, c)        # hover without Shift: nothing
    move = wrapt.ObjectProxy(SimpleNamespace(type="mouse_move", position=(0, 5, 6), modifiers=["Shift"],
                                             is_dragging=False, button=None, handled=False))
    mouse_move_callbacks(viewer, move)
    assert (ins.current.row, ins.current.col) == (5, 6)
    ins.clear_pins()
    assert ins.pins == []


def test_explain_a_pixel_and_an_attribution_map(viewer, tiny_model, truth):
    pytest.importorskip("captum")
    from napari_hsimin import AttributionMapWidget, SpectrumInspector

    ins = SpectrumInspector(viewer)
    ins.checkpoint.value = tiny_model
    assert "kaolinite" in ins.target.choices and "predicted" in ins.target.choices
    ins.explain.value = True
    r, c = (int(v) for v in np.argwhere(truth.labels == truth.classes.index("white_mica"))[0])
    rep = ins.inspect_pixel(r, c)
    assert ins.last_error is None, ins.last_error
    a = rep.attribution
    assert a.method == "ig" and a.values.shape == (270,) and a.predicted_name == "white_mica"
    assert abs(a.delta) < 0.05 * np.abs(a.values).sum() + 1e-4     # integrated gradients' completeness
    assert len(ins.figure.axes) == 3 and "white_mica" in ins.figure.axes[2].get_title()
    ins.attr_method.value = "occlusion"
    assert ins.current.attribution.method == "occlusion"

    w = AttributionMapWidget(viewer)
    w.checkpoint.value = tiny_model
    w.target.value = "white_mica"
    w.preset.value = w.preset.choices[0]                            # AlOH 2200 nm
    assert (w.lo.value, w.hi.value) == (2180.0, 2230.0)
    w.run()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    layer = w.layer
    assert layer.data.shape == (320, 64) and layer.colormap.name == "PiYG"
    lo, hi = layer.contrast_limits
    assert lo == pytest.approx(-hi) and np.isfinite(layer.data).sum() > 5000
    core = truth.labels >= 0
    assert np.isfinite(layer.data[core]).all() and np.nanstd(layer.data) > 0
    from hsimin.explain import attribution_map
    from hsimin.models import load_model
    from napari_hsimin._convert import layer_to_cube
    cube = layer_to_cube(viewer.layers["sample tray"])
    rows = slice(100, 110)
    direct = attribution_map(load_model(tiny_model), cube, "white_mica", (2180.0, 2230.0), method="occlusion")
    np.testing.assert_allclose(layer.data[rows], direct[rows], rtol=1e-4, atol=1e-6)


def test_map_with_a_trained_model(viewer, tiny_model, truth):
    from napari_hsimin import MapWidget

    w = MapWidget(viewer)
    w.method.value = "model"
    w.checkpoint.value = tiny_model
    w.run()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    layer = w.map_layer
    assert layer.metadata["classes"] == list(truth.classes)
    core = truth.labels >= 0
    assert np.mean(layer.data[core] - 1 == truth.labels[core]) > 0.85
    tray_floor = truth.extra["core_fraction"] == 0
    assert np.mean(layer.data[tray_floor] == 0) > 0.8               # masked or screened: no tray class
    screened = layer.data.copy()

    w.mask_background.value = False                                  # the albedo mask alone would hide the floor
    cube_layer = viewer.layers["sample tray"]
    cube_layer.metadata = {**cube_layer.metadata, "mask": None}     # forget the mask the first run stored
    w.run()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    assert np.mean(w.map_layer.data[tray_floor] == 0) > 0.8          # the artefact screen alone does it too
    assert np.mean(w.map_layer.data[core] == screened[core]) > 0.998  # (the albedo mask took 7 dark core pixels)
    screened = w.map_layer.data.copy()
    cube_layer.metadata = {**cube_layer.metadata, "mask": None}
    w.artefacts.value = False                                        # without the screen the floor gets minerals
    w.run()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    assert np.mean(w.map_layer.data[tray_floor] == 0) < 0.05
    # the screen takes (almost) nothing from the core: a handful of pixels of 11 470 may read as tray
    assert np.mean(w.map_layer.data[core] == screened[core]) > 0.998
    assert np.mean(w.map_layer.data[tray_floor] == 0) < np.mean(screened[tray_floor] == 0) - 0.75


def test_label_export_retrain_remap_and_suggest(viewer, truth, tmp_path):
    pytest.importorskip("torch")
    from hsimin.io.hdf5 import read_arrays_hdf5
    from hsimin.models import load_model
    from napari_hsimin import LabelTrainWidget

    w = LabelTrainWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.class_source.value = "tray"
    lab = w.new_labels_layer()
    assert lab.metadata["classes"][:3] == ["kaolinite", "white_mica", "smectite"] and lab.mode == "paint"
    w.paint_class.value = "calcite"
    assert lab.selected_label == lab.metadata["classes"].index("calcite") + 1
    rng = np.random.default_rng(0)
    painted = ["kaolinite", "white_mica", "chlorite", "calcite"]
    data = np.zeros_like(lab.data)
    for name in painted:
        px = np.argwhere(truth.labels == truth.classes.index(name))
        for rr, cc in px[rng.choice(len(px), 25, replace=False)]:
            data[rr, cc] = lab.metadata["classes"].index(name) + 1
    lab.data = data

    w.export_path.value = str(tmp_path / "training.h5")
    path = w.export()
    assert path is not None and w.job.error is None, w.job.error
    back = open_map(path)
    assert list(back.classes) == lab.metadata["classes"] and (back.labels >= 0).sum() == 100
    arrays = read_arrays_hdf5(path, "training")
    assert arrays["x"].shape == (100, 270) and set(arrays["y"].tolist()) == {
        lab.metadata["classes"].index(n) for n in painted}

    w.mode.value = "new"
    w.epochs.value = 15
    w.out_path.value = str(tmp_path / "new.pt")
    w.n_suggest.value = 12
    w.train()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    res = w.last_result
    loaded = load_model(res.checkpoint)
    assert list(loaded.class_names) == painted and res.n_samples == 100 and len(res.history) == 15
    remap = viewer.layers["sample tray minerals (retrained)"]
    assert remap.metadata["classes"] == painted
    pts = viewer.layers["label next"].data
    assert 0 < len(pts) <= 12
    rows, cols = pts[:, 0].astype(int), pts[:, 1].astype(int)
    assert not (data[rows, cols] > 0).any()                        # never a pixel labelled already
    assert viewer.layers["sample tray"].metadata.get("mask") is None or \
        viewer.layers["sample tray"].metadata["mask"][rows, cols].all()
    assert w.session.model_path == res.checkpoint                  # the other widgets now use the new model

    # fine-tune it with one class more: the head grows, the backbone is kept
    px = np.argwhere(truth.labels == truth.classes.index("talc"))[:20]
    data = lab.data.copy()
    data[px[:, 0], px[:, 1]] = lab.metadata["classes"].index("talc") + 1
    lab.data = data
    w.mode.value = "finetune"
    w.checkpoint.value = res.checkpoint
    w.epochs.value = 5
    w.out_path.value = str(tmp_path / "tuned.pt")
    w.train()
    w.job.wait(TIMEOUT_S)
    assert w.job.error is None, w.job.error
    assert list(load_model(tmp_path / "tuned.pt").class_names) == painted + ["talc"]


def test_save_and_reopen_a_map_through_napari(viewer, truth, tmp_path):
    import napari

    for data, kwargs, kind in __import__("napari_hsimin").sample_tray_truth():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    layer = viewer.layers["sample tray truth"]
    out = tmp_path / "truth_copy.h5"
    written = napari.save_layers(str(out), [layer], plugin="hsimin")
    assert written and out.is_file()
    back = open_map(out)
    np.testing.assert_array_equal(back.labels, truth.labels)
    assert list(back.classes) == list(truth.classes)
    new = viewer.open(str(out), plugin="hsimin")
    assert new[0].metadata["classes"] == list(truth.classes)


def test_widgets_open_from_the_plugins_menu(make_napari_viewer):
    """The manifest's widget contributions instantiate with the viewer injected."""
    v = make_napari_viewer()
    v.open_sample("hsimin", "sample_tray")
    widgets = []
    for name in ("Spectrum inspector", "Mineral map", "Attribution map", "Label, retrain, re-map"):
        dock, widget = v.window.add_plugin_dock_widget("hsimin", name)
        assert widget.cube.value is v.layers["sample tray"], name
        widgets.append(widget)
    assert all(w.session is widgets[0].session for w in widgets)      # one viewer, one current model
    widgets[3].session.set_model("/somewhere/retrained.pt")
    assert str(widgets[1].checkpoint.value) == str(widgets[2].checkpoint.value) == "/somewhere/retrained.pt"
    assert any(getattr(cb, "__name__", "") == "_on_mouse_drag" for cb in v.mouse_drag_callbacks)


def test_a_lazy_cube_layer_scrolls_maps_and_inspects_like_a_loaded_one(make_napari_viewer, monkeypatch, truth):
    """A tray above LAZY_LAYER_BYTES opens as a lazy band-first view of its file; the band slider, the
    library map and the inspector work on it and give what they give on the loaded cube."""
    import napari_hsimin._convert as convert
    from hsimin.samples import tray_path
    from napari_hsimin import SpectrumInspector

    monkeypatch.setattr(convert, "LAZY_LAYER_BYTES", 1 << 20)
    viewer = make_napari_viewer()
    viewer.open(str(tray_path()), plugin="hsimin")
    layer = viewer.layers[-1]
    assert isinstance(layer.data, convert.BandFirstCube) and layer.data.shape == (270, 320, 64)
    viewer.dims.set_current_step(0, 180)
    viewer.window._qt_viewer.canvas.native.grab()                     # draw: napari slices band 180 from disk
    plane = np.asarray(layer._slice.image.raw)                         # what napari shows (its slice response)
    np.testing.assert_array_equal(plane, np.asarray(layer.data.band_last[:, :, 180]))

    w = _sam_map(viewer)
    classes = w.map_layer.metadata["classes"]
    names = np.array(["", *classes], dtype=object)[w.map_layer.data]
    core = truth.labels >= 0
    truth_names = np.array(truth.classes, dtype=object)[truth.labels[core]]
    assert np.mean(names[core] == truth_names) > 0.9

    insp = SpectrumInspector(viewer)
    viewer.window.add_dock_widget(insp)
    insp.cube.value = layer
    report = insp.inspect_pixel(100, 30)
    assert insp.last_error is None, insp.last_error
    assert report.spectrum.shape == (270,) and np.isfinite(report.spectrum).all()
    np.testing.assert_array_equal(report.spectrum, np.asarray(layer.data.band_last[100, 30], np.float64))
