"""Library matchers: exact against reference formulas and SPy, invariances, unknown answers, and accuracy on real
USGS spectra (noisy, brightness-scaled copies of samples of eight minerals)."""
import numpy as np
import pytest

from hsimin.classical import (FeatureMatcher, MixtureFitter, SpectralAngleMapper, SpectralInformationDivergence,
                              make_identifier)
from hsimin.classical.matching import window_transform
from hsimin.core.errors import InputError, WavelengthError

# real USGS samples (names in the bundled library) -> vocabulary name expected
SAMPLES = {
    "Kaolinite_KGa-1_(wxl)": "kaolinite", "Kaolinite_CM9": "kaolinite",
    "Muscovite_GDS113_Ruby": "white_mica", "Muscovite_HS146.3B": "white_mica",
    "Calcite_WS272": "calcite", "Calcite_GDS304_75-150um": "calcite",
    "Dolomite_HS102.3B": "dolomite", "Clinochlore_Fe_GDS157.b": "chlorite",
    "Epidote_GDS26.a_75-200um": "epidote", "Alunite_HS295.3B": "alunite", "Talc_GDS23": "talc",
}


def noisy_copies(S, names, rng, n=12, snr=100.0):
    """n copies of each named spectrum, brightness x0.6-1.2, Gaussian noise sigma = mean / snr."""
    X, y = [], []
    for name, mineral in SAMPLES.items():
        s = S[np.flatnonzero(names == name)[0]]
        X.append(s[None] * rng.uniform(0.6, 1.2, (n, 1)) + rng.normal(0.0, s.mean() / snr, (n, s.size)))
        y += [mineral] * n
    return np.vstack(X).astype(np.float32), np.array(y, dtype=object)


@pytest.mark.parametrize("method", ["sam", "sid", "match", "mixture"])
def test_real_spectra_identified(usgs_fit, method):
    S, minerals, wl, names = usgs_fit
    X, y = noisy_copies(S, names, np.random.default_rng(1))
    est = make_identifier(method, wavelengths=wl).fit(S, minerals)
    pred = est.predict(X)
    acc = float(np.mean(pred == y))
    assert acc >= 0.9, (method, acc, sorted(set(zip(y[pred != y], pred[pred != y]))))
    assert set(est.classes_) >= set(SAMPLES.values())


def test_sam_equals_spy_and_formula():
    from spectral import spectral_angles
    rng = np.random.default_rng(2)
    R = rng.uniform(0.1, 0.9, (30, 40))
    y = np.array(list("abcde") * 6)
    X = rng.uniform(0.1, 0.9, (200, 40))
    est = SpectralAngleMapper(max_angle=None).fit(R, y)
    ang = spectral_angles(X[:, None, :], R)[:, 0, :]                    # (200, 30) SPy angles
    want = np.stack([ang[:, y == c].min(axis=1) for c in est.classes_], axis=1)
    np.testing.assert_allclose(est.class_distances(X), want, atol=1e-9)
    assert np.array_equal(est.predict(X), y[np.argmin(ang, axis=1)])
    # float32 in, float32 compute: same answers
    assert est.class_distances(X.astype(np.float32)).dtype == np.float32
    assert np.array_equal(est.predict(X.astype(np.float32)), est.predict(X))


def test_sid_equals_formula():
    rng = np.random.default_rng(3)
    R = rng.uniform(0.05, 0.9, (12, 25))
    y = np.array(["p", "q", "r"] * 4)
    X = rng.uniform(0.05, 0.9, (50, 25))
    est = SpectralInformationDivergence(max_divergence=None).fit(R, y)
    p = X / X.sum(axis=1, keepdims=True)
    q = R / R.sum(axis=1, keepdims=True)
    sid = ((p[:, None, :] - q[None]) * (np.log(p[:, None, :]) - np.log(q[None]))).sum(axis=2)
    want = np.stack([sid[:, y == c].min(axis=1) for c in est.classes_], axis=1)
    np.testing.assert_allclose(est.class_distances(X), want, rtol=1e-7, atol=1e-12)
    with pytest.raises(InputError, match="Negative values"):
        SpectralInformationDivergence().fit(R - 0.5, y)


