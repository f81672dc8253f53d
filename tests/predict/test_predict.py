"""Whole-cube inference: pixel, patch and dense paths against direct model calls, seamless tiling, band
handling (resample or refuse), the 'unknown' threshold and bounded memory on a lazy cube."""
from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest
import torch

from hsimin.core import Cube, ModelError
from hsimin.io.lazy import LazyCubeArray
from hsimin.models import create_model, extract_patches, load_model, save_model, to_torch
from hsimin.predict import input_plan, iter_halo_blocks, plan_tiles, predict_cube, predict_spectra
from hsimin.predict.tiling import receptive_radius, translation_period
from hsimin.preprocess import BandWindow, ContinuumRemoval, Recipe

WL = np.linspace(1000.0, 2500.0, 60)


def _spectra(rng, n, wl=WL):
    """Smooth positive spectra with absorption features at random positions (so the continuum removal and the
    resampling act on realistic curves)."""
    centre = rng.uniform(1400, 2400, (n, 1))
    depth = rng.uniform(0.05, 0.4, (n, 1))
    base = rng.uniform(0.2, 0.7, (n, 1)) * (1 + rng.uniform(-0.1, 0.1, (n, 1)) * (wl - 1750) / 750)
    return (base * (1 - depth * np.exp(-0.5 * ((wl - centre) / 40.0) ** 2))).astype(np.float32)


def _cube(rng, H, W, wl=WL, fwhm=None, mask=None):
    return Cube(_spectra(rng, H * W, wl).reshape(H, W, wl.size), wl, fwhm=fwhm, mask=mask)


def _checkpoint(tmp_path, spec, wavelengths, recipe=None, name="m.pt", K=4, seed=0):
    torch.manual_seed(seed)
    model = create_model({**spec, "in_bands": len(wavelengths), "num_outputs": K}).eval()
    path = tmp_path / name
    save_model(model, path, wavelengths=wavelengths, class_names=[f"c{i}" for i in range(K)],
               recipe=None if recipe is None else recipe.to_dict())
    return load_model(path)


PIXEL = {"backbone": {"name": "fastspec", "widths": [16, 8]}, "patch_size": 1}
RECIPE = Recipe([BandWindow(1300, 2500), ContinuumRemoval()])


@pytest.fixture
def pixel_model(tmp_path):
    return _checkpoint(tmp_path, PIXEL, RECIPE.output_wavelengths(WL), RECIPE)


# ----------------------------------------------------------------------------------------------- pixels

def test_pixel_path_equals_a_direct_model_call(rng, pixel_model):
    mask = rng.random((7, 9)) > 0.2
    cube = _cube(rng, 7, 9, mask=mask)
    mm = predict_cube(cube, pixel_model, lines=3, batch_size=10)
    X, _ = RECIPE.apply(np.asarray(cube.data)[mask], WL)
    with torch.inference_mode():
        want = torch.softmax(pixel_model.model(to_torch(X.astype(np.float32))), 1).numpy()
    np.testing.assert_allclose(mm.scores[mask], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mm.labels[mask], want.argmax(1))
    np.testing.assert_allclose(mm.confidence[mask], want.max(1), rtol=1e-6)
    assert (mm.labels[~mask] == -1).all() and (mm.confidence[~mask] == 0).all()
    assert np.isnan(mm.scores[~mask]).all()
    assert mm.classes == ("c0", "c1", "c2", "c3") and mm.produced_by == pixel_model.model_hash
    prov = mm.provenance
    assert prov["model_kind"] == "pixel" and prov["recipe"] == RECIPE.to_dict() and not prov["bands"]["resampled"]
    assert prov["pixels_classified"] == int(mask.sum()) and prov["versions"]["torch"] == torch.__version__
    spectra = predict_spectra(np.asarray(cube.data)[mask], pixel_model, wavelengths=WL)
    np.testing.assert_allclose(spectra, want, rtol=1e-5, atol=1e-6)


def test_nan_pixels_are_unclassified(rng, pixel_model):
    cube = _cube(rng, 4, 5)
    data = np.array(cube.data)
    data[1, 2, 30] = np.nan
    mm = predict_cube(dataclasses.replace(cube, data=data), pixel_model)
    assert mm.labels[1, 2] == -1 and mm.confidence[1, 2] == 0
    assert (np.delete(mm.labels.ravel(), 1 * 5 + 2) >= 0).all()


def test_threshold_marks_low_confidence_pixels_unknown(rng, pixel_model):
    cube = _cube(rng, 8, 8)
    free = predict_cube(cube, pixel_model)
    thr = float(np.median(free.confidence))
    mm = predict_cube(cube, pixel_model, threshold=thr)
    low = free.confidence < thr
    assert low.any() and (~low).any()
    assert (mm.labels[low] == -1).all()
    np.testing.assert_array_equal(mm.labels[~low], free.labels[~low])
    np.testing.assert_array_equal(mm.confidence, free.confidence)        # confidence stays for review
    assert mm.provenance["pixels_unknown"] == int(low.sum()) and mm.provenance["threshold"] == thr
    with pytest.raises(Exception, match="threshold"):
        predict_cube(cube, pixel_model, threshold=1.5)


