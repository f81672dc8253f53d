"""Samples from labelled cubes and libraries: pixel/patch contents, padding, caps, groups, merging."""
import numpy as np
import pytest

from hsimin.core import Cube, ScanMeta, SpectralLibrary
from hsimin.core.errors import InputError
from hsimin.data.samples import (SampleSet, cap_per_class, concat_samples, cube_samples, library_samples,
                                 unlabelled_samples)
from hsimin.testing import make_tray, swir_wavelengths


def _ramp_cube(H=7, W=6, B=3, tray="T1"):
    """Pixel (r, c) band b holds 100 r + c + 0.001 b: every window's content is predictable."""
    r, c, b = np.meshgrid(np.arange(H), np.arange(W), np.arange(B), indexing="ij")
    data = (100.0 * r + c + 0.001 * b).astype(np.float32)
    return Cube(data, [1000.0, 1500.0, 2000.0][:B], meta=ScanMeta(tray_id=tray))


def test_pixel_samples_are_the_labelled_pixels():
    cube = _ramp_cube()
    lab = np.full((7, 6), -1, np.int16)
    lab[1, 2], lab[5, 0], lab[6, 5] = 0, 1, 1
    s = cube_samples(cube, lab, ["a", "b"])
    assert s.x.shape == (3, 3) and s.patch_size == 1
    for (src, r, c), x, y in zip(s.coords, s.x, s.y):
        assert src == 0 and y == lab[r, c]
        assert np.allclose(x, np.asarray(cube.data)[r, c])
    assert s.class_names == ("a", "b") and set(s.groups) == {"T1"} and s.sources == ("T1",)


