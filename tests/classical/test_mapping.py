"""Streaming cube mapping: identify_cube and map_features on in-memory and lazily read cubes of real spectra."""
import tracemalloc

import numpy as np
import pytest

from hsimin.classical import (FeatureMatcher, SpectralAngleMapper, extract_features, identify_cube, map_features,
                              select_bands)
from hsimin.core import Cube
from hsimin.core.errors import InputError, WavelengthError
from hsimin.io.lazy import LazyCubeArray

WL = np.linspace(1000.0, 2500.0, 270)
FWHM = np.full(270, 10.0)
ROWS = {"Kaolinite_CM9": "kaolinite", "Calcite_WS272": "calcite", "Muscovite_GDS113_Ruby": "white_mica",
        "Talc_GDS23": "talc", "Epidote_GDS26.a_75-200um": "epidote"}


def tray(lib, cols=8, seed=31, snr=150.0):
    """(5, cols, 270) cube: row r holds noisy, brightness-scaled copies of the r-th ROWS spectrum. Pixel (0, 0)
    is masked out, pixel (1, 1) has a NaN band. Returns (cube, truth (5,) names)."""
    rng = np.random.default_rng(seed)
    names = np.asarray(lib.names)
    data = np.empty((len(ROWS), cols, WL.size), np.float32)
    for r, name in enumerate(ROWS):
        s = lib.spectra[np.flatnonzero(names == name)[0]]
        data[r] = s[None] * rng.uniform(0.6, 1.2, (cols, 1)) + rng.normal(0.0, s.mean() / snr, (cols, s.size))
    data[1, 1, 100] = np.nan
    mask = np.ones(data.shape[:2], bool)
    mask[0, 0] = False
    return Cube(data, WL, fwhm=FWHM, mask=mask), np.array(list(ROWS.values()))


@pytest.mark.parametrize("method", ["sam", "sid", "match", "mixture"])
def test_identify_cube_methods(usgs_scanner, method):
    cube, truth = tray(usgs_scanner)
    mm = identify_cube(cube, method, library=usgs_scanner, top_k=3)
    H, W = cube.shape[:2]
    assert mm.labels.shape == (H, W) and mm.labels.dtype == np.int16
    assert all(c == c.lower() for c in mm.classes) and {"kaolinite", "calcite", "white_mica"} <= set(mm.classes)
    assert mm.labels[0, 0] == -1 and mm.labels[1, 1] == -1
    assert mm.extra["status"][0, 0] == -1 and mm.extra["status"][1, 1] == -1
    names = mm.names()
    valid = mm.extra["status"] >= 0
    right = names == truth[:, None]
    assert right[valid].mean() >= 0.9, (method, names)
    assert mm.extra["topk_labels"].shape == (H, W, 3) and mm.extra["topk_scores"].shape == (H, W, 3)
    assert np.all(mm.extra["topk_labels"][~valid] == -1) and np.isnan(mm.extra["topk_scores"][~valid]).all()
    assert np.array_equal(mm.extra["topk_labels"][..., 0][mm.labels >= 0], mm.labels[mm.labels >= 0])
    conf = mm.confidence[valid]
    assert np.all((conf >= 0) & (conf <= 1)) and np.all(mm.confidence[~valid] == 0)
    assert mm.provenance["method"] == method and mm.provenance["recipe"]["steps"][0]["step"] == "band_window"
    assert mm.produced_by.startswith("hsimin.classical.") and mm.provenance["n_references"] > 100
    if method == "mixture":
        for k in ("mineral_2", "fraction_1", "fraction_2", "fit_error"):
            assert mm.extra[k].shape == (H, W)
        f1 = mm.extra["fraction_1"][valid]
        assert np.all((f1 >= 0.5) & (f1 <= 1.0))


