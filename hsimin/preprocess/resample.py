"""Spectral resampling: spectra on one wavelength grid -> another grid (a sensor's bands).

Model
-----
The source spectrum is taken as the piecewise-linear curve through its samples (the usual reading of a
tabulated spectrum). A target band ``j`` with centre ``c_j`` and full width at half maximum ``f_j`` sees

    r_j = ∫ s(λ) g_j(λ) dλ / ∫ g_j(λ) dλ,     g_j = Gaussian(c_j, σ_j = f_j / (2 √(2 ln 2)) ≈ f_j / 2.3548)

(both integrals over the source's range, and over ±5 σ)

and the integral of a piecewise-linear curve against a Gaussian is exact in closed form (error functions and
Gaussian densities), so each target band is a fixed weighted sum of the source channels. On a densely sampled
source (ASD's 1 nm) this is the familiar "Gaussian weights times samples"; on a coarse one (Beckman's 10-30 nm
steps) it is still the band's true response to the linearly interpolated spectrum instead of a nearest-sample
pick. Without a FWHM the target band is the linear interpolation at ``c_j`` (a zero-width response).

When the source's own bandpass is known (``source_fwhm``), the source is already a Gaussian-blurred version of
the true spectrum, and convolving it with the full target width would blur twice. The response applied is then
the *effective* width ``sqrt(f_target² − f_source²)`` (Gaussians compose by adding variances); where the target
is not broader than the source it is zero (linear interpolation: no sharpening is attempted).

Checked against USGS's own convolution of splib07 to AVIRIS-1995 (887 ASD and Beckman spectra, 214 bands):
median |difference| 0.00009 reflectance, 95th percentile 0.0016 with the full target width; 0.00004 and 0.0010
with each instrument's bandpass as ``source_fwhm`` (USGS's own error bars: 0.0075 at the 95th percentile).

Missing data
------------
NaN source channels are left out and the remaining weights renormalised, per spectrum. A target band is NaN
when the finite source channels carry less than ``min_weight`` (default 0.5) of its response: bands lying
outside the source range, and bands whose response falls mostly on deleted channels.

Speed
-----
The weights of a (source grid, target grid, widths) combination are computed once and cached (keyed by a hash
of the grids). They form a banded matrix (each target band touches a contiguous run of source channels), applied
by a compiled, parallel kernel in one pass over the (N, B) spectra that also handles NaN (spectra without NaN
take a branch-free path). A 384 x 2000 x 270 float32 chunk (768 000 spectra) resamples to 250 bands of 12 nm
FWHM in about one second on two cores.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from collections import OrderedDict

import numpy as np
from numpy.typing import ArrayLike

from .._numba import jit, parallel_rows
from ..core.errors import InputError, WavelengthError
from ..core.types import SpectralLibrary
from ..core.units import check_wavelengths

__all__ = ["ResampleWeights", "fwhm_to_sigma", "resample", "resample_library", "resampling_weights"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))  # 2.35482...
"""FWHM of a Gaussian in units of its standard deviation."""

TRUNCATE_SIGMA = 5.0
"""A Gaussian response is cut at ±5 σ (the mass beyond is 6e-7 of the total)."""

_SQRT2 = np.sqrt(2.0)
_TRUNCATED_MASS = math.erf(TRUNCATE_SIGMA / math.sqrt(2.0))  # Gaussian mass inside ±TRUNCATE_SIGMA
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def fwhm_to_sigma(fwhm):
    """Standard deviation (nm) of a Gaussian band response of full width at half maximum ``fwhm`` (nm)."""
    return np.asarray(fwhm, dtype=np.float64) / FWHM_PER_SIGMA


@dataclasses.dataclass(frozen=True, eq=False)
class ResampleWeights:
    """Banded resampling matrix from ``B`` source channels to ``T`` target bands.

    Attributes
    ----------
    start : (T,) int64 — first source channel of each target band's window (``start + K <= B``)
    weights : (T, K) float64 — weight of source channel ``start[j] + k`` in target band ``j`` (zero-padded).
        Units: fraction of the band's total response, so a band fully inside the source range has weights
        summing to 1, a band hanging over an end sums to the covered fraction, a band outside sums to 0.
    n_source : B
    """

    start: np.ndarray
    weights: np.ndarray
    n_source: int

    def __post_init__(self):
        object.__setattr__(self, "_total", np.ascontiguousarray(self.weights.sum(axis=1)))

    @property
    def total(self) -> np.ndarray:
        """(T,) sum of each band's weights: the fraction of its response inside the source range."""
        return self._total

    @property
    def shape(self) -> tuple[int, int]:
        """(T, B)."""
        return (int(self.start.size), int(self.n_source))

    def coverage(self) -> np.ndarray:
        """(T,) fraction of each target band's response that falls inside the source range (a copy)."""
        return self._total.copy()

    def to_dense(self) -> np.ndarray:
        """The (T, B) weight matrix as a dense float64 array."""
        T, B = self.shape
        K = self.weights.shape[1]
        M = np.zeros((T, B))
        M[np.arange(T)[:, None], self.start[:, None] + np.arange(K)[None, :]] = self.weights
        return M

    def to_sparse(self):
        """The (T, B) weight matrix as a ``scipy.sparse.csr_matrix`` (explicit zeros dropped)."""
        from scipy.sparse import csr_matrix
        T, B = self.shape
        K = self.weights.shape[1]
        keep = self.weights != 0
        rows = np.broadcast_to(np.arange(T)[:, None], keep.shape)[keep]
        cols = (self.start[:, None] + np.arange(K)[None, :])[keep]
        return csr_matrix((self.weights[keep], (rows, cols)), shape=(T, B))


