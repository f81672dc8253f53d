"""Absorption-feature scalars: planted synthetic features (known truth) and real USGS spectra."""
import numpy as np
import pytest

from hsimin.classical import (DEFAULT_WINDOWS, FeatureWindow, extract_features, feature_names, parse_windows,
                              windows_to_spec)
from hsimin.core.errors import InputError, WavelengthError

GRID = np.arange(1000.0, 2500.0, 5.6)          # a 5.6 nm SWIR band set (FENIX/sisuROCK-like)
SCANNER = np.linspace(1000.0, 2500.0, 270)


def planted(rng, n, pos_range=(2190.0, 2220.0), snr=None):
    """n spectra: a sloping continuum times one Gaussian absorption of known position (nm), FWHM 15-40 nm and
    depth 0.1-0.3, with Gaussian noise of sigma = mean / snr. Returns (spectra, positions, fwhm, depths)."""
    pos = rng.uniform(*pos_range, n)
    fw = rng.uniform(15.0, 40.0, n)
    depth = rng.uniform(0.1, 0.3, n)
    sig = fw / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    cont = 0.45 + 1e-4 * (GRID - 1000.0)
    S = cont * (1.0 - depth[:, None] * np.exp(-0.5 * ((GRID - pos[:, None]) / sig[:, None]) ** 2))
    if snr is not None:
        S = S + rng.normal(0.0, 1.0, S.shape) * S.mean(axis=1, keepdims=True) / snr
    return S, pos, fw, depth


def test_planted_positions_sub_band_at_snr_500():
    rng = np.random.default_rng(11)
    S, pos, fw, depth = planted(rng, 400, snr=500.0)
    f = extract_features(S, GRID)
    err = f["f2200_wavelength_nm"] - pos
    assert np.isfinite(err).all()
    # a 5.6 nm band grid, yet every position within 1 nm: sub-band precision
    assert np.abs(err).max() < 1.0, np.abs(err).max()
    assert abs(float(np.mean(err))) < 0.1                       # no bias
    assert np.abs(f["f2200_depth"] - depth).max() < 0.02
    assert np.median(np.abs(f["f2200_width_nm"] - fw)) < 1.5


def test_noise_free_gaussian_is_exact_and_symmetric():
    rng = np.random.default_rng(12)
    S, pos, fw, depth = planted(rng, 100)
    f = extract_features(S, GRID)
    # a Gaussian in 1 - CR is a parabola in log(1 - CR): the fit is exact, whatever the band spacing
    assert np.abs(f["f2200_wavelength_nm"] - pos).max() < 0.05
    assert np.abs(f["f2200_depth"] - depth).max() < 1e-3
    assert np.abs(f["f2200_width_nm"] - fw).max() < 1.0          # linear interpolation of the half-depth points
    assert np.abs(f["f2200_asymmetry"]).max() < 0.03


def test_asymmetry_sign():
    # a feature whose long-wavelength side is broader (two half-Gaussians) has positive asymmetry
    x = GRID
    left, right = 8.0, 20.0
    g = np.where(x < 2205.0, np.exp(-0.5 * ((x - 2205.0) / left) ** 2), np.exp(-0.5 * ((x - 2205.0) / right) ** 2))
    s = 0.5 * (1.0 - 0.25 * g)
    f = extract_features(s[None], GRID)
    assert f["f2200_asymmetry"][0] > 0.15
    mirrored = np.where(x < 2205.0, np.exp(-0.5 * ((x - 2205.0) / right) ** 2),
                        np.exp(-0.5 * ((x - 2205.0) / left) ** 2))
    f2 = extract_features(0.5 * (1.0 - 0.25 * mirrored), GRID)
    assert f2["f2200_asymmetry"] < -0.15


