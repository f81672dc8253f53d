"""hsimin.explain: attributions over wavelength checked against models whose answer is known exactly."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hsimin.core import Cube, InputError, MineralMap, ScanMeta, WavelengthError
from hsimin.explain import (Attribution, attribute_spectrum, attribution_map, explain_pixel, margin_map,
                            model_input, suggest_pixels)
from hsimin.models import create_model, load_model, save_model

pytest.importorskip("captum")
torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
B = 24
WL = np.linspace(2000.0, 2460.0, B)


class CentreLinear(nn.Module):
    """logits = W @ (centre pixel): every attribution of it has a closed form."""

    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(torch.as_tensor(W, dtype=torch.float32))
        self.patch_size = 1

    def forward(self, x):
        return x[:, :, x.shape[2] // 2, x.shape[3] // 2] @ self.W.T


@pytest.fixture
def linear():
    rng = np.random.default_rng(3)
    return CentreLinear(rng.normal(size=(3, B))), rng.uniform(0.2, 0.8, size=B).astype(np.float32)


def test_integrated_gradients_of_a_linear_model_is_weight_times_input(linear):
    model, x = linear
    a = attribute_spectrum(model, x, WL, target=1, method="ig", baseline="zeros", n_steps=16)
    W = model.W.detach().numpy()
    np.testing.assert_allclose(a.values, W[1] * x, rtol=1e-4, atol=1e-6)
    assert a.target == 1 and a.method == "ig" and a.baseline == "zeros"
    assert abs(a.delta) < 1e-4
    np.testing.assert_allclose(a.wavelengths, WL)
    np.testing.assert_allclose(a.probabilities.sum(), 1.0, rtol=1e-6)


def test_hull_baseline_attributes_only_the_absorption_feature():
    """A spectrum on a straight continuum with one absorption: the hull baseline is the continuum, so with
    weights = 1 the attributions are (spectrum - continuum): zero outside the feature, negative inside."""
    wl = WL
    cont = 0.3 + 0.0002 * (wl - wl[0])
    feature = 0.1 * np.exp(-0.5 * ((wl - 2200.0) / 25.0) ** 2)
    x = (cont - feature).astype(np.float32)
    model = CentreLinear(np.ones((2, B)))
    a = attribute_spectrum(model, x, wl, target=0, method="ig", baseline="hull", n_steps=8)
    np.testing.assert_allclose(a.values, -feature, atol=2e-6)
    assert abs(a.window_sum(2150, 2250)) > 0.9 * feature.sum() - 1e-3
    assert abs(a.window_sum(2400, 2460)) < 1e-4


def test_saliency_is_the_absolute_weight(linear):
    model, x = linear
    a = attribute_spectrum(model, x, WL, target=2, method="saliency")
    np.testing.assert_allclose(a.values, np.abs(model.W.detach().numpy()[2]), rtol=1e-5)
    assert a.baseline == "none"


def test_occlusion_averages_the_windows_covering_each_band(linear):
    model, x = linear
    W = model.W.detach().numpy()[0]
    spacing = WL[1] - WL[0]
    one = attribute_spectrum(model, x, WL, target=0, method="occlusion", baseline="zeros", window_nm=spacing)
    np.testing.assert_allclose(one.values, W * x, rtol=1e-4, atol=1e-6)
    three = attribute_spectrum(model, x, WL, target=0, method="occlusion", baseline="zeros", window_nm=3 * spacing)
    assert three.params["window_bands"] == 3
    contrib = W * x
    windows = np.array([contrib[s:s + 3].sum() for s in range(B - 2)])
    expect = np.array([windows[max(0, i - 2):min(B - 2, i + 1)].mean() for i in range(B)])
    np.testing.assert_allclose(three.values, expect, rtol=1e-4, atol=1e-6)


def test_target_by_name_and_predicted_default(linear):
    model, x = linear
    names = ("kaolinite", "white_mica", "chlorite")
    a = attribute_spectrum(model, x, WL, target="White_Mica", class_names=names, baseline="zeros", n_steps=4)
    assert a.target == 1 and a.target_name == "white_mica"
    b = attribute_spectrum(model, x, WL, class_names=names, method="saliency")
    assert b.target == b.predicted == int(np.argmax(model.W.detach().numpy() @ x))
    with pytest.raises(InputError, match="not one of the model's classes"):
        attribute_spectrum(model, x, WL, target="calcite", class_names=names)
    with pytest.raises(InputError, match="method"):
        attribute_spectrum(model, x, WL, method="lime")
    with pytest.raises(InputError, match="NaN"):
        attribute_spectrum(model, np.full(B, np.nan, np.float32), WL)


def _cube(h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.2, 0.8, size=(h, w, B)).astype(np.float32)
    mask = np.ones((h, w), bool)
    mask[0, 0] = False
    return Cube(data, WL, mask=mask, meta=ScanMeta(tray_id="T1"))


def test_attribution_map_matches_the_closed_form(linear):
    model, _ = linear
    cube = _cube()
    W = model.W.detach().numpy()[1]
    inside = (WL >= 2150) & (WL <= 2250)
    occl = attribution_map(model, cube, 1, (2150, 2250), method="occlusion", baseline="zeros", batch_size=7, lines=2)
    expect = (cube.data[:, :, inside] * W[inside]).sum(axis=2)
    assert np.isnan(occl[0, 0])                                  # masked pixel
    np.testing.assert_allclose(occl[1:], expect[1:], rtol=1e-4, atol=1e-6)
    ig = attribution_map(model, cube, 1, (2150, 2250), method="ig", baseline="zeros", n_steps=4)
    np.testing.assert_allclose(ig[1:], expect[1:], rtol=1e-3, atol=1e-5)
    with pytest.raises(InputError, match="no model band"):
        attribution_map(model, cube, 1, (900, 950))
    seen = []
    attribution_map(model, cube, 0, (2100, 2200), lines=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 6), (4, 6), (6, 6)]


def test_loaded_model_with_recipe_and_other_bands(tmp_path):
    """A checkpoint trained on 2100-2400 nm with continuum removal, explained on a cube with finer bands."""
    from hsimin.preprocess import BandWindow, ContinuumRemoval, Recipe
    wl_cube = np.linspace(2000.0, 2460.0, 47)
    recipe = Recipe([BandWindow(2100.0, 2400.0), ContinuumRemoval()])
    wl_model = recipe.output_wavelengths(WL)
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [8]}, "in_bands": wl_model.size,
                          "num_outputs": 2, "patch_size": 1})
    path = tmp_path / "m.pt"
    save_model(model, path, wavelengths=wl_model, class_names=["kaolinite", "calcite"], recipe=recipe.to_dict())
    loaded = load_model(path)
    rng = np.random.default_rng(1)
    cube = Cube(rng.uniform(0.2, 0.6, size=(3, 4, wl_cube.size)).astype(np.float32), wl_cube)
    x, wl = model_input(loaded, cube.data[1, 2], wl_cube)
    np.testing.assert_allclose(wl, wl_model)
    assert x.shape == (wl_model.size,) and np.isfinite(x).all() and x.max() <= 1.0 + 1e-5  # continuum removed
    a = explain_pixel(loaded, cube, 1, 2, target="calcite", method="ig", n_steps=8)
    assert isinstance(a, Attribution) and a.values.shape == wl_model.shape and a.params["pixel"] == [1, 2]
    assert a.class_names == ("kaolinite", "calcite") and a.target_name == "calcite"
    assert abs(a.delta) < 0.05 * (np.abs(a.values).sum() + 1e-6) + 1e-4
    narrow = Cube(cube.data[:, :, 25:], wl_cube[25:])
    with pytest.raises(WavelengthError, match="trained on"):
        explain_pixel(loaded, narrow, 0, 0)
    with pytest.raises(InputError, match="outside"):
        explain_pixel(loaded, cube, 3, 0)
    d = a.to_dict()
    assert json.loads(json.dumps(d))["attribution"] == [float(v) for v in a.values]


def test_patch_model_explains_a_window():
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "cnn2d", "reduce_to": 4, "widths": [4, 4]}, "in_bands": B,
                          "num_outputs": 2, "patch_size": 5})
    cube = _cube(h=4, w=4)
    a = explain_pixel(model, cube, 0, 3, method="saliency")            # a corner: the window is mirrored
    assert a.values.shape == (B,) and np.all(a.values >= 0) and a.values.sum() > 0
    with pytest.raises(InputError, match="5 x 5"):
        attribute_spectrum(model, cube.data[0, 0], WL)
    m = attribution_map(model, cube, 1, (2100, 2300), method="occlusion")
    assert m.shape == (4, 4) and np.isnan(m[0, 0]) and np.isfinite(m[1:]).all()


def test_margin_and_suggestions():
    H, W, K = 10, 12, 3
    scores = np.zeros((H, W, K), np.float32)
    scores[..., 0] = 0.9
    scores[..., 1] = 0.1
    scores[2, 3] = [0.5, 0.45, 0.05]      # margin 0.05
    scores[2, 4] = [0.5, 0.48, 0.02]      # margin 0.02, next to (2, 3)
    scores[8, 9] = [0.4, 0.3, 0.3]        # margin 0.10
    mm = MineralMap(np.zeros((H, W), np.int16), ["a", "b", "c"], scores=scores)
    margin = margin_map(mm)
    assert margin[2, 4] == pytest.approx(0.02) and margin[0, 0] == pytest.approx(0.8)
    picks = suggest_pixels(mm, 2, min_distance=3)
    assert picks.tolist() == [[2, 4], [8, 9]]                   # (2, 3) skipped: too close to (2, 4)
    assert suggest_pixels(mm, 3, min_distance=0)[:3].tolist() == [[2, 4], [2, 3], [8, 9]]
    exclude = np.zeros((H, W), bool)
    exclude[2, 4] = True
    assert suggest_pixels(mm, 1, exclude=exclude).tolist() == [[2, 3]]
    topk = MineralMap(np.zeros((2, 2), np.int16), ["a", "b"],
                      extra={"topk_scores": np.array([[[0.9, 0.1], [0.6, 0.5]], [[0.7, 0.5], [0.99, 0.0]]])})
    assert suggest_pixels(topk, 1, min_distance=0).tolist() == [[0, 1]]


def test_plot_marks_the_diagnostic_features(linear):
    from hsimin.explain.plots import DIAGNOSTIC_FEATURES, plot_attribution
    model, x = linear
    a = attribute_spectrum(model, x, WL, target=0, method="saliency")
    fig = plot_attribution(a, raw_spectrum=x, raw_wavelengths=WL)
    ax_attr = fig.axes[1]
    lines_at = {round(float(line.get_xdata()[0])) for line in ax_attr.get_lines() if len(line.get_xdata()) == 2}
    expect = {int(nm) for nm, _ in DIAGNOSTIC_FEATURES if WL.min() <= nm <= WL.max()}
    assert expect <= lines_at and {2200, 2250, 2330} <= expect
    assert "saliency" in ax_attr.get_title()


def test_plots_and_uncertainty_import_without_torch_and_captum_is_optional():
    code = ("import sys, json\n"
            "import hsimin.explain.plots, hsimin.explain.uncertainty\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'captum': 'captum' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"torch": False, "captum": False}
    code = ("import sys; sys.modules['captum'] = None\n"
            "import numpy as np, torch\n"
            "from hsimin.explain import attribute_spectrum, MissingDependencyError\n"
            "m = torch.nn.Linear(4, 2)\n"
            "f = lambda x: m(x[:, :, 0, 0])\n"
            "class M(torch.nn.Module):\n"
            "    def forward(self, x): return f(x)\n"
            "try:\n"
            "    attribute_spectrum(M(), np.ones(4, np.float32), [1000, 1100, 1200, 1300])\n"
            "except MissingDependencyError as e:\n"
            "    print('MISSING', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MISSING" in out.stdout and "hsimin[explain]" in out.stdout


def test_model_input_matches_what_predict_cube_feeds_the_model(tmp_path):
    """An explanation must see the inputs the map was made from: compare with hsimin.predict's input plan."""
    predict = pytest.importorskip("hsimin.predict")
    from hsimin.preprocess import BandWindow, ContinuumRemoval, Recipe
    rng = np.random.default_rng(5)
    recipe = Recipe([BandWindow(2100.0, 2400.0), ContinuumRemoval()])
    wl_model = recipe.output_wavelengths(WL)
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [8]}, "in_bands": wl_model.size,
                          "num_outputs": 2, "patch_size": 1})
    path = tmp_path / "m.pt"
    save_model(model, path, wavelengths=wl_model, class_names=["a", "b"], recipe=recipe.to_dict())
    loaded = load_model(path)
    for wl_cube in (WL, np.linspace(2000.0, 2460.0, 47)):               # same bands, then other bands
        cube = Cube(rng.uniform(0.2, 0.6, size=(2, 3, wl_cube.size)).astype(np.float32), wl_cube)
        ours, wl = model_input(loaded, cube.data, wl_cube)
        theirs = predict.input_plan(cube, loaded).apply(np.asarray(cube.data))
        np.testing.assert_allclose(wl, wl_model)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