def _pack(start: np.ndarray, count: np.ndarray, W: np.ndarray, B: int) -> ResampleWeights:
    """Variable-length rows (start, count, W) -> fixed-width windows of K = max(count) channels, shifted left
    where needed so every window lies inside the B source channels."""
    T = start.size
    K = max(int(count.max(initial=0)), 1)
    K = min(K, B)
    s = np.clip(np.minimum(start, B - K), 0, None).astype(np.int64)
    out = np.zeros((T, K))
    for j in np.flatnonzero(count):
        off = int(start[j] - s[j])
        n = int(count[j])
        out[j, off:off + n] = W[j, :n]
    out.setflags(write=False)
    s.setflags(write=False)
    return ResampleWeights(s, out, int(B))


# --------------------------------------------------------------------------- weights

def _interp_weights(x: np.ndarray, centres: np.ndarray):
    """Linear interpolation at ``centres``: two weights per band (one where a centre hits a sample exactly).
    Centres outside [x0, x_end] get no weights."""
    T = centres.size
    start = np.zeros(T, np.int64)
    count = np.zeros(T, np.int64)
    W = np.zeros((T, 2))
    inside = (centres >= x[0]) & (centres <= x[-1])
    if x.size == 1:
        hit = inside
        count[hit] = 1
        W[hit, 0] = 1.0
        return start, count, W
    k = np.clip(np.searchsorted(x, centres, side="right") - 1, 0, x.size - 2)
    t = (centres - x[k]) / (x[k + 1] - x[k])
    start[inside] = k[inside]
    count[inside] = 2
    W[inside, 0] = 1.0 - t[inside]
    W[inside, 1] = t[inside]
    return start, count, W


