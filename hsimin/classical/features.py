"""Absorption-feature scalars: position, depth, width and asymmetry of diagnostic features.

For every :class:`FeatureWindow` the spectrum is continuum-removed over the window's **local hull range**
(``hull_lo_nm``-``hull_hi_nm``, a little wider than the search window, as TSG does for its scalars): the upper
convex hull of the spectrum over that range is divided out, so a neighbouring feature or the overall slope of
the spectrum does not shift the minimum. A full-range hull would let a deep feature nearby (the 1900 nm water
band, a carbonate 2340 nm feature) lift or tilt the local continuum and move the minimum of a weak feature;
the local hull keeps each scalar about its own feature.

Within the search window ``lo_nm``-``hi_nm`` of the continuum-removed spectrum (CR):

* **wavelength**: the deepest band, refined to sub-band precision by a Gaussian fit: a weighted least-squares
  parabola through ``log(1 - CR)`` of the bands around the minimum (within ``fit_half_width_nm`` of it and
  deeper than half of the minimum's depth; at least the two neighbours). A Gaussian absorption in ``1 - CR`` is
  a parabola in ``log(1 - CR)``, so a Gaussian feature is located exactly whatever the band spacing; where the
  log fit is not concave the 3-point quadratic of CR is used instead. On a strongly asymmetric feature the
  fitted minimum leans toward the broader side (about half a band for a 1:2.5 asymmetry on a 5.6 nm grid);
  a smaller ``fit_half_width_nm`` reduces this at the cost of noise.
* **depth**: ``1 - CR`` at the fitted minimum (never less than at the deepest band); a feature counts when this
  depth reaches ``min_depth``.
* **width_nm**: full width at half depth: the distance between the points left and right of the minimum
  where CR climbs back to ``1 - depth / 2`` (linear interpolation between bands, searched over the hull range).
* **asymmetry**: ``(right half-width - left half-width) / width``, in [-1, 1]; positive when the long-wavelength
  shoulder is the broader one.

A scalar is NaN when there is no feature: the depth is below ``min_depth``, the deepest band is on the edge of
the search window (the feature lies outside it), a band of the hull range is NaN, or (width and asymmetry only)
CR does not climb back to half depth inside the hull range.

All functions work on the last axis of arrays of any shape (band-last), wavelengths in nm.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError
from ..core.units import check_wavelengths
from .._numba import jit, parallel_rows
from ..preprocess.continuum import _hull_row

__all__ = ["FeatureWindow", "DEFAULT_WINDOWS", "FEATURE_QUANTITIES", "check_windows_cover", "extract_features",
           "feature_names", "parse_windows", "windows_to_spec"]

FEATURE_QUANTITIES = ("wavelength_nm", "depth", "width_nm", "asymmetry")
"""Suffixes of the scalars computed for each window, in output order."""


@dataclass(frozen=True)
class FeatureWindow:
    """One absorption feature to measure.

    Attributes
    ----------
    name : short id used as the prefix of the scalar names (``f2200`` -> ``f2200_wavelength_nm``)
    lo_nm, hi_nm : the search window (nm): the feature's minimum must lie strictly inside it
    hull_lo_nm, hull_hi_nm : the range (nm) over which the local continuum (upper convex hull) is fitted;
        default: the search window widened by 60 nm on each side
    """

    name: str
    lo_nm: float
    hi_nm: float
    hull_lo_nm: float | None = None
    hull_hi_nm: float | None = None

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(self.name)):
            raise InputError(f"feature window name {self.name!r} must be letters, digits and '_' "
                             "(it becomes a dataset name)")
        lo, hi = float(self.lo_nm), float(self.hi_nm)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"feature window {self.name}: want lo_nm < hi_nm, got {lo:g}-{hi:g} nm")
        hlo = lo - 60.0 if self.hull_lo_nm is None else float(self.hull_lo_nm)
        hhi = hi + 60.0 if self.hull_hi_nm is None else float(self.hull_hi_nm)
        if not (hlo <= lo and hhi >= hi):
            raise InputError(f"feature window {self.name}: the hull range {hlo:g}-{hhi:g} nm must contain the "
                             f"search window {lo:g}-{hi:g} nm")
        object.__setattr__(self, "name", str(self.name))
        for k, v in (("lo_nm", lo), ("hi_nm", hi), ("hull_lo_nm", hlo), ("hull_hi_nm", hhi)):
            object.__setattr__(self, k, v)


DEFAULT_WINDOWS: tuple[FeatureWindow, ...] = (
    FeatureWindow("f1900", 1880.0, 1960.0, 1800.0, 2080.0),    # H2O (molecular water)
    FeatureWindow("f2160", 2150.0, 2185.0, 2100.0, 2280.0),    # short-wavelength side of the kaolinite doublet
    FeatureWindow("f2200", 2180.0, 2228.0, 2100.0, 2280.0),    # AlOH (white mica, kaolinite, smectite)
    FeatureWindow("f2250", 2235.0, 2270.0, 2200.0, 2290.0),    # FeOH (chlorite, epidote, jarosite)
    FeatureWindow("f2330", 2300.0, 2360.0, 2200.0, 2450.0),    # MgOH / CO3 (chlorite, talc, carbonates)
)
"""The default windows: 1900 H2O, 2160 kaolinite doublet, 2200 AlOH, 2250 FeOH, 2330 MgOH/CO3 (nm)."""


def feature_names(windows: Sequence[FeatureWindow] = DEFAULT_WINDOWS) -> list[str]:
    """The scalar names :func:`extract_features` returns for ``windows``, in order."""
    return [f"{w.name}_{q}" for w in windows for q in FEATURE_QUANTITIES]


_SPEC_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*([0-9.]+)\s*-\s*([0-9.]+)"
                      r"(?:\s*[:/]\s*([0-9.]+)\s*-\s*([0-9.]+))?\s*$")


def parse_windows(spec: str) -> tuple[FeatureWindow, ...]:
    """Windows from a text spec: comma-separated ``NAME:LO-HI`` or ``NAME:LO-HI:HULL_LO-HULL_HI`` (nm),
    e.g. ``"f2200:2180-2228:2100-2280,f2330:2300-2360"``. The word ``default`` stands for
    :data:`DEFAULT_WINDOWS`."""
    out: list[FeatureWindow] = []
    for part in str(spec).split(","):
        if not part.strip():
            continue
        if part.strip().lower() in ("default", "defaults"):
            out.extend(DEFAULT_WINDOWS)
            continue
        m = _SPEC_RE.match(part)
        if not m:
            raise InputError(f"cannot read feature window {part.strip()!r}; write NAME:LO-HI or "
                             "NAME:LO-HI:HULL_LO-HULL_HI in nm, e.g. f2200:2180-2228:2100-2280")
        name, lo, hi, hlo, hhi = m.groups()
        out.append(FeatureWindow(name, float(lo), float(hi), None if hlo is None else float(hlo),
                                 None if hhi is None else float(hhi)))
    if not out:
        raise InputError("no feature windows given; write e.g. f2200:2180-2228")
    names = [w.name for w in out]
    if len(set(names)) != len(names):
        raise InputError(f"feature window names repeat: {names}")
    return tuple(out)


def check_windows_cover(windows: Sequence[FeatureWindow], wavelengths: ArrayLike, *, min_bands: int = 1,
                        where: str | None = None) -> None:
    """Refuse (:class:`InputError`, naming ``where``) windows that lie outside the bands: fewer than ``min_bands``
    (default 1) of ``wavelengths`` (nm) inside a window's search range. Such a window would give NaN for every pixel
    without a word (asking for ``f2200`` of a VNIR cube is a mistake worth saying). A window the bands cover too
    sparsely to fit is left to the fit, which gives NaN where it cannot measure."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    for w in windows:
        n = int(np.count_nonzero((wl >= w.lo_nm) & (wl <= w.hi_nm)))
        if n < min_bands:
            have = f"{wl.min():g}-{wl.max():g} nm" if wl.size else "no bands"
            raise InputError(f"feature window {w.name} ({w.lo_nm:g}-{w.hi_nm:g} nm) holds {n} of the cube's bands "
                             f"({have}); give windows inside the cube's range", path=where)


