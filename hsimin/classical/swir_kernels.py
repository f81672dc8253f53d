"""The compiled per-pixel passes of the SWIR interpretation (:class:`hsimin.classical.swir.SpectralUnmixer`).

Each kernel is serial over a row range ``r0:r1`` and writes only those rows, so
:func:`hsimin._numba.parallel_rows` runs it on chunks from several threads. Each is built (compiled) on first use
and cached. None makes an (n, bands) array: they are what keeps the interpretation's memory flat and its hot path
free of temporaries. The pair search and the statistics kernels do, element by element, the arithmetic of the
numpy expressions they replaced, so the answers are bit-identical (``tests/classical/test_swir_kernels.py``).
"""
from __future__ import annotations

import numpy as np

from .._numba import jit

__all__: list[str] = []

_KERNEL = None


def _fit_kernel():
    """The compiled per-pixel pass: every reference's shift fit, keeping each class's best (no (n, M) arrays)."""
    global _KERNEL
    if _KERNEL is None:
        @jit
        def fit(CC, xn2, g11, g12, g22, rc, K, dmax, cls_e, cls_j, cls_d, cls_xv, cls_vv, r0, r1):  # pragma: no cover
            M = g11.size
            for i in range(r0, r1):
                for c in range(K):
                    cls_e[i, c] = np.inf
                    cls_j[i, c] = 0
                    cls_d[i, c] = 0.0
                    cls_xv[i, c] = 0.0
                    cls_vv[i, c] = 1.0
                x2 = xn2[i]
                for m in range(M):
                    c1 = np.float64(CC[i, m])
                    c2 = np.float64(CC[i, M + m])
                    det = g11[m] * g22[m] - g12[m] * g12[m]
                    d = 0.0
                    if det > 0.0:
                        aa = (g22[m] * c1 - g12[m] * c2) / det
                        if aa > 0.0:
                            d = ((g11[m] * c2 - g12[m] * c1) / det) / aa
                            if d > dmax:
                                d = dmax
                            elif d < -dmax:
                                d = -dmax
                    xv = c1 + d * c2
                    vv = g11[m] + 2.0 * d * g12[m] + d * d * g22[m]
                    e = x2
                    if vv > 0.0 and xv > 0.0:
                        e = x2 - xv * xv / vv
                    c = rc[m]
                    if e < cls_e[i, c]:
                        cls_e[i, c] = e
                        cls_j[i, c] = m
                        cls_d[i, c] = d
                        cls_xv[i, c] = xv
                        cls_vv[i, c] = vv
        _KERNEL = fit
    return _KERNEL


_PAIRS_KERNEL = None


def _pairs_kernel():
    """The compiled pair search of :meth:`SpectralUnmixer._best_pairs`: for each pixel and each two of its ranked
    candidate minerals (each by its best prototype ``J`` and shift ``D``), the two-reference least squares with
    the shifted references' Gram entries, kept when both coefficients are positive; the smallest error wins, the
    first one on a tie (pairs in ``np.triu_indices`` order)."""
    global _PAIRS_KERNEL
    if _PAIRS_KERNEL is None:
        @jit
        def pairs(top, xn2, J, D, XV, VV, G, Gd, Gdd, out_e, out_i, out_j, out_1, out_2, r0, r1):  # pragma: no cover
            kc = top.shape[1]
            for i in range(r0, r1):
                best = np.inf
                bi, bj = -1, -1
                b1, b2 = 0.0, 0.0
                x2 = xn2[i]
                for u in range(kc - 1):
                    tu = top[i, u]
                    a = J[i, tu]
                    da = D[i, tu]
                    xa = XV[i, tu]
                    va = VV[i, tu]
                    for v in range(u + 1, kc):
                        tv = top[i, v]
                        c = J[i, tv]
                        dc = D[i, tv]
                        xc = XV[i, tv]
                        vc = VV[i, tv]
                        gac = G[a, c] + da * Gd[a, c] + dc * Gd[c, a] + da * dc * Gdd[a, c]
                        det = va * vc - gac * gac
                        sa = (vc * xa - gac * xc) / det
                        sc = (va * xc - gac * xa) / det
                        e = x2 - (sa * xa + sc * xc)
                        if sa > 0.0 and sc > 0.0 and np.isfinite(e) and det > 0.0 and e < best:
                            best = e
                            bi, bj = tu, tv
                            b1, b2 = sa, sc
                out_e[i] = best
                out_i[i] = bi
                out_j[i] = bj
                out_1[i] = b1
                out_2[i] = b2
        _PAIRS_KERNEL = pairs
    return _PAIRS_KERNEL


_STATS_KERNEL = None


