"""Spectral resampling: Gaussian band response on the linearly interpolated source, linear interpolation without
a FWHM, effective widths, NaN handling, shapes, and agreement with USGS's own AVIRIS-95 convolution."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsimin.core import InputError, SpectralLibrary, WavelengthError
from hsimin.preprocess.resample import (FWHM_PER_SIGMA, fwhm_to_sigma, resample, resample_library,
                                        resampling_weights)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "spectral"


def brute_force(src_wl, spectrum, dst_wl, fwhm, min_weight=0.5):
    """Reference: integrate the linear interpolant of the spectrum against each Gaussian on a 0.01 nm grid,
    over the source range only, divided by the Gaussian's integral over the same range."""
    x = np.arange(src_wl[0], src_wl[-1] + 1e-9, 0.01)
    y = np.interp(x, src_wl, spectrum)
    out = np.empty(len(dst_wl))
    for j, (c, f) in enumerate(zip(dst_wl, fwhm)):
        sig = f / FWHM_PER_SIGMA
        g = np.exp(-0.5 * ((x - c) / sig) ** 2)
        mass = np.trapezoid(g, x) / (sig * np.sqrt(2 * np.pi))
        out[j] = np.trapezoid(g * y, x) / np.trapezoid(g, x) if mass >= min_weight else np.nan
    return out


def smooth_spectrum(rng, wl):
    """A reflectance-like spectrum: smooth background with a few absorption features."""
    s = 0.5 + 0.1 * np.sin(wl / 170.0 + rng.uniform(0, 6))
    for c in rng.uniform(wl[0], wl[-1], 4):
        s -= rng.uniform(0.05, 0.2) * np.exp(-0.5 * ((wl - c) / rng.uniform(5, 30)) ** 2)
    return s


@pytest.fixture
def irregular_grid(rng):
    """An uneven source grid (2-12 nm steps), 1000-2500 nm."""
    steps = rng.uniform(2.0, 12.0, 400)
    wl = 1000.0 + np.concatenate([[0.0], np.cumsum(steps)])
    return wl[wl <= 2500.0]


def test_gaussian_matches_brute_force_integration(rng, irregular_grid):
    src = irregular_grid
    s = smooth_spectrum(rng, src)
    dst = np.linspace(1010.0, 2480.0, 60)
    fwhm = rng.uniform(4.0, 25.0, dst.size)
    got = resample(s, src, dst, fwhm)
    want = brute_force(src, s, dst, fwhm)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_gaussian_differs_from_point_sampling(rng, irregular_grid):
    """The response of a 20 nm band over a narrow absorption is shallower than the interpolated value."""
    src = np.arange(1000.0, 2500.0, 1.0)
    s = 0.6 - 0.3 * np.exp(-0.5 * ((src - 2200.0) / 4.0) ** 2)
    at = np.array([2200.0])
    linear = resample(s, src, at)
    gauss = resample(s, src, at, 20.0)
    assert linear[0] == pytest.approx(0.3, abs=1e-9)
    assert gauss[0] > 0.45          # the band averages the narrow feature with its shoulders


def test_linear_interpolation_without_fwhm(rng, irregular_grid):
    src = irregular_grid
    s = smooth_spectrum(rng, src)
    dst = np.linspace(src[0], src[-1], 123)
    np.testing.assert_allclose(resample(s, src, dst), np.interp(dst, src, s), rtol=0, atol=1e-12)


def test_bands_outside_the_source_are_nan_and_edges_are_kept():
    src = np.arange(1000.0, 2001.0, 1.0)
    s = np.full(src.size, 0.4)
    dst = np.array([980.0, 1000.0, 1500.0, 2000.0, 2030.0])
    lin = resample(s, src, dst)
    assert np.isnan(lin[0]) and np.isnan(lin[-1])
    np.testing.assert_allclose(lin[1:4], 0.4)
    g = resample(s, src, dst, 10.0)
    assert np.isnan(g[0]) and np.isnan(g[-1])       # no response inside the source
    np.testing.assert_allclose(g[1:4], 0.4)         # half-covered end bands are renormalised, not dropped
    cov = resampling_weights(src, dst, 10.0).coverage()
    np.testing.assert_allclose(cov[[1, 3]], 0.5, atol=1e-6)
    np.testing.assert_allclose(cov[2], 1.0, atol=1e-9)


def test_constant_spectrum_stays_constant(irregular_grid):
    dst = np.linspace(irregular_grid[0], irregular_grid[-1], 270)
    out = resample(np.full(irregular_grid.size, 0.37), irregular_grid, dst, 10.0)
    np.testing.assert_allclose(out, 0.37, rtol=0, atol=1e-12)


