"""MixtureFitter: the closed-form two-mineral NNLS against scipy, and planted mixtures of real USGS spectra."""
import numpy as np
import pytest
from scipy.optimize import nnls

from hsimin.classical import MixtureFitter
from hsimin.core.errors import InputError


def test_pair_fit_is_exact_nnls():
    """continuum='none': features are 1 - X. Spectra planted as a*r1 + b*r2 (features) are recovered exactly,
    and the chosen pair's residual equals scipy's NNLS residual on the same two references."""
    rng = np.random.default_rng(21)
    B = 30
    F = rng.uniform(0.0, 1.0, (6, B)) ** 3                       # six non-negative feature profiles
    names = np.array(["m0", "m1", "m2", "m3", "m4", "m5"])
    R = 1.0 - F                                                   # as 'continuum-removed spectra'
    est = MixtureFitter(continuum="none", max_error=None, min_feature_depth=None, top_m=6, top_second=5,
                        snr=1e4, min_pair_gain=0.1).fit(R, names)
    a = rng.uniform(0.3, 1.0, 40)
    b = rng.uniform(0.3, 1.0, 40)
    i = rng.integers(0, 6, 40)
    j = (i + rng.integers(1, 6, 40)) % 6
    Y = 1.0 - (a[:, None] * F[i] + b[:, None] * F[j])
    out = est.fit_mixture(Y)
    got = {frozenset((m1, m2)) for m1, m2 in zip(out["mineral_1"], out["mineral_2"])}
    assert all(len(p) == 2 for p in got)
    assert all({out["mineral_1"][k], out["mineral_2"][k]} == {names[i[k]], names[j[k]]} for k in range(40))
    np.testing.assert_allclose(out["fit_error"], 0.0, atol=1e-6)
    frac_i = np.where(out["mineral_1"] == names[i], out["fraction_1"], out["fraction_2"])
    np.testing.assert_allclose(frac_i, a / (a + b), atol=1e-5)
    # a noisy target: the chosen pair's residual is scipy's NNLS optimum for those two references
    Yn = Y + rng.normal(0.0, 0.02, Y.shape)
    out = est.fit_mixture(Yn)
    for k in range(10):
        r1, r2 = out["reference_1"][k], out["reference_2"][k]
        if r2 < 0:
            continue
        _, res = nnls(np.stack([F[r1], F[r2]], axis=1), 1.0 - Yn[k])
        assert abs(out["fit_error"][k] - res / np.sqrt(B)) < 1e-6


def _mix(S, names, a, b, f):
    """An intimate mixture of two real spectra: absorptions add in log reflectance, fraction f of a."""
    sa, sb = S[np.flatnonzero(names == a)[0]], S[np.flatnonzero(names == b)[0]]
    return np.exp(f * np.log(sa) + (1.0 - f) * np.log(sb))


@pytest.mark.parametrize("a,b,ma,mb", [
    ("Kaolinite_CM9", "Calcite_WS272", "kaolinite", "calcite"),
    ("Muscovite_GDS113_Ruby", "Clinochlore_Fe_GDS157.b", "white_mica", "chlorite"),
    ("Alunite_HS295.3B", "Kaolinite_KGa-1_(wxl)", "alunite", "kaolinite"),
])
def test_planted_real_mixtures(usgs_fit, a, b, ma, mb):
    """Mixtures of real library spectra (f = 0.3, 0.5, 0.7 of the first, SNR 200): both minerals found in most
    pixels, the dominant one right where the mixture is lopsided, fractions ordered as planted."""
    S, minerals, wl, names = usgs_fit
    rng = np.random.default_rng(22)
    est = MixtureFitter(wavelengths=wl).fit(S, minerals)
    for f in (0.3, 0.5, 0.7):
        x = _mix(S, names, a, b, f)
        X = (x[None] + rng.normal(0.0, x.mean() / 200.0, (20, x.size))).astype(np.float32)
        out = est.fit_mixture(X)
        both = np.mean([{m1, m2} == {ma, mb} for m1, m2 in zip(out["mineral_1"], out["mineral_2"])])
        assert both >= 0.8, (a, b, f, both, out["mineral_1"][:3], out["mineral_2"][:3])
        if f != 0.5:
            dom = ma if f > 0.5 else mb
            assert np.mean(out["mineral_1"] == dom) >= 0.8, (a, b, f)
        share_a = np.where(out["mineral_1"] == ma, out["fraction_1"], out["fraction_2"])
        assert abs(np.median(share_a) - f) < 0.2, (a, b, f, np.median(share_a))
        np.testing.assert_allclose(out["fraction_1"] + out["fraction_2"], 1.0, atol=1e-6)
        assert np.all(out["fraction_1"] >= out["fraction_2"])


def test_pure_spectra_stay_single(usgs_fit):
    """Noisy copies of a pure library spectrum: one mineral, the right one, fraction 1."""
    S, minerals, wl, names = usgs_fit
    rng = np.random.default_rng(23)
    est = MixtureFitter(wavelengths=wl).fit(S, minerals)
    for name, mineral in (("Calcite_WS272", "calcite"), ("Talc_GDS23", "talc"), ("Kaolinite_CM9", "kaolinite")):
        s = S[np.flatnonzero(names == name)[0]]
        X = (s[None] * rng.uniform(0.6, 1.2, (20, 1)) + rng.normal(0.0, s.mean() / 100.0, (20, s.size)))
        res = est.identify(X.astype(np.float32), k=2)
        assert np.all(res.labels == mineral), (name, res.labels)
        assert np.mean(res.extra["mineral_2"] == -1) >= 0.9
        assert np.all(res.extra["fraction_1"][res.extra["mineral_2"] == -1] == 1.0)
        assert np.all(res.extra["fit_error"] < 0.05)


def test_parameter_errors():
    R = np.random.default_rng(24).uniform(0.1, 0.9, (4, 12))
    y = ["a", "b", "a", "b"]
    for bad in ({"min_pair_gain": 1.0}, {"snr": 0}, {"top_m": 0}):
        with pytest.raises(InputError):
            MixtureFitter(continuum="none", **bad).fit(R, y)