def _gauss_weights(x: np.ndarray, centres: np.ndarray, sigma: np.ndarray):
    """Exact integral of the piecewise-linear interpolant of samples at ``x`` against a normalised Gaussian
    (centre, sigma) per target band, as weights on the samples, truncated at ±TRUNCATE_SIGMA."""
    from scipy.special import erf  # imported here: scipy.special costs 0.3 s at import
    T = centres.size
    lo = np.searchsorted(x, centres - TRUNCATE_SIGMA * sigma, side="right") - 1
    hi = np.searchsorted(x, centres + TRUNCATE_SIGMA * sigma, side="left")
    lo = np.clip(lo, 0, x.size - 1)
    hi = np.clip(hi, 0, x.size - 1)
    nseg = np.maximum(hi - lo, 0)        # segments [x_k, x_{k+1}] for k in lo..hi-1
    start = lo.astype(np.int64)
    count = np.where(nseg > 0, nseg + 1, 0).astype(np.int64)
    K = int(count.max(initial=1))
    W = np.zeros((T, max(K, 1)))
    total = int(nseg.sum())
    if total == 0:
        return start, np.zeros(T, np.int64), W
    band = np.repeat(np.arange(T), nseg)
    offset = np.arange(total) - np.repeat(np.cumsum(nseg) - nseg, nseg)   # segment index within its band
    k = lo[band] + offset
    x0, x1 = x[k], x[k + 1]
    mu, sg = centres[band], sigma[band]
    a = np.maximum((x0 - mu) / sg, -TRUNCATE_SIGMA)    # integrate over the truncated response only
    b = np.minimum((x1 - mu) / sg, TRUNCATE_SIGMA)
    Phi = 0.5 * (erf(b / _SQRT2) - erf(a / _SQRT2))                        # ∫_seg g
    phi = _INV_SQRT_2PI * (np.exp(-0.5 * a * a) - np.exp(-0.5 * b * b))
    I1 = (mu - x0) * Phi + sg * phi                                        # ∫_seg (λ - x0) g
    dx = x1 - x0
    w_right = I1 / dx
    w_left = Phi - w_right
    np.add.at(W, (band, offset), w_left)
    np.add.at(W, (band, offset + 1), w_right)
    np.clip(W, 0.0, None, out=W)   # rounding can leave -1e-17 on far tails
    W /= _TRUNCATED_MASS           # a band inside the source range sums to exactly 1, half-covered to 0.5
    return start, count, W


_CACHE: "OrderedDict[bytes, ResampleWeights]" = OrderedDict()
_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()


def _key(*arrays) -> bytes:
    h = hashlib.sha1()
    for a in arrays:
        if a is None:
            h.update(b"\x00none")
        else:
            a = np.ascontiguousarray(a, dtype=np.float64)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.digest()


def _band_vector(value, n: int, what: str) -> np.ndarray | None:
    if value is None:
        return None
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        v = np.full(n, float(v))
    if v.shape != (n,):
        raise InputError(f"{what} has shape {v.shape}; give one value per band ({n}) or a single number")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise InputError(f"{what} must be finite and non-negative (nm)")
    return v


def resampling_weights(wavelengths: ArrayLike, target_wavelengths: ArrayLike, target_fwhm: ArrayLike | None = None, *,
                       source_fwhm: ArrayLike | None = None) -> ResampleWeights:
    """The banded weight matrix that :func:`resample` applies (cached per grid pair).

    Parameters
    ----------
    wavelengths : (B,) source band centres, nm, strictly increasing
    target_wavelengths : (T,) target band centres, nm, strictly increasing
    target_fwhm : (T,) or scalar, nm, or None (linear interpolation)
    source_fwhm : (B,) or scalar, nm, or None. When given, the effective width
        ``sqrt(max(target_fwhm² − source_fwhm², 0))`` is used (source FWHM interpolated to the target centres).
    """
    src = check_wavelengths(wavelengths, what="source wavelengths")
    dst = check_wavelengths(target_wavelengths, what="target wavelengths")
    if src.size < 1 or dst.size < 1:
        raise WavelengthError("resampling needs at least one source and one target band")
    tf = _band_vector(target_fwhm, dst.size, "target_fwhm")
    sf = _band_vector(source_fwhm, src.size, "source_fwhm")
    key = _key(src, dst, tf, sf)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    if tf is None:
        start, count, W = _interp_weights(src, dst)
    else:
        width = tf
        if sf is not None:
            sf_at = np.interp(dst, src, sf)
            width = np.sqrt(np.maximum(tf * tf - sf_at * sf_at, 0.0))
        sigma = fwhm_to_sigma(width)
        # A response much narrower than the source sampling is a point sample: interpolate there.
        spacing = np.interp(dst, src[:-1], np.diff(src)) if src.size > 1 else np.ones_like(dst)
        point = sigma < 1e-3 * spacing
        start, count, W = _gauss_weights(src, dst, np.where(point, 1.0, sigma))
        if np.any(point):
            s2, c2, W2 = _interp_weights(src, dst[point])
            if W.shape[1] < 2:
                W = np.pad(W, ((0, 0), (0, 2 - W.shape[1])))
            start[point], count[point] = s2, c2
            W[point] = 0.0
            W[point, :2] = W2
    w = _pack(start, count, W, src.size)
    with _CACHE_LOCK:
        _CACHE[key] = w
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return w