def test_brightness_invariance_and_top_k(usgs_fit):
    S, minerals, wl, names = usgs_fit
    X, _ = noisy_copies(S, names, np.random.default_rng(4), n=3)
    for est in (SpectralAngleMapper(wavelengths=wl), SpectralInformationDivergence(wavelengths=wl),
                FeatureMatcher(wavelengths=wl), MixtureFitter(wavelengths=wl)):
        est.fit(S, minerals)
        d1 = est.class_distances(X.astype(np.float64))
        d2 = est.class_distances(0.37 * X.astype(np.float64))
        np.testing.assert_allclose(d1, d2, atol=1e-6, err_msg=type(est).__name__)
        names_k, score_k = est.predict_top_k(X, k=4)
        assert names_k.shape == (len(X), 4) and score_k.shape == (len(X), 4)
        assert np.all(np.diff(score_k, axis=1) <= 1e-6)                  # best first
        assert np.all((score_k >= 0) & (score_k <= 1))
        res = est.identify(X, k=4)
        assert np.array_equal(est.classes_[res.topk_index[:, 0]][res.status == 0], est.predict(X)[res.status == 0])
        assert np.all((res.confidence >= 0) & (res.confidence <= 1))
        best = est.classes_[np.argmin(d1, axis=1)]
        assert np.array_equal(best, names_k[:, 0])


def test_window_transform_removes_log_linear_continuum():
    wl = np.linspace(1300, 2480, 212)
    T = window_transform(wl, [(1300, 1500, 0.5), (2050, 2480, 1.0)])
    assert T.shape[0] == wl.size
    # brightness and a continuum linear in log reflectance vanish
    cont = np.log(0.4) + 3e-4 * (wl - 1300)
    np.testing.assert_allclose(cont @ T, 0.0, atol=1e-10)
    # an absorption does not
    feat = cont + np.log(1 - 0.2 * np.exp(-0.5 * ((wl - 2200) / 10) ** 2))
    assert np.abs(feat @ T).max() > 0.05
    with pytest.raises(InputError, match="no matching window"):
        window_transform(wl, [(500, 800, 1.0)])


@pytest.mark.parametrize("continuum", ["window", "hull"])
def test_feature_matcher_continuum_modes(usgs_fit, continuum):
    S, minerals, wl, names = usgs_fit
    X, y = noisy_copies(S, names, np.random.default_rng(5), n=6, snr=300.0)
    est = FeatureMatcher(wavelengths=wl, continuum=continuum).fit(S, minerals)
    assert np.mean(est.predict(X) == y) >= 0.9


def test_unknown_and_aspectral(usgs_fit):
    S, minerals, wl, names = usgs_fit
    rng = np.random.default_rng(6)
    flat = (0.3 + 3e-4 * rng.normal(size=(5, wl.size))).astype(np.float32)     # featureless, SNR 1000
    match = FeatureMatcher(wavelengths=wl).fit(S, minerals)
    res = match.identify(flat)
    assert np.all(res.status == 2) and np.all(res.labels == "unknown") and np.all(res.index == -1)
    assert np.all(res.confidence == 0)
    # the same spectra without the aspectral test and the similarity floor get some mineral
    plain = FeatureMatcher(wavelengths=wl, min_feature_depth=None, min_similarity=None).fit(S, minerals)
    assert not np.any(plain.predict(flat) == "unknown")
    # SAM: a spectrum far (in angle) from every reference is 'unknown'; a custom label is honoured
    odd = np.exp(-0.5 * ((wl - 1900) / 150) ** 2)[None] + 0.01                 # one broad bump
    sam = SpectralAngleMapper(wavelengths=wl, max_angle=0.1, unknown_label="none").fit(S, minerals)
    assert sam.predict(odd)[0] == "none"
    assert SpectralAngleMapper(wavelengths=wl, max_angle=None).fit(S, minerals).predict(odd)[0] != "none"
    # SAM's optional aspectral test
    sam_a = SpectralAngleMapper(wavelengths=wl, min_feature_depth=0.01).fit(S, minerals)
    assert np.all(sam_a.identify(flat).status == 2)


def test_fit_errors():
    rng = np.random.default_rng(7)
    R = rng.uniform(0.1, 0.9, (6, 20))
    y = ["a", "b", "c"] * 2
    with pytest.raises(WavelengthError):
        SpectralAngleMapper(wavelengths=np.arange(19.0)).fit(R, y)
    with pytest.raises(InputError, match="no matching window"):
        FeatureMatcher(wavelengths=np.linspace(400, 900, 20)).fit(R, y)
    with pytest.raises(InputError, match="continuum"):
        FeatureMatcher(continuum="convex").fit(R, y)
    est = SpectralAngleMapper().fit(R, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(R[:, :10])