def test_effective_fwhm_uses_the_source_bandpass(rng):
    src = np.arange(1000.0, 2501.0, 1.0)
    s = smooth_spectrum(rng, src)
    dst = np.linspace(1100.0, 2400.0, 50)
    target, source = 10.0, 6.0
    got = resample(s, src, dst, target, source_fwhm=np.full(src.size, source))
    want = resample(s, src, dst, np.sqrt(target ** 2 - source ** 2))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # a target narrower than the source is not sharpened: linear interpolation
    sharp = resample(s, src, dst, 4.0, source_fwhm=source)
    np.testing.assert_allclose(sharp, np.interp(dst, src, s), rtol=0, atol=1e-12)


def test_nan_channels_are_left_out_and_weights_renormalised(rng):
    src = np.arange(1000.0, 1200.0, 2.0)
    s = smooth_spectrum(rng, src)
    s_nan = s.copy()
    s_nan[[40, 41]] = np.nan
    dst = np.array([1050.0, 1081.0, 1150.0])
    fw = np.array([8.0, 8.0, 8.0])
    W = resampling_weights(src, dst, fw).to_dense()
    finite = np.isfinite(s_nan)
    want = (W[:, finite] @ s_nan[finite]) / W[:, finite].sum(axis=1)
    got = resample(s_nan, src, dst, fw)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[0] == pytest.approx(resample(s, src, dst, fw)[0], abs=1e-15)   # far from the gap: unchanged


def test_each_spectrum_is_resampled_alone_whatever_its_neighbours_and_the_threads(rng):
    """The kernel takes four NaN-free spectra at a time: every spectrum must still get the result it gets alone,
    the window's terms summed in order, whether it sits in a group of four, beside a spectrum with a missing
    channel, in the remainder rows, or in another thread's chunk."""
    from hsimin._numba import num_threads
    src = np.arange(1000.0, 2500.0, 6.0)
    dst = np.arange(1010.0, 2490.0, 5.6)
    X = np.array([smooth_spectrum(rng, src) for _ in range(4103)])
    X[rng.choice(len(X), 300, replace=False), rng.integers(0, src.size, 300)] = np.nan
    alone = np.array([resample(x, src, dst, 14.0, source_fwhm=10.0) for x in X[:40]])
    w = resampling_weights(src, dst, 14.0, source_fwhm=10.0)
    for i in np.flatnonzero(np.isfinite(X[:40]).all(axis=1)):   # the strict in-order sum of the window
        for j in range(dst.size):
            num = 0.0
            for k in range(w.weights.shape[1]):
                num += w.weights[j, k] * X[i, w.start[j] + k]
            assert alone[i, j] == num / w.total[j]
    with num_threads(1):
        one = resample(X, src, dst, 14.0, source_fwhm=10.0)
    with num_threads(2):
        two = resample(X, src, dst, 14.0, source_fwhm=10.0)
        shifted = resample(X[1:], src, dst, 14.0, source_fwhm=10.0)
    assert np.array_equal(one, two, equal_nan=True)
    assert np.array_equal(one[1:], shifted, equal_nan=True)
    assert np.array_equal(one[:40], alone, equal_nan=True)
    f32 = resample(X.astype(np.float32), src, dst, 14.0, source_fwhm=10.0)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, one, rtol=1e-6, atol=1e-7)


def test_band_mostly_on_missing_channels_is_nan():
    src = np.arange(1000.0, 1100.0, 1.0)
    s = np.full(src.size, 0.5)
    s[40:70] = np.nan                                 # 1040-1069 nm missing
    out = resample(s, src, np.array([1020.0, 1036.0, 1055.0]), 10.0)
    assert out[0] == pytest.approx(0.5)
    assert out[1] == pytest.approx(0.5)               # about a quarter missing: kept, renormalised
    assert np.isnan(out[2])                           # response almost all on NaN channels
    strict = resample(s, src, np.array([1036.0]), 10.0, min_weight=0.9)
    assert np.isnan(strict[0])


def test_shapes_on_the_last_axis_and_dtypes(rng):
    src = np.linspace(1000.0, 2500.0, 200)
    dst = np.linspace(1000.0, 2500.0, 90)
    cube = rng.random((3, 4, 200))
    out = resample(cube, src, dst, 12.0)
    assert out.shape == (3, 4, 90) and out.dtype == np.float64
    flat = resample(cube.reshape(12, 200), src, dst, 12.0)
    np.testing.assert_array_equal(out.reshape(12, 90), flat)
    one = resample(cube[1, 2], src, dst, 12.0)
    np.testing.assert_array_equal(one, out[1, 2])
    f32 = resample(cube.astype(np.float32), src, dst, 12.0)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, out, rtol=1e-6, atol=1e-6)
    ints = resample((cube * 10000).astype(np.uint16), src, dst)
    assert ints.dtype == np.float64
    empty = resample(np.empty((0, 200)), src, dst, 12.0)
    assert empty.shape == (0, 90)


