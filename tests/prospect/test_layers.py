"""Layers from raw inputs: IDW, fault buffers, resampling, transforms, scaling (numpy side)."""
import numpy as np
import pytest

from hsimin.core import InputError, Raster
from hsimin.prospect.layers import (DEFAULT_RINGS_M, fault_buffer_score, fault_distance, fit_robust_scaling,
                                    grid_for_extent, idw_grid, prepare_layers, resample_raster, ring_score,
                                    robust_scale, rowcol_to_xy, stack_rasters, transform_layers, xy_to_rowcol)


def test_grid_and_cell_coordinates_round_trip():
    transform, shape = grid_for_extent(0, 0, 10_500, 4_000, 1000)
    assert shape == (4, 11)
    x, y = rowcol_to_xy(transform, [0, 3], [0, 10])
    assert np.allclose(x, [500, 10_500]) and np.allclose(y, [3_500, 500])
    r, c = xy_to_rowcol(transform, x, y)
    assert r.tolist() == [0, 3] and c.tolist() == [0, 10]


def test_idw_reproduces_samples_and_interpolates_between_them():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10_000, 40)
    y = rng.uniform(0, 10_000, 40)
    v = 3.0 + x / 1000.0
    r = idw_grid(x, y, {"Cu": v}, cell_size=500, power=2, crs="EPSG:32650")
    assert r.layer_names == ("Cu",) and r.crs == "EPSG:32650"
    vals = r.values[..., 0]
    assert np.all(np.isfinite(vals))
    # IDW is a weighted mean: bounded by the samples, and increasing west to east like the samples
    assert vals.min() >= v.min() - 1e-9 and vals.max() <= v.max() + 1e-9
    assert np.nanmean(vals[:, -3:]) > np.nanmean(vals[:, :3]) + 3
    # a cell centre sitting on a sample takes that sample's value
    t = (500.0, 0.0, 0.0, 0.0, -500.0, 10_000.0)
    r2 = idw_grid([250.0, 4750.0], [9750.0, 9750.0], {"a": np.array([1.0, 9.0])}, transform=t, shape=(20, 20))
    assert r2.values[0, 0, 0] == pytest.approx(1.0) and r2.values[0, 9, 0] == pytest.approx(9.0)


def test_idw_power_and_search_radius():
    x, y = np.array([0.0, 10_000.0]), np.array([0.0, 0.0])
    t = (1000.0, 0.0, 0.0, 0.0, -1000.0, 500.0)
    low = idw_grid(x, y, np.array([0.0, 10.0]), transform=t, shape=(1, 10), power=1).values[0, :, 0]
    high = idw_grid(x, y, np.array([0.0, 10.0]), transform=t, shape=(1, 10), power=4).values[0, :, 0]
    # a higher power pulls cells towards their nearest sample
    assert high[1] < low[1] and high[8] > low[8]
    near = idw_grid(x, y, np.array([0.0, 10.0]), transform=t, shape=(1, 10), search_radius=2500).values[0, :, 0]
    assert np.isnan(near[5]) and np.isfinite(near[0]) and np.isfinite(near[9])


def test_idw_skips_nan_values_per_layer_and_respects_mask():
    x = np.array([0.0, 1000.0, 2000.0])
    y = np.zeros(3)
    t = (500.0, 0.0, -250.0, 0.0, -500.0, 250.0)
    m = np.ones((1, 5), bool)
    m[0, 2] = False
    r = idw_grid(x, y, {"a": np.array([1.0, np.nan, 3.0]), "b": np.array([5.0, 5.0, 5.0])}, transform=t, shape=(1, 5),
                 mask=m)
    assert np.isnan(r.values[0, 2, 0]) and np.isnan(r.values[0, 2, 1])
    assert r.values[0, 0, 0] == pytest.approx(1.0) and r.values[0, 4, 0] == pytest.approx(3.0)
    assert np.allclose(r.values[0, [0, 1, 3, 4], 1], 5.0)


