"""The compiled kernels of the SWIR interpretation give exactly what the numpy expressions they replaced give
(the pair search and the fitted-model statistics): random problems, bit for bit."""
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
