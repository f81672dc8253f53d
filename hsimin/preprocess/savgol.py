"""Savitzky–Golay smoothing and derivatives on the last axis, with scipy's numbers and a compiled kernel.

``smooth_savgol(x, window_length, polyorder, deriv)`` gives the numbers of
``scipy.signal.savgol_filter(x, window_length, polyorder, deriv, axis=-1)`` (its default ``mode='interp'``,
and also ``'mirror'``, ``'nearest'``, ``'constant'``) to rounding error, several times faster on (N, B)
spectra because it runs on several threads over spectra and vectorised over bands.

How
---
Savitzky–Golay filtering is linear: ``y = M x`` with a banded matrix ``M`` whose interior rows are one fixed
kernel and whose first and last few rows (the edges) are other fixed rows (for ``'interp'``, a polynomial fitted
to the first or last ``window_length`` bands and evaluated at the edge bands). :func:`savgol_operator` takes
``M`` from scipy itself, by filtering the columns of an identity matrix, so the edge rules are scipy's by
construction, and keeps it in compact form (kernel + two small edge blocks), cached per parameter set. A
compiled kernel applies it in float64, spectrum by spectrum on several threads: the interior as passes of four
taps vectorised over bands, the edges as small dot products. The sums run in a different order from scipy's,
so results differ from scipy's by rounding only (about 1e-15 on reflectance).

Units
-----
The filter works per band, like scipy: ``delta`` (default 1.0) is the band spacing, so a first derivative is
per band. Pass ``wavelengths=`` instead to get derivatives per nm: the spacing is taken from the wavelengths,
which must then be evenly spaced (Savitzky–Golay assumes equal steps; resample to an even grid first).

Missing data (``nan_policy``)
-----------------------------
``"propagate"`` (default): an output band is NaN (or inf) wherever the filter reads a non-finite band: the
``window_length`` bands around it, or at an edge the ``window_length`` bands its edge polynomial is fitted to.
Nothing is invented, at the cost of losing a window's width of bands around each gap.

``"interpolate"``: gaps inside the spectrum are bridged by linear interpolation (over band index) before
filtering, leading and trailing non-finite runs are cut off (the filter's edge rule then applies at the first
and last finite band), and the output is NaN again at every band that was missing in the input. A spectrum
with fewer finite bands than the window (from first to last finite band) is all NaN.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
from numpy.typing import ArrayLike

from .._numba import jit, parallel_rows
from ..core.errors import InputError
from ..core.units import check_wavelengths
from .lastaxis import as_rows, output_rows

__all__ = ["NAN_POLICIES", "SAVGOL_MODES", "SavgolOperator", "savgol_operator", "smooth_savgol"]

SAVGOL_MODES = ("interp", "mirror", "nearest", "constant")
"""Edge modes, as in ``scipy.signal.savgol_filter`` ('wrap' is left out: it joins the two ends of a spectrum)."""

NAN_POLICIES = {"propagate": 0, "interpolate": 1}
"""How :func:`smooth_savgol` treats non-finite bands (see the module docstring)."""


@dataclasses.dataclass(frozen=True, eq=False)
class SavgolOperator:
    """A Savitzky–Golay filter as a banded linear operator ``y = M x`` on spectra of any length ``>= min_bands``.

    Attributes
    ----------
    kernel : (w,) float64 — interior rows: ``y[i] = sum_k kernel[k] * x[i - offset + k]``
    offset : int — position of the output band within its window
    left : (L, wl) float64 — the first L output bands: ``y[i] = sum_k left[i, k] * x[k]``
    right : (R, wr) float64 — the last R output bands: ``y[n - R + i] = sum_k right[i, k] * x[n - wr + k]``
    min_bands : shortest spectrum the operator applies to (the window length)
    """

    kernel: np.ndarray
    offset: int
    left: np.ndarray
    right: np.ndarray
    min_bands: int

    def matrix(self, n: int) -> np.ndarray:
        """The dense (n, n) operator for spectra of n bands (for tests and small problems)."""
        if n < self.min_bands:
            raise InputError(f"the filter needs at least {self.min_bands} bands, got {n}")
        M = np.zeros((n, n))
        w, L, R = self.kernel.size, self.left.shape[0], self.right.shape[0]
        for i in range(L, n - R):
            M[i, i - self.offset:i - self.offset + w] = self.kernel
        M[:L, :self.left.shape[1]] = self.left
        M[n - R:, n - self.right.shape[1]:] = self.right
        return M


def _check_params(window_length, polyorder, deriv, delta, mode) -> tuple[int, int, int, float, str]:
    try:
        w, p, d = int(window_length), int(polyorder), int(deriv)
    except (TypeError, ValueError):
        raise InputError("window_length, polyorder and deriv must be integers, got "
                         f"{window_length!r}, {polyorder!r}, {deriv!r}") from None
    if (w, p, d) != (window_length, polyorder, deriv):
        raise InputError(f"window_length, polyorder and deriv must be integers, got "
                         f"{window_length!r}, {polyorder!r}, {deriv!r}")
    if w < 1:
        raise InputError(f"window_length must be a positive integer, got {w}")
    if not 0 <= p < w:
        raise InputError(f"polyorder must be >= 0 and less than window_length ({w}), got {p}")
    if not 0 <= d <= p:
        raise InputError(f"deriv must be between 0 and polyorder ({p}), got {d}: higher derivatives of a "
                         f"polynomial of order {p} are zero")
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise InputError(f"delta (band spacing) must be a positive number, got {delta}")
    if mode not in SAVGOL_MODES:
        raise InputError(f"mode must be one of {', '.join(SAVGOL_MODES)}, got {mode!r}")
    return w, p, d, delta, mode


@functools.lru_cache(maxsize=64)
def _operator(w: int, p: int, d: int, delta: float, mode: str) -> SavgolOperator:
    from scipy.signal import savgol_coeffs, savgol_filter

    # scipy's operator on n bands, one column per unit impulse. n leaves interior rows between the edges.
    n = 2 * w + 3
    M = savgol_filter(np.eye(n), w, p, deriv=d, delta=delta, axis=-1, mode=mode).T
    corr = savgol_coeffs(w, p, deriv=d, delta=delta)[::-1].copy()  # convolution -> correlation order
    tol = 1e-12 * max(1.0, float(np.abs(M).max()))

    def is_interior(i: int, a: int) -> bool:
        lo = i - a
        if lo < 0 or lo + w > n:
            return False
        row = M[i].copy()
        if not np.allclose(row[lo:lo + w], corr, rtol=0, atol=tol):
            return False
        row[lo:lo + w] = 0.0
        return bool(np.all(np.abs(row) <= tol))

    # Offset of the output band within its window: scipy's convolve1d centres odd kernels and, for even ones,
    # puts the output band just left of the middle. Checked against every interior row below.
    a = w // 2 if w % 2 else w // 2 - 1
    # Rows whose window lies inside the data are plain kernel rows; 'interp' also refits the first and last
    # w // 2 rows with the edge polynomials.
    L, R = a, w - 1 - a
    if mode == "interp":
        L, R = max(L, w // 2), max(R, w // 2)
    if not all(is_interior(i, a) for i in range(L, n - R)):  # pragma: no cover - scipy changed
        raise RuntimeError(f"scipy's Savitzky-Golay operator has unexpected rows (w={w}, p={p}, mode={mode})")

    def width(block: np.ndarray, from_left: bool) -> int:
        # Columns an edge row reads: up to the last non-zero entry (entries the filter never reads are exact
        # zeros in scipy's result, so a NaN there must not reach the output).
        nz = np.flatnonzero(np.any(block != 0.0, axis=0))
        if nz.size == 0:
            return 1
        return int(nz.max() + 1) if from_left else int(block.shape[1] - nz.min())

    wl = width(M[:L], True) if L else 0
    wr = width(M[n - R:], False) if R else 0
    left = np.ascontiguousarray(M[:L, :wl])
    right = np.ascontiguousarray(M[n - R:, n - wr:])
    # The compact form is only valid where the edge blocks and the interior do not overlap.
    min_bands = max(w, wl, wr, L + R)
    for arr in (corr, left, right):
        arr.setflags(write=False)
    return SavgolOperator(corr, a, left, right, min_bands)


def savgol_operator(window_length: int, polyorder: int, deriv: int = 0, delta: float = 1.0,
                    mode: str = "interp") -> SavgolOperator:
    """The Savitzky–Golay filter of these parameters as a compact banded operator (cached).

    Parameters are those of ``scipy.signal.savgol_filter``; ``delta`` is the band spacing (default 1: per band).
    """
    return _operator(*_check_params(window_length, polyorder, deriv, delta, mode))


@jit(inline="always")
def _taps(acc, dst, src, kern, k, first):  # pragma: no cover - compiled
    """One pass of up to 4 filter taps k..k+3 over a run of output bands, vectorised over bands:
    ``dst[t] = acc[t] + sum_j kern[k + j] * src[k + j + t]`` (``acc`` left out on the first pass). Four taps per
    pass keep the partial sum in registers for four multiply-adds per load/store of the accumulator."""
    n = dst.shape[0]
    nt = min(4, kern.shape[0] - k)
    s0 = src[k:]
    c0 = kern[k]
    if nt == 4:
        c1 = kern[k + 1]
        c2 = kern[k + 2]
        c3 = kern[k + 3]
        s1 = src[k + 1:]
        s2 = src[k + 2:]
        s3 = src[k + 3:]
        if first:
            for t in range(n):
                dst[t] = ((c0 * s0[t] + c1 * s1[t]) + c2 * s2[t]) + c3 * s3[t]
        else:
            for t in range(n):
                dst[t] = (((acc[t] + c0 * s0[t]) + c1 * s1[t]) + c2 * s2[t]) + c3 * s3[t]
    elif nt == 3:
        c1 = kern[k + 1]
        c2 = kern[k + 2]
        s1 = src[k + 1:]
        s2 = src[k + 2:]
        if first:
            for t in range(n):
                dst[t] = (c0 * s0[t] + c1 * s1[t]) + c2 * s2[t]
        else:
            for t in range(n):
                dst[t] = ((acc[t] + c0 * s0[t]) + c1 * s1[t]) + c2 * s2[t]
    elif nt == 2:
        c1 = kern[k + 1]
        s1 = src[k + 1:]
        if first:
            for t in range(n):
                dst[t] = c0 * s0[t] + c1 * s1[t]
        else:
            for t in range(n):
                dst[t] = (acc[t] + c0 * s0[t]) + c1 * s1[t]
    else:
        if first:
            for t in range(n):
                dst[t] = c0 * s0[t]
        else:
            for t in range(n):
                dst[t] = acc[t] + c0 * s0[t]


@jit(inline="always")
def _dot4(coef, x):  # pragma: no cover - compiled
    """sum_k coef[k] * x[k] with four partial sums (four independent add chains instead of one)."""
    n = coef.shape[0]
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    k = 0
    while k + 4 <= n:
        s0 += coef[k] * x[k]
        s1 += coef[k + 1] * x[k + 1]
        s2 += coef[k + 2] * x[k + 2]
        s3 += coef[k + 3] * x[k + 3]
        k += 4
    while k < n:
        s0 += coef[k] * x[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


@jit
def _filter_span(x, lo, hi, kern, a, left, right, acc, o):  # pragma: no cover - compiled
    """Filter bands lo:hi of the float64 spectrum ``x`` into ``o[lo:hi]`` (``acc`` is float64 scratch)."""
    w = kern.shape[0]
    L, wl = left.shape
    R, wr = right.shape
    # Interior: o[i] = sum_k kern[k] * x[i - a + k], in passes of four taps over the run of bands; the last pass
    # writes the output.
    i0 = lo + L
    i1 = hi - R
    src = x[i0 - a:i1 - a + w - 1]
    dacc = acc[i0:i1]
    k = 0
    while k < w:
        if k + 4 >= w:
            _taps(dacc, o[i0:i1], src, kern, k, k == 0)
        else:
            _taps(dacc, dacc, src, kern, k, k == 0)
        k += 4
    # Edges: small dense blocks on the first wl and last wr bands of the span.
    for i in range(L):
        o[lo + i] = _dot4(left[i], x[lo:lo + wl])
    for i in range(R):
        o[hi - R + i] = _dot4(right[i], x[hi - wr:hi])


@jit
def _savgol_rows_direct(X, kern, a, left, right, out):  # pragma: no cover - compiled
    """float64 spectra, NaN propagating, ``out`` not overlapping ``X``: filter straight from the input."""
    N, B = X.shape
    acc = np.empty(B, np.float64)
    for r in range(N):
        _filter_span(X[r], 0, B, kern, a, left, right, acc, out[r])


@jit
def _savgol_rows(X, kern, a, left, right, policy, out):  # pragma: no cover - compiled
    """Any float input, any policy, ``out`` may be ``X``: each row goes through a float64 buffer first."""
    N, B = X.shape
    w = kern.shape[0]
    L, wl = left.shape
    R, wr = right.shape
    need = max(w, max(wl, max(wr, L + R)))
    buf = np.empty(B, np.float64)
    acc = np.empty(B, np.float64)
    bad = np.empty(B, np.bool_)
    for r in range(N):
        row = X[r]
        o = out[r]
        n_bad = 0
        for j in range(B):
            v = np.float64(row[j])
            buf[j] = v
            n_bad += not (v - v == 0.0)
        lo = 0
        hi = B
        fix = n_bad > 0 and policy == 1
        if fix:
            # Bridge inner gaps linearly over band index; cut leading and trailing non-finite runs.
            lo = B
            hi = 0
            for j in range(B):
                ok = buf[j] - buf[j] == 0.0
                bad[j] = not ok
                if ok:
                    if lo == B:
                        lo = j
                    hi = j + 1
            if hi - lo < need:
                for j in range(B):
                    o[j] = np.nan
                continue
            prev = lo
            for j in range(lo + 1, hi):
                if not bad[j]:
                    if j > prev + 1:
                        y0 = buf[prev]
                        step = (buf[j] - y0) / (j - prev)
                        for g in range(prev + 1, j):
                            buf[g] = y0 + step * (g - prev)
                    prev = j
        _filter_span(buf, lo, hi, kern, a, left, right, acc, o)
        if fix:
            for j in range(B):
                if j < lo or j >= hi or bad[j]:
                    o[j] = np.nan


def _delta_from_wavelengths(wavelengths, n_bands: int) -> float:
    wl = check_wavelengths(wavelengths, n_bands, "wavelengths")
    if wl.size < 2:
        raise InputError("wavelengths must hold at least 2 bands to give a band spacing")
    steps = np.diff(wl)
    step = float((wl[-1] - wl[0]) / (wl.size - 1))
    if np.max(np.abs(steps - step)) > 0.01 * step:
        raise InputError(f"wavelengths are not evenly spaced (steps {steps.min():.4g}-{steps.max():.4g} nm); "
                         "Savitzky-Golay needs equal steps: resample to an even grid first, or pass delta")
    return step


def smooth_savgol(spectra: ArrayLike, window_length: int, polyorder: int, deriv: int = 0, delta: float | None = None, *,
                  wavelengths: ArrayLike | None=None, mode: str = "interp", nan_policy: str = "propagate",
                  out: np.ndarray | None = None) -> np.ndarray:
    """Savitzky–Golay smoothing (or derivative) of spectra along the last axis.

    Same numbers as ``scipy.signal.savgol_filter(spectra, window_length, polyorder, deriv, delta, axis=-1,
    mode=mode)`` for finite data (to about 1e-15; computed in float64).

    Parameters
    ----------
    spectra : (..., B) array — a spectrum (B,), spectra (N, B) or a cube (H, W, B), with B >= window_length
    window_length : int — bands in the window (odd is usual; even works as in scipy)
    polyorder : int — order of the fitted polynomial, < window_length
    deriv : int — derivative order, 0 (smoothing) to polyorder
    delta : float or None — band spacing for derivatives; None means 1.0 (per band, as scipy) unless
        ``wavelengths`` is given
    wavelengths : (B,) nm, evenly spaced, or None (keyword) — take ``delta`` from the band spacing, so
        derivatives are per nm. Give ``delta`` or ``wavelengths``, not both.
    mode : ``"interp"`` (default), ``"mirror"``, ``"nearest"`` or ``"constant"``: scipy's edge modes
    nan_policy : ``"propagate"`` (default) or ``"interpolate"``; see the module docstring
    out : optional float array of the spectra's shape to write into

    Returns
    -------
    (..., B) array in the spectra's units (per band**deriv, or per nm**deriv with ``wavelengths``), float32 if
    ``spectra`` is float32, else float64.
    """
    X, X2 = as_rows(spectra)
    B = X.shape[-1]
    if wavelengths is not None and delta is not None:
        raise InputError("give delta or wavelengths, not both")
    step = _delta_from_wavelengths(wavelengths, B) if wavelengths is not None else (1.0 if delta is None else delta)
    if nan_policy not in NAN_POLICIES:
        raise InputError(f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {nan_policy!r}")
    op = savgol_operator(window_length, polyorder, deriv, step, mode)
    if B < op.min_bands:
        raise InputError(f"spectra have {B} bands; window_length {window_length} with mode {mode!r} needs at "
                         f"least {op.min_bands}: use a shorter window")
    o = output_rows(X, out)
    O2 = o.rows
    policy = NAN_POLICIES[nan_policy]
    if X2.dtype == np.float64 and policy == 0 and not np.may_share_memory(X2, O2):
        # No conversion, no NaN bookkeeping and no aliasing: read the input directly (saves a copy per row).
        parallel_rows(X2.shape[0], lambda r0, r1: _savgol_rows_direct(X2[r0:r1], op.kernel, op.offset, op.left,
                                                                      op.right, O2[r0:r1]))
    else:
        parallel_rows(X2.shape[0], lambda r0, r1: _savgol_rows(X2[r0:r1], op.kernel, op.offset, op.left, op.right,
                                                               policy, O2[r0:r1]))
    return o.finish()