def test_idw_rejects_bad_arguments():
    with pytest.raises(InputError, match="cell size"):
        idw_grid([0.0], [0.0], np.array([1.0]))
    with pytest.raises(InputError, match="power"):
        idw_grid([0.0, 1.0], [0.0, 1.0], np.array([1.0, 2.0]), cell_size=1, power=0)


def test_fault_distance_is_exact_point_to_segment():
    t = (100.0, 0.0, 0.0, 0.0, -100.0, 1000.0)
    line = np.array([[150.0, 500.0], [850.0, 500.0]])
    d = fault_distance([line], t, (10, 10))
    rng = np.random.default_rng(0)
    for r, c in rng.integers(0, 10, (20, 2)):
        px, py = 50 + 100 * c, 950 - 100 * r
        tt = np.clip((px - 150) / 700, 0, 1)
        want = np.hypot(px - (150 + tt * 700), py - 500)
        assert d[r, c] == pytest.approx(want)
    capped = fault_distance([line], t, (10, 10), max_distance=150)
    assert np.isinf(capped[0, 0]) and capped[4, 4] == pytest.approx(d[4, 4])


def test_ring_score_reclassifies_six_rings():
    s = ring_score(np.array([0, 499, 500, 501, 1200, 2999, 3001, np.inf]), DEFAULT_RINGS_M)
    assert np.allclose(s, [1, 1, 1, 5 / 6, 4 / 6, 1 / 6, 0, 0])
    with pytest.raises(InputError):
        ring_score(np.zeros(2), (500, 400))


def test_fault_buffer_score_layer():
    t = (250.0, 0.0, 0.0, 0.0, -250.0, 5000.0)
    mask = np.ones((20, 20), bool)
    mask[0, 0] = False
    r = fault_buffer_score([np.array([[0.0, 2500.0], [5000.0, 2500.0]])], t, (20, 20), crs="EPSG:32650", mask=mask)
    s = r.values[..., 0]
    assert r.layer_names == ("faults",) and np.isnan(s[0, 0])
    assert s[9, 5] == pytest.approx(1.0)                  # 125 m from the fault
    assert s[3, 5] == pytest.approx(0.5)                  # 1625 m: the 4th ring (1500-2000 m) of 6
    col = s[1:10, 5]
    assert np.all(np.diff(col) >= 0)                      # rising towards the fault


def test_resample_bilinear_reproduces_a_linear_field_and_average_downsamples():
    t_src = (1000.0, 0.0, 0.0, 0.0, -1000.0, 20_000.0)
    rr, cc = np.mgrid[0:20, 0:20]
    src = Raster((2.0 * cc + 3.0 * rr).astype(np.float32), t_src, "EPSG:32650", ["a"])
    fine = resample_raster(src, (250.0, 0.0, 2000.0, 0.0, -250.0, 18_000.0), (40, 40), "bilinear")
    fx, fy = np.mgrid[0:40, 0:40]
    col = (2000 + (fy + 0.5) * 250) / 1000 - 0.5
    row = (2000 + (fx + 0.5) * 250) / 1000 - 0.5
    assert np.allclose(fine.values[..., 0], 2 * col + 3 * row, atol=1e-4)
    coarse = resample_raster(src, (4000.0, 0.0, 0.0, 0.0, -4000.0, 20_000.0), (5, 5), "average")
    assert coarse.values[0, 0, 0] == pytest.approx(np.mean(2.0 * cc[:4, :4] + 3.0 * rr[:4, :4]))


def test_resample_is_nan_aware_and_carries_the_mask():
    t = (1000.0, 0.0, 0.0, 0.0, -1000.0, 4000.0)
    v = np.ones((4, 4), np.float32)
    v[0, 0] = np.nan
    m = np.ones((4, 4), bool)
    m[3, 3] = False
    out = resample_raster(Raster(v, t, None, ["a"], mask=m), (500.0, 0.0, 0.0, 0.0, -500.0, 4000.0), (8, 8))
    assert np.allclose(out.values[np.isfinite(out.values)], 1.0)
    assert not out.mask[7, 7] and out.mask[0, 0]
    with pytest.raises(InputError, match="unknown resampling"):
        resample_raster(Raster(v, t), t, (4, 4), "cubic")