def test_nan_where_no_feature():
    rng = np.random.default_rng(13)
    flat = np.full((3, GRID.size), 0.4)
    S2330, pos, _, _ = planted(rng, 5, pos_range=(2320.0, 2345.0))
    f = extract_features(np.vstack([flat, S2330]), GRID)
    # a flat spectrum has no feature anywhere
    for name in feature_names():
        assert np.isnan(f[name][:3]).all(), name
    # a feature at 2320-2345 nm is in the f2330 window only; f2200 sees at most its shoulder (the window
    # edge) and answers NaN
    assert np.isnan(f["f2200_wavelength_nm"][3:]).all()
    assert np.abs(f["f2330_wavelength_nm"][3:] - pos).max() < 0.05


def test_min_depth_threshold():
    rng = np.random.default_rng(14)
    S, _, _, depth = planted(rng, 200)
    f = extract_features(S, GRID, min_depth=0.2)
    found = np.isfinite(f["f2200_wavelength_nm"])
    assert found.any() and (~found).any()
    assert np.all(depth[found] >= 0.2 - 1e-3) and np.all(depth[~found] < 0.2 + 1e-3)


def test_any_leading_shape_and_float32():
    rng = np.random.default_rng(15)
    S, _, _, _ = planted(rng, 12, snr=300.0)
    flat = extract_features(S, GRID)
    cube = extract_features(S.reshape(3, 4, -1).astype(np.float32), GRID)
    for name in feature_names():
        assert cube[name].shape == (3, 4) and cube[name].dtype == np.float32
        np.testing.assert_allclose(cube[name].ravel(), flat[name], atol=2e-3, equal_nan=True)
    one = extract_features(S[0], GRID)
    assert one["f2200_wavelength_nm"].shape == ()


def test_nan_band_spoils_only_its_windows():
    rng = np.random.default_rng(16)
    S, _, _, _ = planted(rng, 4)
    S[:, np.argmin(np.abs(GRID - 1900.0))] = np.nan     # inside f1900's hull range only
    f = extract_features(S, GRID)
    assert np.isnan(f["f1900_depth"]).all()
    assert np.isfinite(f["f2200_wavelength_nm"]).all()


def test_real_usgs_positions(usgs_scanner):
    """Kaolinite and muscovite AlOH minimum in 2185-2215 nm, calcite CO3 in 2325-2350 nm; kaolinite shows the
    2160 nm doublet, muscovite does not; chlorite and epidote show FeOH near 2250 nm."""
    lib = usgs_scanner
    names = np.asarray(lib.names)
    rng = np.random.default_rng(17)

    def feats(name):
        s = lib.spectra[np.flatnonzero(names == name)[0]]
        X = s[None] * rng.uniform(0.8, 1.2, (10, 1)) + rng.normal(0.0, s.mean() / 500.0, (10, s.size))
        return extract_features(X, SCANNER)

    for name in ("Kaolinite_KGa-1_(wxl)", "Kaolinite_CM9", "Muscovite_GDS113_Ruby", "Muscovite_HS146.3B"):
        f = feats(name)
        assert np.all((f["f2200_wavelength_nm"] > 2185) & (f["f2200_wavelength_nm"] < 2215)), name
        doublet = np.isfinite(f["f2160_wavelength_nm"]).mean()
        assert doublet == (1.0 if name.startswith("Kaolinite") else 0.0), (name, doublet)
    for name in ("Calcite_WS272", "Calcite_GDS304_75-150um"):
        f = feats(name)
        assert np.all((f["f2330_wavelength_nm"] > 2325) & (f["f2330_wavelength_nm"] < 2350)), name
        assert np.isnan(f["f2200_wavelength_nm"]).all()
    for name in ("Clinochlore_Fe_GDS157.b", "Epidote_GDS26.a_75-200um"):
        f = feats(name)
        assert np.all(np.abs(f["f2250_wavelength_nm"] - 2253.0) < 5.0), name
    # dolomite's CO3 minimum lies ~20 nm short of calcite's
    dol = np.nanmedian(feats("Dolomite_HS102.3B")["f2330_wavelength_nm"])
    cal = np.nanmedian(feats("Calcite_WS272")["f2330_wavelength_nm"])
    assert 10.0 < cal - dol < 30.0


