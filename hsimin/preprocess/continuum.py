"""Continuum removal: the upper convex hull of each spectrum, and the spectrum divided by (or minus) it.

Definition
----------
The continuum of a spectrum is the upper convex hull of its points ``(wavelength_nm, value)``: the
piecewise-linear curve through the hull vertices, evaluated at every band. This is the definition of SPy's
``spectral.algorithms.continuum`` (mode ``'convex'``), which hsimin reproduces: bit for bit on the USGS
splib07 spectra and the noisy copies tested, and in general up to rounding (the acceptance bound is 1e-6):

- the hull is taken against wavelength, not band index, so uneven band spacing is respected;
- the first and last (finite) bands are always hull vertices;
- a point lying exactly on the line between two hull vertices (collinear, or a flat plateau) is not a vertex;
  either way the hull passes through it, so this only matters for rounding;
- between vertices the hull is evaluated as ``numpy.interp`` does: ``slope * (x - x0) + y0`` with
  ``slope = (y1 - y0) / (x1 - x0)``, so at a vertex it is exactly the spectrum's value.

Quotient mode (``mode="quotient"``, the default and SPy's only mode) gives ``spectrum / hull``: 1 on the hull,
below 1 in absorption features. Difference mode gives ``1 + spectrum - hull`` (hylite's convention for
``method='subtract'``): also 1 on the hull, with depths in reflectance units rather than as fractions. Where the
hull is 0 the quotient is ``inf`` or NaN, as in SPy; reflectance data never get there unless a pixel is black.

How it runs
-----------
A compiled kernel (numba, float64 throughout, on row chunks from several threads) handles one spectrum in O(B),
since the wavelengths are sorted: branch-free "peeling" passes drop points that lie below the chord of their
neighbours (such a point cannot be a hull vertex; a real 270-band spectrum keeps about 20 of 270 after a few
passes), Andrew's monotone chain finds the exact hull of the survivors, and one vectorised pass evaluates the
hull and divides. About 5 ns per band on one core, two orders of magnitude faster than SPy's recursive
quickhull (see ``benchmarks/preprocess_bench.py``).

Missing data: non-finite bands (NaN, ±inf) are left out of the hull and are NaN in the output; the hull of the
remaining bands is evaluated at the remaining bands only. A spectrum with no finite band is all NaN.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._numba import jit, parallel_rows
from ..core.errors import InputError
from ..core.units import check_wavelengths
from .lastaxis import as_rows, output_rows

__all__ = ["CONTINUUM_MODES", "continuum", "remove_continuum"]

_HULL, _QUOTIENT, _DIFFERENCE = 0, 1, 2
CONTINUUM_MODES = {"quotient": _QUOTIENT, "difference": _DIFFERENCE}
"""Modes of :func:`remove_continuum`: name -> kernel code."""

_PEEL_UNTIL = 0.85
"""Peeling passes go on while each removes at least 15 % of the remaining points (tuning; results unaffected)."""


@jit
def _hull_row(row, wl, dxa, dxb, j0, j1, what, o, ys, ix):  # pragma: no cover - compiled
    """Continuum of one spectrum ``row`` (B,) over bands j0:j1, written to ``o`` (B,) as ``what`` asks
    (0: hull, 1: quotient, 2: difference). ``o`` may be ``row`` itself: every band is read before it is written.

    dxa[t] = wl[t] - wl[t-1] and dxb[t] = wl[t+1] - wl[t-1] are precomputed (they do not depend on the spectrum).
    ys (B,) float64 and ix (B,) int64 are scratch buffers owned by the calling thread: candidate points are kept
    as (band index, value), their wavelength read from ``wl``.
    """
    B = row.shape[0]
    nan = np.nan
    seg = row[j0:j1]
    nb = seg.shape[0]
    # 1. Candidate points. A point strictly below the chord of its two neighbours is below the hull (the hull
    #    is concave and lies above both neighbours), so it cannot be a vertex. One branch-free pass over the
    #    raw spectrum drops about half the points of a real one, and notices non-finite values on the way; a
    #    collinear point is kept here and dropped by the exact scan in step 3.
    n = 0
    bad = nb < 3
    if not bad:
        da = dxa[j0:j1]
        db = dxb[j0:j1]
        y0 = np.float64(seg[0])
        y1 = np.float64(seg[1])
        bad = not (y0 - y0 == 0.0)
        ys[0] = y0
        ix[0] = j0
        n = 1
        for t in range(1, nb - 1):
            y2 = np.float64(seg[t + 1])
            bad |= not (y2 - y2 == 0.0)
            ys[n] = y1
            ix[n] = j0 + t
            n += db[t] * (y1 - y0) - (y2 - y0) * da[t] >= 0.0
            y0 = y1
            y1 = y2
        ys[n] = y1
        ix[n] = j0 + nb - 1
        n += 1
    if bad:
        # Missing values (or fewer than 3 bands): keep the finite bands as they are.
        n = 0
        for t in range(nb):
            v = np.float64(seg[t])
            ys[n] = v
            ix[n] = j0 + t
            n += v - v == 0.0
    if n == 0:
        for j in range(B):
            o[j] = nan
        return
    # 2. More peeling passes, each against the neighbours left by the previous one, while they pay off.
    while n >= 4:
        n0 = n
        m = 1
        xu = wl[ix[0]]
        yu = ys[0]
        ip = ix[1]
        xp = wl[ip]
        yp = ys[1]
        for q in range(1, n - 1):
            iv = ix[q + 1]
            xv = wl[iv]
            yv = ys[q + 1]
            ys[m] = yp
            ix[m] = ip
            m += (xv - xu) * (yp - yu) - (yv - yu) * (xp - xu) >= 0.0
            xu = xp
            yu = yp
            xp = xv
            yp = yv
            ip = iv
        ys[m] = ys[n - 1]
        ix[m] = ix[n - 1]
        n = m + 1
        if n > _PEEL_UNTIL * n0:
            break
    # 3. Upper hull of the survivors by Andrew's monotone chain (they are sorted by wavelength): the top of the
    #    stack is dropped while it lies on or below the line from the vertex under it to the new point (cross
    #    product >= 0), so collinear points are not vertices, as in SPy. The stack overwrites the buffers.
    k = 0
    for q in range(n):
        iq = ix[q]
        xq = wl[iq]
        yq = ys[q]
        while k >= 2:
            xa = wl[ix[k - 2]]
            ya = ys[k - 2]
            if (wl[ix[k - 1]] - xa) * (yq - ya) - (ys[k - 1] - ya) * (xq - xa) >= 0.0:
                k -= 1
            else:
                break
        ys[k] = yq
        ix[k] = iq
        k += 1
    # 4. Evaluate the hull between consecutive vertices (numpy.interp's formula, as SPy) and combine it with the
    #    spectrum. Non-finite bands between vertices are NaN; bands outside the first..last vertex are NaN.
    #    Unsigned indices tell LLVM they are never negative (no wrap-around check), so these loops vectorise.
    for j in range(ix[0]):
        o[j] = nan
    for s in range(k - 1):
        ja = ix[s]
        xa = wl[ja]
        ya = ys[s]
        slope = (ys[s + 1] - ya) / (wl[ix[s + 1]] - xa)
        ua = np.uint64(ja)
        run = np.uint64(ix[s + 1] - ja)
        if what == 1:
            for t in range(run):
                j = ua + t
                v = np.float64(row[j])
                o[j] = v / (slope * (wl[j] - xa) + ya) if v - v == 0.0 else nan
        elif what == 2:
            for t in range(run):
                j = ua + t
                v = np.float64(row[j])
                o[j] = 1.0 + v - (slope * (wl[j] - xa) + ya) if v - v == 0.0 else nan
        else:
            for t in range(run):
                j = ua + t
                v = np.float64(row[j])
                o[j] = slope * (wl[j] - xa) + ya if v - v == 0.0 else nan
    jl = ix[k - 1]
    yl = ys[k - 1]
    if what == 1:
        o[jl] = yl / yl
    elif what == 2:
        o[jl] = 1.0
    else:
        o[jl] = yl
    for j in range(jl + 1, B):
        o[j] = nan


@jit
def _hull_rows(X, wl, j0, j1, what, out):  # pragma: no cover - compiled
    """Continuum of every row of X (N, B) into out (N, B); see :func:`_hull_row`."""
    N, B = X.shape
    ys = np.empty(B, np.float64)
    ix = np.empty(B, np.int64)
    dxa = np.zeros(B, np.float64)
    dxb = np.zeros(B, np.float64)
    for t in range(1, B - 1):
        dxa[t] = wl[t] - wl[t - 1]
        dxb[t] = wl[t + 1] - wl[t - 1]
    for r in range(N):
        _hull_row(X[r], wl, dxa, dxb, j0, j1, what, out[r], ys, ix)


def _window_bands(wl: np.ndarray, window) -> tuple[int, int]:
    """Band range [j0, j1) of the wavelengths inside ``window = (lo_nm, hi_nm)`` (inclusive), or all bands."""
    if window is None:
        return 0, wl.size
    try:
        lo, hi = (float(w) for w in window)
    except (TypeError, ValueError):
        raise InputError(f"window must be (lo_nm, hi_nm), got {window!r}") from None
    if not lo < hi:
        raise InputError(f"window must be (lo_nm, hi_nm) with lo_nm < hi_nm, got ({lo:g}, {hi:g})")
    j0 = int(np.searchsorted(wl, lo, side="left"))
    j1 = int(np.searchsorted(wl, hi, side="right"))
    if j1 - j0 < 1:
        raise InputError(f"window {lo:g}-{hi:g} nm holds no band (bands cover {wl[0]:g}-{wl[-1]:g} nm); "
                         "widen the window")
    return j0, j1


def _run(spectra, wavelengths, what: int, out, window) -> np.ndarray:
    X, X2 = as_rows(spectra)
    B = X.shape[-1]
    wl = check_wavelengths(wavelengths, B, "wavelengths")
    j0, j1 = _window_bands(wl, window)
    o = output_rows(X, out)
    O2 = o.rows
    if X2.shape[0] and B:
        parallel_rows(X2.shape[0], lambda r0, r1: _hull_rows(X2[r0:r1], wl, j0, j1, what, O2[r0:r1]))
    return o.finish()


def remove_continuum(spectra: ArrayLike, wavelengths: ArrayLike, mode: str = "quotient", out: np.ndarray | None = None, *,
                     window: tuple[float, float] | None = None) -> np.ndarray:
    """Continuum-removed spectra: each spectrum divided by (or minus) its upper convex hull, on the last axis.

    Identical to SPy's ``spectral.algorithms.continuum.remove_continuum(spectra, wavelengths)`` (its default
    'convex' hull) up to rounding; see the module docstring for the exact definition.

    Parameters
    ----------
    spectra : (..., B) array of reflectance — a spectrum (B,), spectra (N, B) or a cube (H, W, B). Non-finite
        values are missing bands: left out of the hull, NaN in the output.
    wavelengths : (B,) float, nm, strictly increasing.
    mode : ``"quotient"`` (default): ``spectrum / hull`` (1 on the hull, below 1 in absorptions);
        ``"difference"``: ``1 + spectrum - hull`` (1 on the hull, depths in reflectance units).
    out : optional float array of the spectra's shape to write the result into (may be ``spectra`` itself).
    window : optional ``(lo_nm, hi_nm)``: build the hull from the bands inside this window only (inclusive),
        for a single absorption feature; bands outside it are NaN in the output.

    Returns
    -------
    (..., B) array, float32 if ``spectra`` is float32, else float64 (or ``out``). All arithmetic is float64.
    """
    if mode not in CONTINUUM_MODES:
        raise InputError(f"mode must be one of {sorted(CONTINUUM_MODES)}, got {mode!r}")
    return _run(spectra, wavelengths, CONTINUUM_MODES[mode], out, window)


def continuum(spectra: ArrayLike, wavelengths: ArrayLike, out: np.ndarray | None = None, *,
              window: tuple[float, float] | None = None) -> np.ndarray:
    """The continuum itself: the upper convex hull of each spectrum evaluated at every band, on the last axis.

    Same as SPy's ``spectral.algorithms.continuum.spectral_continuum(spectra, wavelengths)`` up to rounding.

    Parameters
    ----------
    spectra : (..., B) array of reflectance; non-finite values are left out of the hull and NaN in the output
    wavelengths : (B,) float, nm, strictly increasing
    out : optional float array of the spectra's shape to write into
    window : optional ``(lo_nm, hi_nm)``: hull of the bands inside the window only; NaN outside it

    Returns
    -------
    (..., B) array in the spectra's units, float32 if ``spectra`` is float32, else float64.
    """
    return _run(spectra, wavelengths, _HULL, out, window)