def windows_to_spec(windows: Sequence[FeatureWindow]) -> str:
    """The text spec of ``windows`` (inverse of :func:`parse_windows`)."""
    return ",".join(f"{w.name}:{w.lo_nm:g}-{w.hi_nm:g}:{w.hull_lo_nm:g}-{w.hull_hi_nm:g}" for w in windows)


# --------------------------------------------------------------------------- compiled kernel

@numba.njit(cache=True, inline="always")
def _quad_vertex(x0, x1, x2, y0, y1, y2):
    """Vertex abscissa of the parabola through three points (any spacing); NaN if not convex upward."""
    d0 = (y1 - y0) / (x1 - x0)
    d1 = (y2 - y1) / (x2 - x1)
    a = (d1 - d0) / (x2 - x0)
    if not a > 0.0:
        return np.nan
    b = d0 - a * (x0 + x1)
    return -b / (2.0 * a)


@jit
def _feature_row(cr, wl, i0, i1, min_depth, half_nm, out):  # pragma: no cover - compiled
    """Scalars of one continuum-removed spectrum: cr (Bh,) over the hull range, wl (Bh,) nm, search bands
    i0..i1-1. Writes out (4,) = (wavelength, depth, width, asymmetry), NaN where there is no feature."""
    Bh = cr.shape[0]
    out[0] = np.nan
    out[1] = np.nan
    out[2] = np.nan
    out[3] = np.nan
    bad = False
    for b in range(Bh):
        if not math.isfinite(cr[b]):
            bad = True
            break
    if bad:
        return
    j = i0
    for b in range(i0 + 1, i1):
        if cr[b] < cr[j]:
            j = b
    if j == i0 or j == i1 - 1:
        return  # minimum on the window edge: the feature is outside the window
    d0 = 1.0 - cr[j]
    if not d0 >= 0.5 * min_depth:
        return  # far too shallow to reach min_depth even after the sub-band fit
    # --- Gaussian fit: weighted LSQ parabola through log(1 - CR) around the minimum
    lo = j - 1
    while lo - 1 >= 0 and wl[j] - wl[lo - 1] <= half_nm and 1.0 - cr[lo - 1] >= 0.5 * d0:
        lo -= 1
    hi = j + 1
    while hi + 1 < Bh and wl[hi + 1] - wl[j] <= half_nm and 1.0 - cr[hi + 1] >= 0.5 * d0:
        hi += 1
    xm = np.nan
    dfit = np.nan
    ok = True
    for b in range(lo, hi + 1):
        if not 1.0 - cr[b] > 0.0:
            ok = False
    if ok:
        # normal equations of sum w (y - c0 - c1 t - c2 t^2)^2, t = wl - wl[j], w = (1 - CR)^2
        s0 = s1 = s2 = s3 = s4 = 0.0
        r0 = r1 = r2 = 0.0
        for b in range(lo, hi + 1):
            a = 1.0 - cr[b]
            w = a * a
            t = wl[b] - wl[j]
            y = math.log(a)
            t2 = t * t
            s0 += w
            s1 += w * t
            s2 += w * t2
            s3 += w * t2 * t
            s4 += w * t2 * t2
            r0 += w * y
            r1 += w * y * t
            r2 += w * y * t2
        # solve the 3x3 symmetric system [[s0 s1 s2][s1 s2 s3][s2 s3 s4]] c = r by Cramer's rule
        det = s0 * (s2 * s4 - s3 * s3) - s1 * (s1 * s4 - s3 * s2) + s2 * (s1 * s3 - s2 * s2)
        if det != 0.0 and math.isfinite(det):
            c0 = (r0 * (s2 * s4 - s3 * s3) - s1 * (r1 * s4 - s3 * r2) + s2 * (r1 * s3 - s2 * r2)) / det
            c1 = (s0 * (r1 * s4 - r2 * s3) - r0 * (s1 * s4 - s3 * s2) + s2 * (s1 * r2 - r1 * s2)) / det
            c2 = (s0 * (s2 * r2 - s3 * r1) - s1 * (s1 * r2 - r1 * s2) + r0 * (s1 * s3 - s2 * s2)) / det
            if c2 < 0.0:
                tm = -c1 / (2.0 * c2)
                if wl[j - 1] - wl[j] <= tm <= wl[j + 1] - wl[j]:
                    xm = wl[j] + tm
                    dfit = math.exp(c0 + c1 * tm + c2 * tm * tm)
    if not math.isfinite(xm):
        xm = _quad_vertex(wl[j - 1], wl[j], wl[j + 1], cr[j - 1], cr[j], cr[j + 1])
        if not (math.isfinite(xm) and wl[j - 1] <= xm <= wl[j + 1]):
            xm = wl[j]
        dfit = d0
    depth = min(max(dfit, d0), 1.0)
    if depth < min_depth:
        return
    out[0] = xm
    out[1] = depth
    # --- full width at half depth, searched over the hull range
    level = 1.0 - 0.5 * depth
    left = np.nan
    b = j
    while b - 1 >= 0:
        if cr[b - 1] >= level:
            y0, y1 = cr[b - 1], cr[b]
            f = (level - y1) / (y0 - y1) if y0 != y1 else 0.0
            left = wl[b] + f * (wl[b - 1] - wl[b])
            break
        b -= 1
    right = np.nan
    b = j
    while b + 1 < Bh:
        if cr[b + 1] >= level:
            y0, y1 = cr[b], cr[b + 1]
            f = (level - y0) / (y1 - y0) if y1 != y0 else 0.0
            right = wl[b] + f * (wl[b + 1] - wl[b])
            break
        b += 1
    if math.isfinite(left) and math.isfinite(right) and right > left:
        width = right - left
        out[2] = width
        out[3] = ((right - xm) - (xm - left)) / width