@pytest.mark.parametrize("mode", ["reflect", "edge", "symmetric", "constant"])
@pytest.mark.parametrize("k", [3, 4, 5])
def test_patches_match_numpy_pad(mode, k):
    cube = _ramp_cube()
    lab = np.zeros((7, 6), np.int16)                     # every pixel labelled, borders included
    s = cube_samples(cube, lab, ["a"], patch_size=k, pad_mode=mode, slab_lines=2)
    before, after = k // 2, k - 1 - k // 2
    padded = np.pad(np.asarray(cube.data), ((before, after), (before, after), (0, 0)), mode=mode)
    assert s.x.shape == (42, k, k, 3)
    for (_src, r, c), x in zip(s.coords, s.x):
        assert np.array_equal(x, padded[r:r + k, c:c + k])
        assert np.array_equal(x[k // 2, k // 2], np.asarray(cube.data)[r, c])   # centre = the labelled pixel


def test_slab_size_does_not_change_samples():
    t = make_tray((40, 14), swir_wavelengths(6), seed=0)
    a = cube_samples(t.cube, t.labels, t.class_names, patch_size=5, slab_lines=3)
    b = cube_samples(t.cube, t.labels, t.class_names, patch_size=5, slab_lines=1000)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.coords, b.coords)


def test_caps_masks_and_class_remapping():
    t = make_tray((60, 20), swir_wavelengths(6), seed=2)
    full = cube_samples(t.cube, t.labels, t.class_names)
    capped = cube_samples(t.cube, t.labels, t.class_names, max_per_class=10, seed=1)
    assert max(capped.counts().values()) == 10
    assert all(capped.counts()[n] == min(10, full.counts()[n]) for n in t.class_names)
    again = cube_samples(t.cube, t.labels, t.class_names, max_per_class=10, seed=1)
    assert np.array_equal(capped.coords, again.coords)
    half = np.zeros((60, 20), bool)
    half[:30] = True
    top = cube_samples(t.cube, t.labels, t.class_names, pixel_mask=half)
    assert (top.coords[:, 1] < 30).all() and len(top) == int(((t.labels >= 0) & half).sum())
    only = cube_samples(t.cube, t.labels, t.class_names, target_classes=["calcite", "kaolinite"])
    assert only.class_names == ("calcite", "kaolinite")
    names = np.array(t.class_names)[t.labels[only.coords[:, 1], only.coords[:, 2]]]
    assert np.array_equal(np.array(only.class_names)[only.y], names)


def test_nonfinite_windows_are_dropped_and_memory_is_guarded():
    cube = _ramp_cube()
    data = np.asarray(cube.data).copy()
    data[3, 3, 1] = np.nan
    cube = Cube(data, cube.wavelengths)
    lab = np.zeros((7, 6), np.int16)
    px = cube_samples(cube, lab, ["a"])
    assert len(px) == 41 and px.info["dropped_nonfinite"] == 1
    pt = cube_samples(cube, lab, ["a"], patch_size=3)
    assert len(pt) == 42 - 9 and np.isfinite(pt.x).all()
    with pytest.raises(InputError, match="max_per_class"):
        cube_samples(cube, lab, ["a"], patch_size=3, max_bytes=100)
    with pytest.raises(InputError):
        cube_samples(cube, lab[:3], ["a"])


def test_unlabelled_samples_come_from_core_pixels():
    t = make_tray((50, 16), swir_wavelengths(6), seed=3)
    u = unlabelled_samples(t.cube, 100, patch_size=3, seed=0)
    assert len(u) == 100 and (u.y == -1).all()
    assert t.cube.mask[u.coords[:, 1], u.coords[:, 2]].all()
    assert len(unlabelled_samples(t.cube, 10 ** 6)) == int(t.cube.mask.sum())


def _library():
    wl = np.array([1000.0, 1500.0, 2000.0, 2500.0])
    S = np.array([[.5, .4, .3, .5], [.5, .4, .3, .5], [.6, .2, .6, .6], [.6, .2, .6, .6], [.1, .1, .1, np.nan],
                  [.7, .7, .1, .7]])
    return SpectralLibrary(S, wl, [f"n{i}" for i in range(6)],
                           ["calcite", "calcite", "kaolinite", "kaolinite", "kaolinite", "talc"],
                           sample_ids=["A", "B", "C", "C", "D", "E"])


def test_library_samples_labels_groups_and_filters():
    s = library_samples(_library())
    assert s.class_names == ("calcite", "kaolinite", "talc")
    assert s.y.tolist() == [0, 0, 1, 1, 2] and s.groups.tolist() == ["A", "B", "C", "C", "E"]
    assert s.info["dropped_nonfinite"] == 1 and s.coords is None
    two = library_samples(_library(), min_groups_per_class=2)          # kaolinite has 1 finite sample: C
    assert two.class_names == ("calcite",) and two.info["dropped_classes"] == ["kaolinite", "talc"]
    p = library_samples(_library(), patch_size=3, class_names=["talc", "calcite"])
    assert p.x.shape == (3, 3, 3, 4) and p.class_names == ("talc", "calcite")
    assert np.all(p.x == p.x[:, 1:2, 1:2, :])                          # homogeneous tiles


def test_concat_unifies_classes_and_renumbers_sources():
    a = cube_samples(_ramp_cube(tray="A"), np.zeros((7, 6), np.int16), ["x"], max_per_class=3)
    b = cube_samples(_ramp_cube(tray="B"), np.ones((7, 6), np.int16), ["x", "y"], max_per_class=2)
    lib = library_samples(SpectralLibrary(np.ones((2, 3)), [1000.0, 1500.0, 2000.0], ["p", "q"], ["y", "z"]))
    m = concat_samples([lib, a, b])
    assert m.class_names == ("y", "z", "x")
    assert [m.class_names[i] for i in m.y] == ["y", "z", "x", "x", "x", "y", "y"]
    assert len(m.sources) == 3 and m.sources[1:] == ("A", "B")
    assert m.coords[:2, 0].tolist() == [-1, -1] and set(m.coords[2:5, 0]) == {1} and set(m.coords[5:, 0]) == {2}
    only = concat_samples([a, b], class_names=["y"])
    assert len(only) == 2 and only.class_names == ("y",)
    with pytest.raises(InputError):
        concat_samples([a, cube_samples(_ramp_cube(), np.zeros((7, 6), np.int16), ["x"], patch_size=3)])


def test_sampleset_validates_and_subsets():
    s = SampleSet(np.zeros((4, 3)), [0, 1, 1, -1], ["a", "b"], [1.0, 2.0, 3.0], ["g"] * 4)
    assert s.counts() == {"a": 1, "b": 2}
    assert len(s.subset(s.y >= 1)) == 2
    with pytest.raises(InputError):
        SampleSet(np.zeros((4, 3)), [0, 1, 2, 0], ["a", "b"], [1.0, 2.0, 3.0], ["g"] * 4)
    with pytest.raises(InputError):
        SampleSet(np.zeros((4, 2, 3, 3)), [0] * 4, ["a"], [1.0, 2.0, 3.0], ["g"] * 4)


def test_cap_per_class_keeps_unlabelled():
    y = np.array([0] * 10 + [1] * 3 + [-1] * 2)
    idx = cap_per_class(y, 4, seed=0)
    assert np.bincount(y[idx][y[idx] >= 0]).tolist() == [4, 3] and (y[idx] == -1).sum() == 2