# --------------------------------------------------------------------------- kernel

@jit
def _has_nan(row):  # pragma: no cover - compiled
    for b in range(row.shape[0]):
        if row[b] != row[b]:
            return True
    return False


@jit
def _row_with_nan(x, start, W, min_weight, out):  # pragma: no cover - compiled
    # a spectrum with missing channels: the weights of its finite channels only, and their own sum
    T, K = W.shape
    for j in range(T):
        s = start[j]
        num = 0.0
        den = 0.0
        for k in range(K):
            v = x[s + k]
            w = W[j, k]
            if v == v and w != 0.0:
                num += w * v
                den += w
        out[j] = num / den if (den >= min_weight and den > 0.0) else np.nan


@jit
def _row_clean(x, start, W, total, min_weight, out):  # pragma: no cover - compiled
    T, K = W.shape
    for j in range(T):
        s = start[j]
        num = 0.0
        for k in range(K):
            num += W[j, k] * x[s + k]
        den = total[j]
        out[j] = num / den if (den >= min_weight and den > 0.0) else np.nan


@jit
def _apply_banded(X, start, W, total, min_weight, out, r0, r1):  # pragma: no cover - compiled
    # Rows r0..r1. Each band's sum runs over its window in order (k = 0..K-1), strict IEEE arithmetic, so a
    # spectrum's result does not depend on the rows around it, the chunking or the threads. Four NaN-free spectra
    # go together: four independent sums per band hide the latency of the multiply-add chain, which bounds a
    # single sum of K ~ 10 terms (about 2.4x faster than one spectrum at a time).
    T, K = W.shape
    i = r0
    while i + 4 <= r1:
        if _has_nan(X[i]) or _has_nan(X[i + 1]) or _has_nan(X[i + 2]) or _has_nan(X[i + 3]):
            for q in range(i, i + 4):
                if _has_nan(X[q]):
                    _row_with_nan(X[q], start, W, min_weight, out[q])
                else:
                    _row_clean(X[q], start, W, total, min_weight, out[q])
            i += 4
            continue
        x0 = X[i]
        x1 = X[i + 1]
        x2 = X[i + 2]
        x3 = X[i + 3]
        for j in range(T):
            s = start[j]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for k in range(K):
                w = W[j, k]
                a0 += w * x0[s + k]
                a1 += w * x1[s + k]
                a2 += w * x2[s + k]
                a3 += w * x3[s + k]
            den = total[j]
            if den >= min_weight and den > 0.0:
                out[i, j] = a0 / den
                out[i + 1, j] = a1 / den
                out[i + 2, j] = a2 / den
                out[i + 3, j] = a3 / den
            else:
                out[i, j] = np.nan
                out[i + 1, j] = np.nan
                out[i + 2, j] = np.nan
                out[i + 3, j] = np.nan
        i += 4
    for q in range(i, r1):
        if _has_nan(X[q]):
            _row_with_nan(X[q], start, W, min_weight, out[q])
        else:
            _row_clean(X[q], start, W, total, min_weight, out[q])