# ------------------------------------------------------------------------------------------------ bands

def test_a_finer_band_grid_is_resampled_to_the_model(rng, pixel_model, tmp_path):
    """The same scene on a 3x finer grid (narrow bands) gives the model's answer once resampled to its grid."""
    fine = np.linspace(990.0, 2510.0, 3 * 60)
    spectra = _spectra(rng, 30, fine)
    cube_fine = Cube(spectra.reshape(5, 6, -1), fine, fwhm=np.full(fine.size, 3.0))
    mm = predict_cube(cube_fine, pixel_model)
    assert mm.provenance["bands"]["resampled"] and mm.provenance["bands"]["to_bands"] == pixel_model.wavelengths.size
    on_grid = np.stack([np.interp(WL, fine, s) for s in spectra]).astype(np.float32)
    direct = predict_cube(Cube(on_grid.reshape(5, 6, -1), WL), pixel_model)
    assert np.mean(mm.labels == direct.labels) >= 0.9
    np.testing.assert_allclose(mm.scores, direct.scores, atol=0.05)


def test_a_cube_not_covering_the_model_is_refused(rng, pixel_model):
    short = np.linspace(1000.0, 2000.0, 40)
    cube = Cube(_spectra(rng, 6, short).reshape(2, 3, -1), short, meta=None)
    with pytest.raises(ModelError, match="cover"):
        predict_cube(cube, pixel_model)
    with pytest.raises(ModelError, match="cover"):
        input_plan(cube, pixel_model)


# ------------------------------------------------------------------------------------------------ patches