def _stats_kernel():
    """The compiled per-pixel statistics of the fitted absorbance ``coef1 (R[b] + db Rd[b]) [+ coef2 (R[j] + dj
    Rd[j]) where mixed]``, in the weighted space (divided by ``sw``): its range (max - min) over ``diag_idx``, the
    largest absolute residual ``|xa - fit|`` over ``dry_idx`` and the largest observed ``xa`` there. The same
    arithmetic, element by element, as the numpy expressions it replaced (maxima and minima do not depend on the
    order); NaN propagates as in ``np.max``."""
    global _STATS_KERNEL
    if _STATS_KERNEL is None:
        @jit
        def stats(xa, R, Rd, b, db, coef1, j, dj, coef2, mixed, sw, diag_idx, dry_idx, fit_range, res_max,
                  feat_max, r0, r1):  # pragma: no cover
            for i in range(r0, r1):
                bi, di, c1 = b[i], db[i], coef1[i]
                ji, dji, c2, mx = j[i], dj[i], coef2[i], mixed[i]
                hi, lo, nan = -np.inf, np.inf, False
                for q in range(diag_idx.size):
                    k = diag_idx[q]
                    m = c1 * (R[bi, k] + di * Rd[bi, k])
                    if mx:
                        m = m + c2 * (R[ji, k] + dji * Rd[ji, k])
                    v = m / sw[k]
                    if np.isnan(v):
                        nan = True
                    if v > hi:
                        hi = v
                    if v < lo:
                        lo = v
                fit_range[i] = np.nan if nan else hi - lo
                rmax, fmax, rnan, fnan = -np.inf, -np.inf, False, False
                for q in range(dry_idx.size):
                    k = dry_idx[q]
                    m = c1 * (R[bi, k] + di * Rd[bi, k])
                    if mx:
                        m = m + c2 * (R[ji, k] + dji * Rd[ji, k])
                    r = np.abs((xa[i, k] - m) / sw[k])
                    f = xa[i, k] / sw[k]
                    if np.isnan(r):
                        rnan = True
                    elif r > rmax:
                        rmax = r
                    if np.isnan(f):
                        fnan = True
                    elif f > fmax:
                        fmax = f
                res_max[i] = np.nan if rnan else rmax
                feat_max[i] = np.nan if fnan else fmax
        _STATS_KERNEL = stats
    return _STATS_KERNEL


@jit
def _select(a, n, k):  # pragma: no cover - compiled
    """The k-th smallest (0-based) of a[:n], by Hoare quickselect; leaves a[:k] <= a[k] <= a[k+1:n]."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # median of three as the pivot: sorted or reversed rows cost no more than random ones
        x, y, z = a[lo], a[mid], a[hi]
        if x > y:
            x, y = y, x
        if y > z:
            y = z
            if x > y:
                y = x
        pivot = y
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@jit
def _median(a, n):  # pragma: no cover - compiled
    """np.median of a[:n] (finite values; n >= 1), reordering a: the middle value, or the mean of the two."""
    h = n // 2
    upper = _select(a, n, h)
    if n % 2:
        return upper
    lower = a[0]
    for t in range(1, h):   # after the selection a[:h] holds the h smallest: the lower middle is their largest
        if a[t] > lower:
            lower = a[t]
    return 0.5 * (lower + upper)


_NOISE_KERNEL = None


def _noise_kernel():
    """The compiled medians of :func:`hsimin.classical.swir.estimate_noise` for rows ``r0:r1``: ``alb`` the
    median of ``R`` (n, m) and ``mad`` the median absolute second difference of ``LR`` (n, m), ``ln(max(R,
    1e-4))`` (taken by numpy, whose vectorised log the numbers must match), with the second differences taken as
    ``np.diff`` twice: the same values as ``np.median`` of the numpy expressions. A row with a non-finite value
    gets NaN in both and ``bad`` True (the caller takes those rows by ``np.nanmedian``)."""
    global _NOISE_KERNEL
    if _NOISE_KERNEL is None:
        @jit
        def noise(R, LR, alb, mad, bad, r0, r1):  # pragma: no cover - compiled
            m = R.shape[1]
            buf = np.empty(max(m, 1), np.float64)
            for i in range(r0, r1):
                finite = True
                for q in range(m):
                    v = np.float64(R[i, q])
                    if not np.isfinite(v):
                        finite = False
                        break
                    buf[q] = v
                bad[i] = not finite
                if not finite or m < 1:
                    alb[i] = np.nan
                    mad[i] = np.nan
                    continue
                alb[i] = _median(buf, m)
                if m < 3:
                    mad[i] = np.nan
                    continue
                for q in range(m - 2):
                    buf[q] = np.abs((LR[i, q + 2] - LR[i, q + 1]) - (LR[i, q + 1] - LR[i, q]))
                mad[i] = _median(buf, m - 2)
        _NOISE_KERNEL = noise
    return _NOISE_KERNEL