# --------------------------------------------------------------------------- public API


@numba.njit(cache=True, parallel=True)
def _features_kernel(cr, wl, i0, i1, min_depth, half_nm, out):
    """cr (N, Bh) continuum-removed over the hull range; wl (Bh,) nm; search bands i0..i1-1 (inclusive of i0,
    exclusive of i1). Writes out[n] = (wavelength, depth, width, asymmetry), NaN where there is no feature.
    (The two-step form of :func:`_features_rows`, kept as its reference in the tests.)"""
    for n in numba.prange(cr.shape[0]):
        _feature_row(cr[n], wl, i0, i1, min_depth, half_nm, out[n])


@jit
def _features_rows(X, wl, win, dxa, dxb, min_depth, half_nm, out):  # pragma: no cover - compiled
    """All windows of every row of X (N, B) in one pass: out (N, nw, 4).

    win (nw, 4) int64 = (h0, h1, i0, i1): the hull range h0:h1 (bands of X) and the search bands i0:i1 relative
    to h0; dxa, dxb (nw, maxlen) the band spacings of each hull range (see ``hsimin.preprocess.continuum``).
    A hull range with a non-finite band, or whose end bands are not positive, gives NaN. Each row's hull
    range is copied to a float64 scratch buffer and continuum-removed there: the same numbers as
    ``remove_continuum`` over the range followed by :func:`_features_kernel`, without the per-window arrays.
    """
    N = X.shape[0]
    nw = win.shape[0]
    m = dxa.shape[1]
    buf = np.empty(m, np.float64)
    ys = np.empty(m, np.float64)
    ix = np.empty(m, np.int64)
    nan = np.nan
    for r in range(N):
        for k in range(nw):
            h0 = win[k, 0]
            h1 = win[k, 1]
            nb = h1 - h0
            o = out[r, k]
            o[0] = nan
            o[1] = nan
            o[2] = nan
            o[3] = nan
            ok = True
            for b in range(nb):
                v = np.float64(X[r, h0 + b])
                if not math.isfinite(v):
                    ok = False
                    break
                buf[b] = v
            if not ok or not (buf[0] > 0.0 and buf[nb - 1] > 0.0):
                continue
            seg = buf[:nb]
            _hull_row(seg, wl[h0:h1], dxa[k, :nb], dxb[k, :nb], 0, nb, 1, seg, ys, ix)
            _feature_row(seg, wl[h0:h1], win[k, 2], win[k, 3], min_depth, half_nm, o)