def test_stack_rasters_intersects_masks_and_checks_grids(area):
    raster, _, _ = area
    a = Raster(raster.values[..., :2], raster.transform, raster.crs, ["Au", "Cu"], mask=raster.mask)
    b = Raster(raster.values[..., 2:], raster.transform, raster.crs, ["Li", "faults"])
    extra = np.ones(raster.shape, bool)
    extra[-1] = False
    s = stack_rasters([a, b], mask=extra)
    assert s.layer_names == ("Au", "Cu", "Li", "faults")
    assert not s.mask[-1].any() and not s.mask[0, 0] and s.mask[20, 20]
    with pytest.raises(InputError, match="not on the grid"):
        stack_rasters([a, Raster(b.values[:-1], b.transform, None, ["Li", "faults"])])
    with pytest.raises(InputError, match="repeat"):
        stack_rasters([a, a])


def test_log_and_clr_transforms(area):
    raster, _, _ = area
    lg = transform_layers(raster, "log", ["Au", "Cu", "Li"])
    m = raster.mask
    assert np.allclose(lg.values[m][:, :3], np.log(raster.values[m][:, :3]), rtol=1e-5)
    assert np.allclose(lg.values[m][:, 3], raster.values[m][:, 3])          # faults untouched
    clr = transform_layers(raster, "clr", ["Au", "Cu", "Li"])
    assert np.allclose(clr.values[m][:, :3].sum(axis=1), 0.0, atol=1e-4)     # CLR rows sum to zero
    # changing units (ppm -> ppb) leaves the CLR unchanged after per-layer scaling
    v = raster.values.copy()
    v[..., 0] *= 1000.0
    clr2 = transform_layers(Raster(v, raster.transform, raster.crs, raster.layer_names, mask=m), "clr",
                            ["Au", "Cu", "Li"])
    s1, _ = robust_scale(clr)
    s2, _ = robust_scale(clr2)
    assert np.allclose(s1.values[m], s2.values[m], atol=1e-4)


def test_nonpositive_values_are_substituted_or_refused(area):
    raster, _, _ = area
    v = raster.values.copy()
    v[20, 20, 0] = 0.0
    r = Raster(v, raster.transform, raster.crs, raster.layer_names, mask=raster.mask)
    with pytest.raises(InputError, match="<= 0"):
        transform_layers(r, "log", ["Au"], nonpositive="error")
    out = transform_layers(r, "log", ["Au"])
    pos_min = v[..., 0][raster.mask & (v[..., 0] > 0)].min()
    assert out.values[20, 20, 0] == pytest.approx(np.log(pos_min / 2), rel=1e-5)


def test_robust_scaling_centres_on_the_study_area(area):
    raster, _, _ = area
    scaled, sc = robust_scale(transform_layers(raster, "log", ["Au", "Cu", "Li"]), clip=0)
    inside = scaled.values[raster.mask]
    q1, med, q3 = np.percentile(inside, [25, 50, 75], axis=0)
    assert np.allclose(med, 0, atol=1e-5) and np.allclose(q3 - q1, 1, atol=1e-4)
    assert fit_robust_scaling(raster).centre.shape == (4,)


def test_prepare_layers_fills_no_data_and_masks(area):
    raster, _, _ = area
    v = raster.values.copy()
    v[30, 30, 1] = np.nan
    r = Raster(v, raster.transform, raster.crs, raster.layer_names, mask=raster.mask)
    p = prepare_layers(r, "log", ["Au", "Cu", "Li"])
    assert np.all(np.isfinite(p.values))
    assert not p.mask[30, 30] and not p.mask[0, 0]
    assert np.all(p.values[~p.mask] == 0)
    assert p.recipe()["transform"] == "log" and p.recipe()["transformed_layers"] == ["Au", "Cu", "Li"]
    with pytest.raises(InputError, match="no cell"):
        prepare_layers(r, "log", mask=np.zeros(r.shape, bool))