def resample(spectra: ArrayLike, wavelengths: ArrayLike, target_wavelengths: ArrayLike,
             target_fwhm: ArrayLike | None = None, *, source_fwhm: ArrayLike | None = None, min_weight: float = 0.5) -> np.ndarray:
    """Resample spectra to new band centres (and widths), on the last axis.

    Parameters
    ----------
    spectra : (..., B) array — a spectrum (B,), spectra (N, B) or a cube (H, W, B); NaN = missing channel
    wavelengths : (B,) float, nm, strictly increasing — the source band centres
    target_wavelengths : (T,) float, nm, strictly increasing — the band centres wanted
    target_fwhm : (T,) or scalar, nm, or None — target band widths. Given: Gaussian band response with
        σ = FWHM / 2.3548 applied to the linearly interpolated source; None: linear interpolation.
    source_fwhm : (B,) or scalar, nm, or None (keyword) — the source's own band widths. Given with
        ``target_fwhm``: the effective width sqrt(target² − source²) is applied where the target is broader,
        linear interpolation where it is not (the source is never sharpened).
    min_weight : a target band is NaN when the finite source channels carry less than this fraction of its
        response (outside the source range, or mostly on NaN channels). Default 0.5.

    Returns
    -------
    (..., T) array: float32 if ``spectra`` is float32, else float64 (sums are always done in float64).
    """
    X = np.asarray(spectra)
    if X.ndim == 0:
        raise InputError("spectra must have at least one axis (bands last)")
    src = check_wavelengths(wavelengths, what="source wavelengths")
    if X.shape[-1] != src.size:
        raise InputError(f"spectra have {X.shape[-1]} bands on the last axis but {src.size} wavelengths were given")
    if not 0.0 < float(min_weight) <= 1.0:
        raise InputError(f"min_weight must be in (0, 1], got {min_weight}")
    w = resampling_weights(src, target_wavelengths, target_fwhm, source_fwhm=source_fwhm)
    out_dtype = np.float32 if X.dtype == np.float32 else np.float64
    if X.dtype.kind not in "fiub":
        raise InputError(f"spectra must be numeric, got dtype {X.dtype}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    lead = X.shape[:-1]
    X2 = np.ascontiguousarray(X.reshape(-1, src.size))
    out = np.empty((X2.shape[0], w.start.size), dtype=out_dtype)
    if X2.shape[0]:
        mw = float(min_weight) - 1e-9
        parallel_rows(X2.shape[0], lambda r0, r1: _apply_banded(X2, w.start, w.weights, w.total, mw, out, r0, r1))
    return out.reshape(lead + (w.start.size,))


def resample_library(lib: SpectralLibrary, target_wavelengths: ArrayLike, target_fwhm: ArrayLike | None = None, *,
                     source_fwhm: ArrayLike | None = None, min_weight: float = 0.5) -> SpectralLibrary:
    """A library resampled to new bands (see :func:`resample`); names, minerals, sample ids and attrs kept.

    ``source_fwhm`` defaults to None: the full target width is applied and the library's own resolution ignored.
    Pass ``source_fwhm=lib.fwhm`` (when the library has one) to apply the effective width sqrt(target² − source²)
    instead, which reproduces USGS's convolved products more closely (see the module notes).
    The result's ``fwhm`` is ``target_fwhm`` (None for linear interpolation).
    """
    if not isinstance(lib, SpectralLibrary):
        raise InputError(f"resample_library needs a SpectralLibrary, got {type(lib).__name__}")
    dst = check_wavelengths(target_wavelengths, what="target wavelengths")
    S = resample(lib.spectra, lib.wavelengths, dst, target_fwhm, source_fwhm=source_fwhm, min_weight=min_weight)
    tf = None if target_fwhm is None else _band_vector(target_fwhm, dst.size, "target_fwhm")
    how = "linear" if tf is None else "gaussian"
    return SpectralLibrary(S, dst, lib.names, lib.minerals,
                           f"{lib.source} | resampled ({how}) to {dst.size} bands {dst[0]:g}-{dst[-1]:g} nm",
                           lib.sample_ids, tf, lib.attrs)