def extract_features(spectra: ArrayLike, wavelengths: ArrayLike, windows: Sequence[FeatureWindow] | Mapping | str = DEFAULT_WINDOWS,
                     *, min_depth: float = 0.02, fit_half_width_nm: float = 12.0) -> dict[str, np.ndarray]:
    """Absorption-feature scalars of every spectrum (see the module docstring for the definitions).

    Parameters
    ----------
    spectra : (..., B) reflectance (0-1); a NaN band makes the windows whose hull range it falls in NaN, and so
        does a hull range whose end bands are not positive
    wavelengths : (B,) nm, strictly increasing
    windows : FeatureWindow sequence, a text spec for :func:`parse_windows`, or a mapping
        ``name -> (lo_nm, hi_nm[, hull_lo_nm, hull_hi_nm])``; default :data:`DEFAULT_WINDOWS`
    min_depth : smallest depth (1 - CR, a fraction) counted as a feature; shallower gives NaN. The default 0.02
        sits above the depth that noise alone gives on a hull at SNR >= 200.
    fit_half_width_nm : the Gaussian fit uses bands within this distance (nm) of the deepest band

    Returns
    -------
    dict ``"{window}_{quantity}" -> (...) float32`` for quantity in ``wavelength_nm`` (nm), ``depth``
    (fraction), ``width_nm`` (nm), ``asymmetry`` (-1..1), in :func:`feature_names` order.
    """
    windows = _as_windows(windows)
    X = np.asarray(spectra)
    if X.ndim < 1:
        raise InputError("spectra must have a band axis (last axis)")
    wl = check_wavelengths(wavelengths, X.shape[-1], "wavelengths")
    lead = X.shape[:-1]
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float64)
    X2 = np.ascontiguousarray(X.reshape(-1, X.shape[-1]))
    n_rows = X2.shape[0]
    # Windows with fewer than 3 hull or search bands on this grid have no feature anywhere (all NaN).
    ranges = []
    for w in windows:
        h = np.flatnonzero((wl >= w.hull_lo_nm) & (wl <= w.hull_hi_nm))
        s = np.flatnonzero((wl[h] >= w.lo_nm) & (wl[h] <= w.hi_nm)) if h.size else h
        ranges.append((int(h[0]), int(h[-1]) + 1, int(s[0]), int(s[-1]) + 1) if s.size >= 3 and h.size >= 3
                      else None)
    live = [k for k, r in enumerate(ranges) if r is not None]
    res = np.full((n_rows, len(windows), 4), np.nan)
    if live and n_rows:
        win = np.array([ranges[k] for k in live], dtype=np.int64)
        m = int((win[:, 1] - win[:, 0]).max())
        dxa = np.zeros((len(live), m))
        dxb = np.zeros((len(live), m))
        for q, (h0, h1, _, _) in enumerate(win):
            wh = wl[h0:h1]
            dxa[q, 1:wh.size - 1] = wh[1:-1] - wh[:-2]
            dxb[q, 1:wh.size - 1] = wh[2:] - wh[:-2]
        part = res if len(live) == len(windows) else np.full((n_rows, len(live), 4), np.nan)
        parallel_rows(n_rows, lambda r0, r1: _features_rows(X2[r0:r1], wl, win, dxa, dxb, float(min_depth),
                                                             float(fit_half_width_nm), part[r0:r1]))
        if part is not res:
            res[:, live] = part
    out: dict[str, np.ndarray] = {}
    for k, w in enumerate(windows):
        for q, name in enumerate(FEATURE_QUANTITIES):
            out[f"{w.name}_{name}"] = res[:, k, q].astype(np.float32).reshape(lead)
    return out


def _as_windows(windows) -> tuple[FeatureWindow, ...]:
    if isinstance(windows, str):
        return parse_windows(windows)
    if isinstance(windows, Mapping):
        return tuple(FeatureWindow(k, *v) for k, v in windows.items())
    out = tuple(windows)
    if not out or not all(isinstance(w, FeatureWindow) for w in out):
        raise InputError("windows must be FeatureWindow objects, a mapping name -> (lo, hi[, hull_lo, hull_hi]) "
                         "or a text spec like 'f2200:2180-2228'")
    names = [w.name for w in out]
    if len(set(names)) != len(names):
        raise InputError(f"feature window names repeat: {names}")
    return out