def test_weights_are_cached_and_match_their_sparse_form(rng):
    src = np.linspace(1000.0, 2500.0, 300)
    dst = np.linspace(1010.0, 2490.0, 100)
    w1 = resampling_weights(src, dst, 10.0)
    w2 = resampling_weights(src.copy(), dst.copy(), np.full(100, 10.0))
    assert w1 is w2
    assert not w1.weights.flags.writeable
    s = smooth_spectrum(rng, src)
    dense = w1.to_dense()
    np.testing.assert_allclose(w1.to_sparse().toarray(), dense)
    np.testing.assert_allclose(resample(s, src, dst, 10.0), (dense @ s) / dense.sum(axis=1), atol=1e-12)


def test_errors_say_what_is_wrong():
    src = np.linspace(1000.0, 2500.0, 10)
    with pytest.raises(InputError, match="10 wavelengths"):
        resample(np.zeros((2, 11)), src, src)
    with pytest.raises(WavelengthError, match="increasing"):
        resample(np.zeros(10), src[::-1], src)
    with pytest.raises(InputError, match="target_fwhm"):
        resample(np.zeros(10), src, src, np.ones(3))
    with pytest.raises(InputError, match="min_weight"):
        resample(np.zeros(10), src, src, min_weight=0)


def test_fwhm_to_sigma():
    assert fwhm_to_sigma(2.3548200450309493) == pytest.approx(1.0)


def test_resample_library_keeps_labels(rng):
    src = np.linspace(1000.0, 2500.0, 151)
    lib = SpectralLibrary(rng.random((3, 151)), src, ["a_1", "b_2", "c_3"], ["kaolinite", "calcite", "talc"],
                          "test", ["S1", "S2", "S3"], None, {"purity": ["a", "b", "a"]})
    dst = np.linspace(1100.0, 2400.0, 40)
    out = resample_library(lib, dst, np.full(40, 10.0))
    assert out.spectra.shape == (3, 40)
    assert out.names == lib.names and out.minerals == lib.minerals and out.sample_ids == lib.sample_ids
    assert out.attrs == lib.attrs
    np.testing.assert_allclose(out.fwhm, 10.0)
    np.testing.assert_allclose(out.spectra, resample(lib.spectra, src, dst, 10.0))
    assert resample_library(lib, dst).fwhm is None


def test_cube_chunk_throughput():
    """A 64 x 2000 x 270 float32 chunk (128 k spectra) resamples in well under a second after warm-up."""
    import time
    src = np.linspace(1000.0, 2500.0, 270)
    dst = np.linspace(1005.0, 2495.0, 250)
    X = np.random.default_rng(1).random((64, 2000, 270), dtype=np.float32)
    resample(X[:1], src, dst, 12.0)
    t0 = time.perf_counter()
    out = resample(X, src, dst, 12.0)
    dt = time.perf_counter() - t0
    assert out.shape == (64, 2000, 250) and np.isfinite(out).all()
    assert dt < 2.0, f"{dt:.2f} s for 128 000 spectra"


@pytest.mark.skipif(not (SHARED / "usgs_splib07b_cvAVIRIS1995.h5").exists(),
                    reason="needs ../shared/data/spectral (USGS's AVIRIS-95 convolution)")
def test_reproduces_usgs_aviris95_convolution_of_asd_spectra():
    """USGS's own splib07b -> AVIRIS-1995 product, for the ASD spectra of the bundled minerals file: median
    |diff| ~1e-5 with the instrument bandpass as source FWHM (USGS error bars: 0.0075 at p95)."""
    import h5py
    from hsimin.io.libraries import spectral_libs_dir
    with h5py.File(SHARED / "usgs_splib07b_cvAVIRIS1995.h5", "r") as f:
        titles = {" ".join(t.split()): i for i, t in enumerate(f["title"].asstr()[:])}
        R = f["reflectance"][:].astype(np.float64)
        wl = f["wavelength_nm"][:].astype(np.float64)
        fw = f["fwhm_nm"][:].astype(np.float64)
    n = wl.size
    keep = np.array([(i == 0 or wl[i] > wl[:i].max()) and (i == n - 1 or wl[i] < wl[i + 1:].min()) for i in range(n)])
    with h5py.File(spectral_libs_dir() / "usgs_splib07" / "usgs_splib07a_minerals.h5", "r") as f:
        g = f["ASD"]
        src = g["wavelength_nm"][:].astype(np.float64)
        S = g["reflectance"][:].astype(np.float64)
        inst = g["instrument"].asstr()[:]
        tit = [" ".join(t.split()) for t in g["title"].asstr()[:]]
        bandpass = {k: g[f"fwhm_nm_{k}"][:].astype(np.float64) for k in set(inst)}
    diffs = []
    for i in range(0, len(tit), 7):
        j = titles.get(tit[i])
        if j is None or not np.isfinite(S[i]).all():
            continue
        out = resample(S[i], src, wl[keep], fw[keep], source_fwhm=bandpass[inst[i]])
        ok = np.isfinite(R[j, keep]) & np.isfinite(out)
        diffs.append(np.abs(out[ok] - R[j, keep][ok]))
    d = np.concatenate(diffs)
    assert len(diffs) > 40
    assert np.median(d) < 1e-4 and np.percentile(d, 95) < 2e-3