def test_patch_model_equals_patches_of_the_whole_cube(rng, tmp_path):
    lm = _checkpoint(tmp_path, {"backbone": {"name": "cnn2d", "widths": [4, 8]}, "patch_size": 5}, WL)
    cube = _cube(rng, 11, 7, mask=rng.random((11, 7)) > 0.1)
    mm = predict_cube(cube, lm, lines=3, batch_size=7)              # blocks of 3 lines with a 2-line halo
    data = np.asarray(cube.data)
    padded = np.pad(data, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    rows, cols = np.nonzero(cube.mask)
    with torch.inference_mode():
        want = torch.softmax(lm.model(extract_patches(padded, rows + 2, cols + 2, 5)), 1).numpy()
    np.testing.assert_allclose(mm.scores[rows, cols], want, rtol=1e-4, atol=1e-5)
    assert mm.provenance["model_kind"] == "patch" and mm.provenance["overlap_lines"] == 2


# ------------------------------------------------------------------------------------------------ dense

@pytest.fixture
def unet_model(tmp_path):
    return _checkpoint(tmp_path, {"backbone": {"name": "unet", "base": 4, "levels": 2}, "patch_size": 16}, WL[:8],
                       name="unet.pt", K=3)


def test_dense_tiles_of_16_equal_one_tile(rng, unet_model):
    wl = WL[:8]
    cube = Cube(rng.uniform(0.1, 0.9, (45, 38, 8)).astype(np.float32), wl)
    one = predict_cube(cube, unet_model, tile=1000)
    tiled = predict_cube(cube, unet_model, tile=16, lines=16)
    assert tiled.provenance["tile"] == 16 and tiled.provenance["overlap"] >= tiled.provenance["receptive_radius"]
    np.testing.assert_array_equal(tiled.labels, one.labels)
    np.testing.assert_allclose(tiled.scores, one.scores, rtol=1e-4, atol=1e-5)
    # and a tiling without the halo does show seams: the halo is what makes it exact
    bare = predict_cube(cube, unet_model, tile=16, overlap=0)
    assert not np.allclose(bare.scores, one.scores, atol=1e-3)


def test_receptive_radius_and_period_are_measured(unet_model):
    r = receptive_radius(unet_model.model, 8)
    assert 4 <= r <= 64
    assert translation_period(unet_model.model, 8) == 4                 # two 2x2 poolings


def test_plan_tiles_cover_every_pixel_once():
    tiles = plan_tiles(37, 23, 8, 4)
    hits = np.zeros((37, 23), int)
    for t in tiles:
        hits[t.out_rows, t.out_cols] += 1
        assert t.in_rows.start <= t.out_rows.start and t.in_rows.stop >= t.out_rows.stop
        assert t.crop[0].stop - t.crop[0].start == t.out_rows.stop - t.out_rows.start
    assert (hits == 1).all()


def test_halo_blocks_carry_context_lines(rng):
    cube = Cube(rng.random((23, 4, 3)).astype(np.float32), [1000.0, 1100.0, 1200.0])
    data = np.asarray(cube.data)
    seen = []
    for b in iter_halo_blocks(cube, 5, 2):
        np.testing.assert_array_equal(b.data, data[b.start:b.start + b.data.shape[0]])
        np.testing.assert_array_equal(b.data[b.core], data[b.rows])
        assert b.start == max(0, b.rows.start - 2) and b.start + b.data.shape[0] == min(23, b.rows.stop + 2)
        seen.extend(range(b.rows.start, b.rows.stop))
    assert seen == list(range(23))


# ------------------------------------------------------------------------------------------------ memory

class _SyntheticLazy(LazyCubeArray):
    """A cube that exists only as a formula: lines are made when read."""

    def __init__(self, H, W, wl):
        super().__init__((H, W, wl.size))
        self.wl = wl

    def _read_lines(self, r0, r1):
        rows = np.arange(r0, r1, dtype=np.float32)[:, None, None]
        cols = np.arange(self.shape[1], dtype=np.float32)[None, :, None]
        wl = self.wl.astype(np.float32)[None, None, :]
        depth = 0.3 * (0.5 + 0.5 * np.sin(rows / 7.0 + cols / 5.0))
        return (0.5 * (1 - depth * np.exp(-0.5 * ((wl - 2200.0) / 40.0) ** 2))).astype(np.float32)


def test_memory_stays_bounded_on_a_lazy_cube_larger_than_the_block_budget(pixel_model):
    H, W = 3000, 40
    cube = Cube(_SyntheticLazy(H, W, WL), WL)
    size = H * W * WL.size * 4                                            # 28.8 MB of float32
    tracemalloc.start()
    try:
        mm = predict_cube(cube, pixel_model, max_bytes=size // 40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = mm.scores.nbytes + mm.labels.nbytes + mm.confidence.nbytes
    assert (mm.labels >= 0).all()
    assert peak < 0.35 * size, (peak, size)
    assert peak < outputs + size // 5, (peak, outputs)


# ------------------------------------------------------------------------------------------------ devices

def test_cuda_without_cuda_is_a_clear_error(rng, pixel_model):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(Exception, match="CUDA is not available"):
        predict_cube(_cube(rng, 2, 2), pixel_model, device="cuda")


@pytest.mark.gpu
def test_cuda_gives_the_cpu_answer(rng, pixel_model):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cube = _cube(rng, 6, 6)
    cpu = predict_cube(cube, pixel_model)
    gpu = predict_cube(cube, pixel_model, device="cuda")
    pixel_model.model.to("cpu")
    np.testing.assert_allclose(gpu.scores, cpu.scores, atol=1e-4)


# ----------------------------------------------------------------------------------------------- faults (issue 14)

class _Overflowing(torch.nn.Module):
    """A model whose logits overflow to NaN for some inputs (feature ``j`` above ``cut``): a damaged or diverged
    model that still has finite weights."""

    def __init__(self, inner, j, cut):
        super().__init__()
        self.inner, self.j, self.cut = inner, j, cut
        self.dense = getattr(inner, "dense", False)

    def forward(self, x):
        out = self.inner(x).clone()
        out[x[:, self.j, 0, 0] > self.cut] = float("nan")
        return out


def test_non_finite_model_outputs_leave_pixels_unclassified_and_counted(rng, pixel_model):
    """A model giving NaN used to map every such pixel to class 0 with NaN confidence, exit 0."""
    cube = _cube(rng, 6, 7)
    plan = input_plan(cube, pixel_model)
    feats = plan.apply(np.asarray(cube.data).reshape(-1, WL.size))
    j = feats.shape[1] // 2
    cut = float(np.median(feats[:, j]))
    bad = (feats[:, j] > cut).reshape(6, 7)
    broken = dataclasses.replace(pixel_model, model=_Overflowing(pixel_model.model, j, cut))
    mm = predict_cube(cube, broken, batch_size=8)
    assert bad.any() and (~bad).any()
    assert (mm.labels[bad] == -1).all() and (mm.confidence[bad] == 0).all() and np.isnan(mm.scores[bad]).all()
    assert (mm.labels[~bad] >= 0).all() and np.isfinite(mm.confidence[~bad]).all()
    assert mm.provenance["pixels_nonfinite"] == int(bad.sum())
    assert mm.provenance["pixels_classified"] == int((~bad).sum())


def test_maps_that_cannot_fit_in_memory_are_refused_before_the_work(rng, pixel_model, monkeypatch):
    import hsimin.core.blocks as blocks
    from hsimin.core import InputError
    monkeypatch.setattr(blocks, "available_memory", lambda: 10_000)
    with pytest.raises(InputError, match="needs about .* GB of memory for its output maps"):
        predict_cube(_cube(rng, 40, 30), pixel_model)