def _two_step_reference(S, wl, windows=DEFAULT_WINDOWS, min_depth=0.02, half_nm=12.0):
    """The scalars the slow, obvious way: remove_continuum over each window's hull range, then the per-spectrum
    kernel; a hull range with a NaN band or non-positive ends is NaN."""
    from hsimin.classical.features import _features_kernel
    from hsimin.preprocess import remove_continuum
    X = np.asarray(S, np.float64)
    out = {}
    for w in windows:
        h = np.flatnonzero((wl >= w.hull_lo_nm) & (wl <= w.hull_hi_nm))
        s = np.flatnonzero((wl[h] >= w.lo_nm) & (wl[h] <= w.hi_nm))
        sub = X[:, h[0]:h[-1] + 1]
        res = np.full((len(X), 4), np.nan)
        ok = np.isfinite(sub).all(axis=1) & (sub[:, 0] > 0) & (sub[:, -1] > 0)
        cr = np.full(sub.shape, np.nan)
        cr[ok] = remove_continuum(np.ascontiguousarray(sub[ok]), wl[h[0]:h[-1] + 1])
        _features_kernel(cr, wl[h[0]:h[-1] + 1], int(s[0]), int(s[-1]) + 1, min_depth, half_nm, res)
        for q, name in enumerate(("wavelength_nm", "depth", "width_nm", "asymmetry")):
            out[f"{w.name}_{name}"] = res[:, q].astype(np.float32)
    return out


def test_one_pass_kernel_equals_the_two_step_reference(usgs_scanner):
    """extract_features runs every window of a spectrum in one compiled pass; it must give exactly the numbers
    of continuum removal over each hull range followed by the scalar kernel, on real spectra with noise, NaN
    bands, zero and negative ends, in float32 and float64."""
    rng = np.random.default_rng(23)
    lib = usgs_scanner.spectra
    lib = lib[np.isfinite(lib).all(axis=1)]
    S = lib[rng.integers(0, len(lib), 3000)] * rng.uniform(0.5, 1.2, (3000, 1))
    S = S + rng.normal(0.0, 0.002, S.shape)
    S[::97, rng.integers(0, S.shape[1])] = np.nan                       # a NaN band somewhere
    S[5::101, np.argmin(np.abs(SCANNER - 2100.0))] = 0.0                 # a zero at some hull-range end
    S[7::103, np.argmin(np.abs(SCANNER - 2280.0))] = -0.01               # a negative one
    ref = _two_step_reference(S, SCANNER)
    for X in (S, S.astype(np.float32)):
        got = extract_features(X, SCANNER)
        ref_x = ref if X.dtype == np.float64 else _two_step_reference(X, SCANNER)
        assert list(got) == list(ref_x)
        for k in got:
            np.testing.assert_array_equal(got[k], ref_x[k], err_msg=k)
    assert np.isfinite(got["f2200_depth"]).mean() > 0.2                  # the comparison covers real features


def test_windows_spec_round_trip_and_errors():
    spec = windows_to_spec(DEFAULT_WINDOWS)
    assert parse_windows(spec) == DEFAULT_WINDOWS
    assert parse_windows("default") == DEFAULT_WINDOWS
    w = parse_windows("f2200:2180-2228, x:2300-2360:2250-2450")
    assert w[0] == FeatureWindow("f2200", 2180, 2228) and w[0].hull_lo_nm == 2120 and w[0].hull_hi_nm == 2288
    assert w[1].hull_lo_nm == 2250 and w[1].hull_hi_nm == 2450
    for bad in ("f2200", "f2200:2228-2180", "a:1-2,a:3-4", "2x:1-2", "", "f:2180-2228:2190-2200"):
        with pytest.raises(InputError):
            parse_windows(bad)
    f = extract_features(np.full((2, GRID.size), 0.3), GRID, {"w": (2180, 2228)})
    assert sorted(f) == ["w_asymmetry", "w_depth", "w_wavelength_nm", "w_width_nm"]


def test_wavelength_errors():
    with pytest.raises(WavelengthError):
        extract_features(np.ones((2, 5)), np.arange(4.0))
    with pytest.raises(WavelengthError):
        extract_features(np.ones((2, 3)), [3.0, 2.0, 1.0])
