"""The compiled kernels of the SWIR interpretation give exactly what the numpy expressions they replaced give
(the pair search, the fitted-model statistics and the noise medians): random problems, bit for bit."""
import warnings

import numpy as np

from hsimin.classical.swir_kernels import _pairs_kernel, _stats_kernel


def _pairs_numpy(top, xn2, J, D, XV, VV, G, Gd, Gdd):
    """The former numpy pair search: every two ranked candidates, both coefficients positive, first best wins."""
    kc = top.shape[1]
    iu, ju = np.triu_indices(kc, 1)
    Jt, Dt = np.take_along_axis(J, top, 1), np.take_along_axis(D, top, 1)
    Xt, Vt = np.take_along_axis(XV, top, 1), np.take_along_axis(VV, top, 1)
    a, c, da, dc = Jt[:, iu], Jt[:, ju], Dt[:, iu], Dt[:, ju]
    gac = G[a, c] + da * Gd[a, c] + dc * Gd[c, a] + da * dc * Gdd[a, c]
    xa, xc, va, vc = Xt[:, iu], Xt[:, ju], Vt[:, iu], Vt[:, ju]
    det = va * vc - gac ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sa = (vc * xa - gac * xc) / det
        sc = (va * xc - gac * xa) / det
        e = xn2[:, None] - (sa * xa + sc * xc)
    e = np.where((sa > 0) & (sc > 0) & np.isfinite(e) & (det > 0), e, np.inf)
    k = np.argmin(e, axis=1)
    rows = np.arange(len(e))
    best = e[rows, k]
    found = np.isfinite(best)
    return (best, np.where(found, top[rows, iu[k]], -1), np.where(found, top[rows, ju[k]], -1),
            np.where(found, sa[rows, k], 0.0), np.where(found, sc[rows, k], 0.0))


def test_pair_kernel_equals_the_numpy_search():
    rng = np.random.default_rng(0)
    n, K, M, B = 500, 9, 30, 40
    R = rng.normal(size=(M, B))
    Rd = rng.normal(size=(M, B)) * 0.1
    G, Gd, Gdd = R @ R.T, Rd @ R.T, Rd @ Rd.T
    J = rng.integers(0, M, (n, K))
    D = rng.uniform(-2, 2, (n, K))
    XV = rng.normal(size=(n, K))
    VV = np.abs(rng.normal(size=(n, K))) + 0.1
    VV[rng.random((n, K)) < 0.05] = 0.0                      # degenerate references: no pair with them
    xn2 = np.abs(rng.normal(size=n)) * 5
    top = np.ascontiguousarray(np.argsort(rng.random((n, K)), axis=1)[:, :6])
    want = _pairs_numpy(top, xn2, J, D, XV, VV, G, Gd, Gdd)
    got = [np.full(n, np.inf), np.full(n, -1), np.full(n, -1), np.zeros(n), np.zeros(n)]
    _pairs_kernel()(top, xn2, J, D, XV, VV, G, Gd, Gdd, *got, 0, n)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    assert (got[1] == -1).mean() > 0.1 and (got[1] >= 0).mean() > 0.1  # both outcomes exercised


def test_stats_kernel_equals_the_numpy_expressions():
    rng = np.random.default_rng(1)
    n, M, B = 400, 25, 60
    R, Rd = rng.normal(size=(M, B)), rng.normal(size=(M, B)) * 0.1
    sw = rng.uniform(0.3, 1.0, B)
    xa = rng.normal(size=(n, B))
    b, j = rng.integers(0, M, n), rng.integers(0, M, n)
    db, dj = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    mixed = rng.random(n) < 0.4
    coef1, coef2 = rng.uniform(0, 2, n), np.where(mixed, rng.uniform(0, 2, n), 0.0)
    diag = np.zeros(B, bool)
    diag[30:50] = True
    dry = np.ones(B, bool)
    dry[10:18] = False
    xa[3, 20] = np.nan                                       # NaN propagates as in np.max
    V1 = R[b] + db[:, None] * Rd[b]
    V2 = R[j] + dj[:, None] * Rd[j]
    model = coef1[:, None] * V1
    model[mixed] += coef2[mixed, None] * V2[mixed]
    mod = (model / sw)[:, diag]
    want = (mod.max(axis=1) - mod.min(axis=1), np.abs((xa[:, dry] - model[:, dry]) / sw[dry]).max(axis=1),
            (xa[:, dry] / sw[dry]).max(axis=1))
    got = [np.zeros(n), np.zeros(n), np.zeros(n)]
    _stats_kernel()(xa, R, Rd, b, db, coef1, j, dj, coef2, mixed, sw, np.flatnonzero(diag), np.flatnonzero(dry),
                    *got, 0, n)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    assert np.isnan(got[1][3]) and np.isnan(got[2][3])


def _noise_numpy(X, wl, window, floor_rel=0.004, floor_abs=0.002):
    """The former numpy noise estimate: np.median where every band is finite, np.nanmedian otherwise."""
    sel = (wl >= window[0]) & (wl <= window[1])
    R = np.asarray(np.asarray(X)[:, sel], np.float64)
    median = np.median if np.isfinite(R).all() else np.nanmedian
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alb = median(R, axis=1) if R.shape[1] else np.full(len(R), np.nan)
        d2 = np.diff(np.log(np.clip(R, 1e-4, None)), 2, axis=1)
        white = median(np.abs(d2), axis=1) / 0.6745 / np.sqrt(6.0) if d2.shape[1] else np.zeros(len(R))
    alb = np.nan_to_num(alb, nan=1e-3)
    return np.sqrt(np.nan_to_num(white) ** 2 + floor_rel ** 2 + (floor_abs / np.maximum(alb, 1e-3)) ** 2), alb


def test_noise_kernel_equals_the_numpy_medians():
    """estimate_noise's quickselect medians give np.median's values bit for bit: odd and even windows, windows
    of 0-4 bands, ties (quantised spectra), sorted and reversed rows, float32 and float64, and rows with NaN,
    inf, negative or zero bands (those take np.nanmedian, as before)."""
    from hsimin.classical.swir import estimate_noise
    rng = np.random.default_rng(11)
    wl = np.linspace(1000.0, 2500.0, 301)
    X = rng.random((6000, wl.size)) * 0.5 + 0.05
    X[::5] = np.round(X[::5], 2)                     # many ties
    X[1::7] = np.sort(X[1::7], axis=1)
    X[2::7] = np.sort(X[2::7], axis=1)[:, ::-1]
    X[3::11] = 0.25                                  # all equal
    X[4, 250] = np.nan
    X[5, 260] = np.inf
    X[6, 270] = -0.5
    X[7] = 0.0
    X[8, :] = np.nan
    for dtype in (np.float64, np.float32):
        Z = X.astype(dtype)
        for window in ((2080.0, 2460.0), (2080.0, 2465.0), (1300.0, 1300.0), (1300.0, 1306.0),
                       (1300.0, 1311.0), (1300.0, 1316.0), (3000.0, 3100.0)):
            got, want = estimate_noise(Z, wl, window), _noise_numpy(Z, wl, window)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
        # only finite rows: the compiled path alone
        got, want = estimate_noise(Z[9:], wl, (2080.0, 2460.0)), _noise_numpy(Z[9:], wl, (2080.0, 2460.0))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