def test_full_scores_and_fitted_estimator(usgs_scanner):
    cube, truth = tray(usgs_scanner, seed=32)
    mm = identify_cube(cube, "sam", library=usgs_scanner, full_scores=True)
    assert mm.scores.shape == cube.shape[:2] + (len(mm.classes),)
    ok = mm.labels >= 0
    assert np.array_equal(np.argmax(mm.scores, axis=2)[ok], mm.labels[ok])
    # a fitted estimator is used as it is: its wavelengths pick the cube's bands
    idx = select_bands(cube)
    S = usgs_scanner.spectra[:, idx]
    keep = np.isfinite(S).all(axis=1)
    est = SpectralAngleMapper(wavelengths=WL[idx]).fit(S[keep], np.asarray(usgs_scanner.minerals)[keep])
    mm2 = identify_cube(cube, est)
    assert np.array_equal(mm2.labels, mm.labels)
    # an unfitted estimator is fitted on the cube's bands (its wavelengths set to them)
    mm3 = identify_cube(cube, SpectralAngleMapper(), library=usgs_scanner)
    assert np.array_equal(mm3.labels, mm.labels)
    # ... and a fitted one refuses a cube without its bands
    other = Cube(np.asarray(cube.data)[:, :, ::2], WL[::2])
    with pytest.raises(WavelengthError, match="does not have"):
        identify_cube(other, est)


def test_any_sklearn_classifier(usgs_scanner):
    from sklearn.neighbors import KNeighborsClassifier
    cube, truth = tray(usgs_scanner, seed=33)
    idx = select_bands(cube)
    S = usgs_scanner.spectra[:, idx]
    keep = np.isfinite(S).all(axis=1)
    S = S[keep] / S[keep].mean(axis=1, keepdims=True)
    knn = KNeighborsClassifier(1).fit(S, np.asarray(usgs_scanner.minerals)[keep])
    mm = identify_cube(cube, knn, top_k=2)
    assert mm.classes == tuple(knn.classes_)
    assert mm.extra["topk_labels"].shape[2] == 2 and mm.labels[0, 0] == -1
    assert np.all((mm.confidence >= 0) & (mm.confidence <= 1))


class SyntheticLazy(LazyCubeArray):
    """A (H, W, B) cube generated line by line (never held whole): line r is spectra[r % k] with seeded noise.
    Records the largest number of lines read at once."""

    def __init__(self, spectra, H, W):
        super().__init__((H, W, spectra.shape[1]))
        self.spectra = np.asarray(spectra, np.float32)
        self.max_lines = 0

    def _read_lines(self, r0, r1):
        self.max_lines = max(self.max_lines, r1 - r0)
        out = np.empty((r1 - r0, self.shape[1], self.shape[2]), np.float32)
        for i, r in enumerate(range(r0, r1)):
            rng = np.random.default_rng(r)
            s = self.spectra[r % len(self.spectra)]
            out[i] = s * rng.uniform(0.7, 1.1, (self.shape[1], 1)) + rng.normal(0, 0.002, (self.shape[1], s.size))
        return out


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_is_flat(usgs_scanner):
    """A cube 4x and 16x larger than the block budget: the peak memory of identify_cube grows by the outputs
    (~30 bytes/pixel), not by the cube (1080 bytes/pixel), and each read is one block."""
    names = np.asarray(usgs_scanner.names)
    spectra = np.stack([usgs_scanner.spectra[np.flatnonzero(names == n)[0]] for n in ROWS])
    W = 64
    block = 8 * W * WL.size * 4                                   # 8 lines per block
    est = FeatureMatcher(wavelengths=WL[select_bands(Cube(np.zeros((1, 1, WL.size), np.float32), WL))])
    idx = select_bands(Cube(np.zeros((1, 1, WL.size), np.float32), WL))
    S = usgs_scanner.spectra[:, idx]
    keep = np.isfinite(S).all(axis=1)
    est.fit(S[keep], np.asarray(usgs_scanner.minerals)[keep])
    peaks, results = {}, {}
    for H in (32, 128):
        lazy = SyntheticLazy(spectra, H, W)
        cube = Cube(lazy, WL, fwhm=FWHM)
        assert cube.nbytes >= 4 * block
        done = []
        peaks[H] = _peak_bytes(lambda: results.__setitem__(
            H, identify_cube(cube, est, max_bytes=block, progress=lambda d, t: done.append((d, t)))))
        assert lazy.max_lines <= 8
        assert done[-1] == (H, H) and [d for d, _ in done] == sorted(d for d, _ in done)
    grow = peaks[128] - peaks[32]
    cube_growth = 96 * W * WL.size * 4
    assert grow < 0.15 * cube_growth, (peaks, cube_growth)
    # streaming changes nothing: the first 32 lines of the big cube are the small cube
    assert np.array_equal(results[128].labels[:32], results[32].labels)
    want = np.array([ROWS[n] for n in ROWS])[np.arange(128) % 5]
    assert np.mean(results[128].names() == want[:, None]) > 0.9


