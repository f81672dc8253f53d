"""Core types validate once, at construction, and say what is wrong."""
import numpy as np
import pytest

from hsimin.core import UNCLASSIFIED, Cube, InputError, MineralMap, Raster, ScanMeta, SpectralLibrary, WavelengthError


def _cube(rng, H=4, W=3, B=5, **kw):
    return Cube(rng.random((H, W, B), dtype=np.float32), np.linspace(1000, 2500, B), **kw)


def test_cube_validates_shapes():
    rng = np.random.default_rng(0)
    c = _cube(rng, fwhm=np.full(5, 10.0), bad_bands=[0, 1, 0, 0, 0], mask=np.ones((4, 3)))
    assert c.shape == (4, 3, 5) and c.nbytes == 4 * 3 * 5 * 4
    assert c.bad_bands.dtype == bool and c.bad_bands[1] and c.mask.dtype == bool
    with pytest.raises(WavelengthError, match="4 values for 5 bands"):
        Cube(np.zeros((2, 2, 5), np.float32), np.arange(4.0) + 1000)
    with pytest.raises(InputError, match=r"\(H, W, B\)"):
        Cube(np.zeros((2, 5), np.float32), np.arange(5.0) + 1000)
    with pytest.raises(InputError, match="mask"):
        _cube(rng, mask=np.ones((3, 3)))
    with pytest.raises(InputError, match="fwhm"):
        _cube(rng, fwhm=np.ones(4))


def test_cube_is_frozen_and_load_gives_ndarray():
    rng = np.random.default_rng(1)
    c = _cube(rng)
    with pytest.raises(AttributeError):   # dataclasses.FrozenInstanceError
        c.data = None
    loaded = c.load()
    assert isinstance(loaded.data, np.ndarray) and loaded.data.flags.c_contiguous
    np.testing.assert_array_equal(loaded.data, c.data)


def test_scan_meta_round_trip_and_depth_check():
    m = ScanMeta(hole_id="DDH1", tray_id="T3", depth_from_m="10.5", depth_to_m=12, attrs={"interleave": "bil"})
    assert m.depth_from_m == 10.5 and isinstance(m.depth_to_m, float)
    assert ScanMeta.from_dict(m.to_dict()) == m
    with pytest.raises(InputError, match="above"):
        ScanMeta(depth_from_m=5, depth_to_m=4)


def test_mineral_map_accepts_keywords_only_labels_and_classes():
    labels = np.array([[0, 1], [-1, 1]])
    mm = MineralMap(labels=labels, classes=["kaolinite", "calcite"])
    assert mm.labels.dtype == np.int16 and mm.classes == ("kaolinite", "calcite")
    assert mm.names().tolist() == [["kaolinite", "calcite"], ["", "calcite"]]
    assert mm.meta == ScanMeta() and mm.scores is None
    with pytest.raises(InputError, match="-1..1"):
        MineralMap(labels=np.array([[2]]), classes=["a", "b"])
    with pytest.raises(InputError, match="scores"):
        MineralMap(labels=labels, classes=["a", "b"], scores=np.zeros((2, 2, 3)))
    assert UNCLASSIFIED == -1


def test_mineral_map_classes_from_mapping():
    mm = MineralMap(labels=np.zeros((1, 1), int), classes={0: "talc"})
    assert mm.classes == ("talc",)


def test_spectral_library_checks_lengths_and_subsets():
    S = np.random.default_rng(2).random((3, 4))
    lib = SpectralLibrary(S, [1000, 1500, 2000, 2500], ["a1", "b1", "a2"], ["kaolinite", "talc", "kaolinite"],
                          sample_ids=["A", "B", "A"], attrs={"purity": ["a", "b", "a"]})
    sub = lib.subset(np.array([True, False, True]))
    assert len(sub) == 2 and sub.minerals == ("kaolinite", "kaolinite") and sub.attrs["purity"] == ("a", "a")
    with pytest.raises(InputError, match="names"):
        SpectralLibrary(S, [1000, 1500, 2000, 2500], ["a"], ["x", "y", "z"])


def test_raster_cell_centres_follow_the_affine_transform():
    r = Raster(np.zeros((2, 3)), transform=(100.0, 0, 5000.0, 0, -100.0, 9000.0), crs="EPSG:32650")
    x, y = r.cell_centres()
    assert r.values.shape == (2, 3, 1) and r.layer_names == ("layer0",)
    assert x[0, 0] == 5050.0 and y[0, 0] == 8950.0 and x[1, 2] == 5250.0 and y[1, 2] == 8850.0
