"""hsimin.testing: the seeded generators plant what their docstrings say."""
import numpy as np
import pytest

from hsimin.core.errors import InputError
from hsimin.testing import DEFAULT_CLASSES, make_spectra, make_tray, swir_wavelengths

WL = swir_wavelengths(151)          # 10 nm spacing, 1000-2500 nm


def test_make_spectra_shapes_labels_groups():
    s = make_spectra(12, WL, seed=3, n_groups=3)
    K = len(DEFAULT_CLASSES)
    assert s.spectra.shape == (12 * K, WL.size) and s.spectra.dtype == np.float32
    assert s.class_names == tuple(DEFAULT_CLASSES)
    assert np.array_equal(np.bincount(s.labels), np.full(K, 12))
    assert np.all(np.diff(s.labels) >= 0)                      # class-major order
    for k, name in enumerate(s.class_names):
        g = s.groups[s.labels == k]
        assert sorted(set(g)) == [f"{name}-{i}" for i in range(3)]
    assert np.array_equal(s.wavelengths, WL)


def test_make_spectra_is_seeded():
    a, b = make_spectra(5, WL, seed=7), make_spectra(5, WL, seed=7)
    c = make_spectra(5, WL, seed=8)
    assert np.array_equal(a.spectra, b.spectra)
    assert not np.allclose(a.spectra, c.spectra)


def test_make_spectra_plants_the_feature_at_its_centre_and_depth():
    classes = {"a": [(1700.0, 0.4, 40.0)], "b": [(2200.0, 0.25, 30.0)]}
    s = make_spectra(3, WL, classes, snr=None, seed=0, group_shift_nm=0.0, centre_jitter_nm=0.0,
                     depth_jitter=0.0, slope=0.0)
    for k, (centre, depth, _) in enumerate(f[0] for f in classes.values()):
        spec = s.spectra[s.labels == k].astype(np.float64)
        rel = spec / spec.max(axis=1, keepdims=True)
        assert np.all(np.abs(WL[rel.argmin(axis=1)] - centre) <= 5.0)
        assert np.allclose(1.0 - rel.min(axis=1), depth, atol=0.01)


def test_make_spectra_noise_matches_snr():
    clean = make_spectra(400, WL, {"a": [(2200.0, 0.3, 40.0)]}, snr=None, seed=1, n_groups=1)
    noisy = make_spectra(400, WL, {"a": [(2200.0, 0.3, 40.0)]}, snr=50.0, seed=1, n_groups=1)
    resid = (noisy.spectra - clean.spectra).astype(np.float64)
    ratio = resid.std(axis=1) / clean.spectra.mean(axis=1)
    assert abs(np.median(ratio) - 1 / 50.0) < 0.1 / 50.0


def test_make_spectra_rejects_bad_features():
    with pytest.raises(InputError):
        make_spectra(2, WL, {"a": [(2200.0, 1.5, 20.0)]})
    with pytest.raises(InputError):
        make_spectra(0, WL)


def test_make_tray_layout_and_truth():
    t = make_tray((64, 23), WL, seed=4, n_sticks=3)
    H, W = 64, 23
    assert t.cube.shape == (H, W, WL.size) and t.labels.shape == (H, W)
    assert np.array_equal(t.cube.mask, t.labels >= 0)
    assert (t.labels[0] == -1).all() and (t.labels[-1] == -1).all()
    assert (t.labels[:, 0] == -1).all() and (t.labels[:, -1] == -1).all()
    stick_w = (W - 2 - 2) // 3
    for d in (1 + stick_w, 2 + 2 * stick_w):                   # dividers between the sticks
        assert (t.labels[:, d] == -1).all()
    assert set(np.unique(t.labels)) <= set(range(-1, len(t.class_names)))
    assert len(np.unique(t.labels[t.labels >= 0])) >= 3
    data = np.asarray(t.cube.data)
    assert data[t.labels >= 0].mean() > 5 * data[t.labels < 0].mean()   # core is brighter than the plastic tray


def test_make_tray_pixels_carry_their_class_features():
    t = make_tray((80, 20), WL, seed=5)
    ref = make_spectra(50, WL, seed=11, snr=None)
    t_ = np.linspace(-1, 1, WL.size)
    basis = np.stack([np.ones_like(t_), t_, t_ ** 2], axis=1)
    proj = np.eye(WL.size) - basis @ np.linalg.pinv(basis)      # removes brightness and continuum slope

    def norm(x):                                                 # detrended log reflectance, unit length
        x = np.log(np.clip(x.astype(np.float64), 1e-4, None)) @ proj
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    cents = np.stack([norm(ref.spectra[ref.labels == k]).mean(axis=0) for k in range(len(ref.class_names))])
    px = np.asarray(t.cube.data)[t.labels >= 0]
    pred = (norm(px) @ norm(cents).T).argmax(axis=1)
    assert np.mean(pred == t.labels[t.labels >= 0]) > 0.9


def test_make_tray_is_seeded():
    a, b = make_tray((30, 12), WL, seed=9), make_tray((30, 12), WL, seed=9)
    assert np.array_equal(np.asarray(a.cube.data), np.asarray(b.cube.data))
    assert np.array_equal(a.labels, b.labels)