def test_block_size_does_not_change_the_answer(usgs_scanner):
    cube, _ = tray(usgs_scanner, seed=34)
    a = identify_cube(cube, "match", library=usgs_scanner, lines=1)
    b = identify_cube(cube, "match", library=usgs_scanner, lines=cube.shape[0])
    assert np.array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.extra["topk_scores"], b.extra["topk_scores"], atol=1e-6)


def test_map_features_equals_extract_features(usgs_scanner):
    cube, _ = tray(usgs_scanner, seed=35)
    bad = np.zeros(WL.size, bool)
    bad[:3] = True
    cube = Cube(cube.data, WL, fwhm=FWHM, bad_bands=bad, mask=cube.mask)
    maps = map_features(cube, lines=2)
    ref = extract_features(np.asarray(cube.data)[:, :, 3:], WL[3:])
    for name, arr in maps.items():
        assert arr.shape == cube.shape[:2] and arr.dtype == np.float32
        assert np.isnan(arr[0, 0])                                   # masked
        m = np.ones(arr.shape, bool)
        m[0, 0] = False
        np.testing.assert_allclose(arr[m], ref[name][m], atol=1e-4, equal_nan=True)
    # pixel (1, 1) has a NaN band at ~1560 nm, outside every hull range: its features are still measured
    assert np.isfinite(maps["f2330_wavelength_nm"][1, 1])            # row 1: calcite
    kaol = maps["f2200_wavelength_nm"][0, 1:]
    assert np.all((kaol > 2195) & (kaol < 2215))


def test_identify_errors(usgs_scanner):
    cube, _ = tray(usgs_scanner, seed=36)
    with pytest.raises(InputError, match="library"):
        identify_cube(cube, "sam")
    with pytest.raises(InputError, match="unknown identification method"):
        identify_cube(cube, "neural", library=usgs_scanner)
    with pytest.raises(WavelengthError, match="good bands"):
        identify_cube(cube, "sam", library=usgs_scanner, fit_range=(400, 900))
    with pytest.raises(InputError, match="only apply"):
        identify_cube(cube, SpectralAngleMapper(), library=usgs_scanner, max_angle=0.1)


def test_streaming_and_the_artefact_screen_do_not_import_scikit_learn():
    """Model pipelines (batch, classify) stream features and screen tray artefacts through
    hsimin.classical.streaming / artefacts; importing scikit-learn there would cost ~2 s per worker process."""
    import subprocess
    import sys
    code = ("import sys, numpy as np\n"
            "from hsimin.core.types import Cube\n"
            "from hsimin.classical.streaming import map_features\n"
            "from hsimin.classical.artefacts import screen_cube\n"
            "wl = np.linspace(1000, 2500, 120)\n"
            "c = Cube(np.full((3, 4, 120), 0.3, np.float32), wl, fwhm=np.full(120, 12.0))\n"
            "f = map_features(c); t = screen_cube(c, ['kaolinite', 'calcite'])\n"
            "assert t.shape == (3, 4) and f['f2200_depth'].shape == (3, 4)\n"
            "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_select_bands_fit_range_open_ends_and_refusals():
    """A fit range selects bands: (-inf, inf) is all good bands (the napari matcher asks for that), a half-open
    range is open on that side, and a NaN or reversed range is refused with a WavelengthError."""
    bad = np.zeros(WL.size, bool)
    bad[:5] = True
    cube = Cube(np.ones((2, 2, WL.size), np.float32), WL, bad_bands=bad)
    assert np.array_equal(select_bands(cube, (-np.inf, np.inf)), np.arange(5, WL.size))
    assert np.array_equal(select_bands(cube, None), np.arange(5, WL.size))
    half = select_bands(cube, (2000.0, np.inf))
    assert WL[half].min() >= 2000.0 and half[-1] == WL.size - 1
    for r in [(np.nan, 2000.0), (2400.0, 2100.0)]:
        with pytest.raises(WavelengthError, match="fit range"):
            select_bands(cube, r)
    with pytest.raises(WavelengthError, match="only 0 good bands"):
        select_bands(cube, (3000.0, np.inf))
