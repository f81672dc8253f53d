"""SWIR interpretation: which minerals (one or two, with weights) explain a spectrum's SWIR features, or none.

What a SWIR answer must be decided by (and what it must not be)
---------------------------------------------------------------
Between 1300 and 2480 nm a core scanner sees the OH overtone near 1400 nm, sulfate and CH bands near 1480-1760 nm
and the combination bands of AlOH, FeOH, MgOH and CO3 between 2080 and 2460 nm: those identify the mineral. It
also sees molecular water near 1410-1460 and 1910-1950 nm, whose depth changes with how wet the core is, and the
broad slopes of iron and of the illumination. An answer decided by water or slope is wrong answer: a wet chip of
kaolinite matched over the whole range looks more like a featureless hydrated reference (opal, zeolite) than like
dry kaolinite. So, per spectrum:

1. **Common resolution.** The spectrum and the references are both brought to one resolution
   (``resolution_nm``, 14 nm FWHM by default, or the sensor's own if coarser), so a sharp lab feature and the same
   feature seen through a scanner's band response compare as equals.
2. **Continuum removal and absorbance.** The upper convex hull over 1300-2480 nm is divided out and the result
   taken as absorbance ``-ln(CR)``: mixtures are then close to linear sums, and brightness and slope are gone.
3. **Band weights.** Full weight over 2020-2480 nm (the combination bands), 0.7 over 1300-1880 nm (OH, sulfate,
   CH), and 0.1 in the cores of the molecular-water bands (1380-1480 and 1880-2020 nm): water still counts a
   little (it separates smectite from illite) but can never outvote the diagnostic bands.
4. **Least-squares fits, with a shift.** Every reference ``r`` (a few diverse prototypes per mineral, chosen from
   the library) is fitted as ``a r + b r'``, its first-order Taylor expansion in wavelength, so a feature moved
   by composition (phengitic white mica, Fe-Mg chlorite, the carbonate series) by up to ``max_shift_nm`` still fits
   its mineral. A mineral's score is its best prototype's residual (best of class).
5. **Two minerals.** The best mineral is paired with each of the next ``pair_candidates`` minerals (both
   coefficients non-negative); the pair is the answer when it explains at least ``pair_gain`` more of the signal
   and the second mineral weighs at least ``min_weight2``. Weights are the minerals' shares of the fitted
   absorbance in 2020-2480 nm.
6. **Aspectral** when no diagnostic feature is deep enough for the pixel's noise: the deepest feature over
   2080-2460 nm (local hull) must reach ``significance`` times the spectrum's noise, estimated from the data as
   ``sqrt(white² + floor_rel² + (floor_abs / albedo)²)``: the white noise from the band-to-band scatter of the
   spectrum itself, a relative floor (calibration, lamp drift) and an absolute floor in reflectance units that
   makes the same feature less certain on a dark sample than on a bright one.
7. **Unknown** when features are there but the fit does not explain them: the fit's coefficient of
   determination is below ``min_r2``, or below the floor of the mineral it names (the fit that 95 % of that
   mineral's simulated scanner spectra reach: :mod:`hsimin.classical.calibration`; for two minerals, the lower
   of their floors), or an absorption of more than ``max_unexplained`` of the deepest feature is left in the
   residual (a mineral the references do not hold, a polymer, a painted surface).

Tray artefacts (wood, plastic, cardboard) are references like the minerals and so answers of their own; they are
never the answer for real core because a mineral's features fit a mineral's reference better than a polymer's.
numpy only; one matrix product per chunk of spectra plus per-pixel arithmetic on (n, K) arrays.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..core.errors import InputError, WavelengthError
from ..core.types import SpectralLibrary
from .._numba import parallel_chunks, parallel_rows
from ..preprocess.continuum import remove_continuum
from ..core.vocabulary import ASPECTRAL, UNKNOWN
from .swir_kernels import _fit_kernel, _noise_kernel, _pairs_kernel, _stats_kernel

__all__ = ["ASPECTRAL", "SWIR", "SWIR_RANGE_NM", "RangeSpec", "SpectralAnswers", "SpectralUnmixer", "SwirAnswers",
           "SwirInterpreter", "UNKNOWN", "estimate_noise"]

STATUS_OK, STATUS_UNKNOWN, STATUS_ASPECTRAL = 0, 1, 2
_CHUNK = 8192


@dataclass(frozen=True)
class RangeSpec:
    """Where and how a spectral range is interpreted.

    name : ``'swir'``, ``'vnir'``
    range_nm : the bands used
    diagnostic_nm : where a feature must be significant (the depth of the fitted features there, vs the noise)
    share_nm : where the shares of two minerals are measured
    weights : ``(lo, hi, weight)`` band weights applied in order over a weight of 1 (later entries win)
    nuisance : ``(centre, FWHM)`` Gaussian absorbances projected out of spectra and references (molecular water)
    broad_nm : FWHM of the broad Gaussians (every broad_nm / 2 nm over the range) projected out too: features
        broader than about this are not diagnostic (Fe2+ bands, continuum curvature, water wings); None: none
    """

    name: str
    range_nm: tuple[float, float]
    diagnostic_nm: tuple[float, float]
    share_nm: tuple[float, float]
    weights: tuple = ()
    nuisance: tuple = ()
    broad_nm: float | None = None

    def band_weights(self, wl: np.ndarray) -> np.ndarray:
        w = np.ones(wl.size)
        for lo, hi, v in self.weights:
            w[(wl >= lo) & (wl <= hi)] = v
        return w


SWIR_RANGE_NM = (1300.0, 2480.0)
SIGNIFICANCE = 4.0
"""How many times its noise (:func:`estimate_noise`) a feature must be deep to count: the aspectral test here and
the tray-artefact screen's featureless test (:mod:`hsimin.classical.artefacts`)."""
NOISE_FLOOR_REL = 0.004
NOISE_FLOOR_ABS = 0.002
WATER_CORES_NM = ((1380.0, 1480.0), (1880.0, 2020.0))
WATER_BASIS = ((1415.0, 60.0), (1455.0, 110.0), (1440.0, 220.0), (1915.0, 70.0), (1945.0, 130.0), (1940.0, 260.0))
"""Molecular water as nuisance absorbances (centre, FWHM nm): bound water near 1415/1915, pore and adsorbed water
broader near 1455/1945, and the broad wings of very wet samples."""

SWIR = RangeSpec("swir", SWIR_RANGE_NM, (2080.0, 2460.0), (2020.0, 2480.0),
                 weights=((1300.0, 2020.0, 0.7), (1380.0, 1480.0, 0.1), (1880.0, 2020.0, 0.1)),
                 nuisance=WATER_BASIS, broad_nm=300.0)
"""The SWIR: combination bands at full weight, OH/sulfate/CH at 0.7, water cores at 0.1; water and broad features
projected out."""


@dataclass(frozen=True)
class SpectralAnswers:
    """The answers of one range for n spectra.

    min1, min2 : (n,) int64 indices into ``classes`` (``min2`` -1 when one mineral explains the spectrum); they
        are the best fit even where ``status`` is not OK (then they say what came closest)
    wt1, wt2 : (n,) float32 weights (fractions of the fitted absorbance in the range's share window, summing to 1)
    error : (n,) float32 rms residual of the fit, in 1/1000 absorbance per weighted band (lower is better)
    r2 : (n,) float32 share of the spectrum's (weighted, continuum-removed) absorbance the fit explains
    depth : (n,) float32 depth of the fitted features in the diagnostic window (1 - exp(-peak-to-peak absorbance))
    noise : (n,) float32 the spectrum's noise, relative (see :func:`estimate_noise`)
    shift_nm : (n,) float32 the best reference's fitted shift (nm)
    status : (n,) int8: 0 a mineral (or artefact), 1 unknown, 2 aspectral
    extra : further (n,) arrays a range adds (the VNIR's ``ferric_nm``)
    """

    classes: tuple
    min1: np.ndarray
    min2: np.ndarray
    wt1: np.ndarray
    wt2: np.ndarray
    error: np.ndarray
    r2: np.ndarray
    depth: np.ndarray
    noise: np.ndarray
    shift_nm: np.ndarray
    status: np.ndarray
    extra: dict = None

    def names(self, which: str = "answer") -> np.ndarray:
        """(n,) object array: ``'answer'`` (min1's name, or 'aspectral'/'unknown' by status), ``'min1'``, ``'min2'``."""
        table = np.array(list(self.classes) + [""], dtype=object)
        if which == "min2":
            return table[np.where(self.min2 >= 0, self.min2, len(self.classes))]
        m1 = table[np.where(self.min1 >= 0, self.min1, len(self.classes))]
        if which == "min1":
            return m1
        out = m1.copy()
        out[self.status == STATUS_UNKNOWN] = UNKNOWN
        out[self.status == STATUS_ASPECTRAL] = ASPECTRAL
        return out


SwirAnswers = SpectralAnswers
_ANSWER_FIELDS = ("min1", "min2", "wt1", "wt2", "error", "r2", "depth", "noise", "shift_nm", "status")


def estimate_noise(spectra: np.ndarray, wavelengths, window, *, floor_rel: float = NOISE_FLOOR_REL,
                   floor_abs: float = NOISE_FLOOR_ABS) -> tuple[np.ndarray, np.ndarray]:
    """(relative noise, albedo) of each spectrum (n, B) over ``window`` (nm).

    The white noise is read off the data: the robust scatter of second differences of ln R between neighbouring
    bands (a smooth spectrum's second difference is ~0; noise adds sqrt(6) sigma), median absolute deviation.
    To it are added, in quadrature, a relative floor and an absolute floor divided by the albedo.

    The medians of rows whose window bands are all finite (the usual case) come from a compiled quickselect, row
    by row on all cores, reading the window's bands in place; a row with a missing band takes ``np.nanmedian``.
    Both give the values of ``np.median`` / ``np.nanmedian`` of the float64 window."""
    wl = np.asarray(wavelengths, np.float64)
    sel = np.flatnonzero((wl >= window[0]) & (wl <= window[1]))
    # wavelengths increase, so the window is one run of bands: a view, no gather
    j0, j1 = (int(sel[0]), int(sel[-1]) + 1) if sel.size else (0, 0)
    R = np.asarray(np.asarray(spectra)[:, j0:j1], np.float64)
    n = R.shape[0]
    with np.errstate(all="ignore"):
        LR = np.log(np.clip(R, 1e-4, None))
    alb, mad, bad = np.empty(n), np.empty(n), np.zeros(n, bool)
    kernel = _noise_kernel()
    parallel_rows(n, lambda r0, r1: kernel(R, LR, alb, mad, bad, r0, r1), min_rows=2048)
    if bad.any():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)       # an all-NaN window: NaN, then the floors
            alb[bad] = np.nanmedian(R[bad], axis=1) if R.shape[1] else np.nan
            d2 = np.diff(LR[bad], 2, axis=1)
            mad[bad] = np.nanmedian(np.abs(d2), axis=1) if d2.shape[1] else np.nan
    white = mad / 0.6745 / np.sqrt(6.0)
    alb = np.nan_to_num(alb, nan=1e-3)
    return np.sqrt(np.nan_to_num(white) ** 2 + floor_rel ** 2 + (floor_abs / np.maximum(alb, 1e-3)) ** 2), alb


def _prototypes(D: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to k diverse rows of D (farthest-point sampling on cosine distance, from the medoid)."""
    if len(D) <= k:
        return np.arange(len(D))
    U = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    sim = U @ U.T
    first = int(np.argmax(sim.sum(axis=1)))
    chosen = [first]
    best = sim[first].copy()
    for _ in range(k - 1):
        j = int(np.argmin(best))
        chosen.append(j)
        best = np.maximum(best, sim[j])
    return np.array(sorted(chosen))


class SpectralUnmixer:
    """Answers of spectra on one band set over one spectral range (a :class:`RangeSpec`), against references.

    Parameters
    ----------
    references : SpectralLibrary of the reference spectra (vocabulary names as ``minerals``) on a fine grid (it is
        resampled here to the sensor's bands at the common resolution)
    wavelengths : (B,) nm, the sensor's bands; fwhm : (B,) nm or None (then about twice the band spacing)
    spec : the range (:data:`SWIR`, :data:`hsimin.classical.vnir.VNIR`)
    resolution_nm : common resolution both sides are brought to (the sensor's FWHM if that is coarser)
    prototypes : most reference spectra kept per mineral (diverse ones)
    min_reference_depth : a reference whose features in the share window are shallower (absorbance) is dropped
    max_shift_nm, pair_candidates, pair_gain, min_weight2, significance, floor_rel, floor_abs, min_r2,
        max_unexplained : the decisions of the module docstring
    fit_floors : ``{mineral: r2}`` floors of the fit per mineral (step 7; a mineral without one has ``min_r2``),
        or None: ``min_r2`` for every mineral
    """

    def __init__(self, references: SpectralLibrary, wavelengths, fwhm=None, *, spec: RangeSpec = SWIR,
                 resolution_nm: float = 14.0, prototypes: int = 8, min_reference_depth: float = 0.02,
                 max_shift_nm: float = 12.0, pair_candidates: int = 12, pair_gain: float = 0.03,
                 min_weight2: float = 0.2, significance: float = SIGNIFICANCE,
                 floor_rel: float = NOISE_FLOOR_REL, floor_abs: float = NOISE_FLOOR_ABS, min_r2: float = 0.45,
                 max_unexplained: float = 0.6, fit_floors: Mapping[str, float] | None = None):
        from ..preprocess.resample import resample
        self.spec = spec
        wl_all = np.asarray(wavelengths, np.float64)
        lo, hi = spec.range_nm
        sel = np.flatnonzero((wl_all >= lo) & (wl_all <= hi))
        dlo, dhi = spec.diagnostic_nm
        if sel.size < 20 or wl_all[sel].max() < dhi - 40 or wl_all[sel].min() > dlo + 20:
            raise WavelengthError(f"a {spec.name.upper()} answer needs bands over {dlo:g}-{dhi:g} nm; the data "
                                  f"cover {wl_all.min():g}-{wl_all.max():g} nm")
        self.bands = sel
        self.sensor_wavelengths = wl_all[sel]
        sensor_fwhm = None if fwhm is None else np.asarray(fwhm, np.float64)[sel]
        spacing = np.diff(self.sensor_wavelengths)
        self.native_fwhm = float(np.median(sensor_fwhm)) if sensor_fwhm is not None else \
            float(max(2.0 * np.median(spacing), 8.0))   # no FWHM given: about twice the band spacing
        self.resolution = max(float(resolution_nm), self.native_fwhm)
        # the internal grid: regular, 2.5 samples per resolution element (finer than that adds bands, not detail)
        step = max(self.resolution / 2.5, float(np.median(spacing)))
        w = np.arange(max(lo, self.sensor_wavelengths[0]), min(hi, self.sensor_wavelengths[-1]) + 1e-9, step)
        self.wavelengths = w
        self._sensor_fwhm = sensor_fwhm
        self.params = dict(max_shift_nm=max_shift_nm, pair_candidates=pair_candidates, pair_gain=pair_gain,
                           min_weight2=min_weight2, significance=significance, floor_rel=floor_rel,
                           floor_abs=floor_abs, min_r2=min_r2, max_unexplained=max_unexplained,
                           resolution_nm=self.resolution, prototypes=prototypes,
                           min_reference_depth=min_reference_depth)
        rw = np.asarray(references.wavelengths, np.float64)
        S = resample(np.asarray(references.spectra, np.float64), rw, w, np.full(w.size, self.resolution),
                     source_fwhm=None if references.fwhm is None else np.asarray(references.fwhm, np.float64))
        ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
        names = np.asarray(references.minerals, dtype=object)[ok]
        S = S[ok]
        if not len(S):
            raise InputError(f"no reference spectrum covers the {spec.name.upper()} bands of the data "
                             f"({w.min():g}-{w.max():g} nm)")
        self.sw = np.sqrt(spec.band_weights(w))
        basis = list(spec.nuisance)
        if spec.broad_nm:
            basis += [(c, spec.broad_nm) for c in np.arange(lo, hi + 1, spec.broad_nm / 2)]
        if basis:
            Wb = np.array([np.exp(-4.0 * np.log(2.0) * ((w - c) / f) ** 2) for c, f in basis]).T
            Q, _ = np.linalg.qr(Wb * self.sw[:, None])
            self._Q = Q
        else:
            self._Q = np.zeros((w.size, 0))
        D = self._absorbance(S)
        self.share = (w >= spec.share_nm[0]) & (w <= spec.share_nm[1])
        self.diagnostic = (w >= dlo) & (w <= dhi)
        self.dry = np.ones(w.size, bool)       # bands where an unexplained absorption counts
        for c, f in spec.nuisance:
            self.dry &= np.abs(w - c) > min(f, 120.0) / 2
        keep = []
        for m in dict.fromkeys(names):       # prototypes per mineral, and only references with features here
            idx = np.flatnonzero(names == m)
            strength = np.ptp((D[idx] / self.sw)[:, self.share], axis=1)
            idx = idx[strength > min_reference_depth]
            if idx.size:
                keep.extend(idx[_prototypes(D[idx], prototypes)])
        if not keep:
            raise InputError(f"no reference spectrum has a feature in {spec.share_nm[0]:g}-{spec.share_nm[1]:g} nm")
        keep = np.array(sorted(keep))
        self.R = np.ascontiguousarray(D[keep])
        names = names[keep]
        self.classes = tuple(sorted(set(names)))
        cidx = {c: i for i, c in enumerate(self.classes)}
        self.ref_class = np.array([cidx[n] for n in names], np.int64)
        floors = dict(fit_floors or {})
        # each class's r2 floor, never below the global one; index K (no second mineral) is the neutral 0
        self._r2_floor = np.array([max(float(floors.get(c, min_r2)), min_r2) for c in self.classes] + [0.0])
        self.params["fit_floors"] = {c: float(floors[c]) for c in self.classes if c in floors}
        dl = np.gradient(w)
        self.Rd = np.ascontiguousarray(np.gradient(self.R / self.sw, axis=1) / dl * self.sw)
        if self._Q.shape[1]:
            self.Rd -= (self.Rd @ self._Q) @ self._Q.T
        self.g11 = (self.R ** 2).sum(1)
        self.g12 = (self.R * self.Rd).sum(1)
        self.g22 = (self.Rd ** 2).sum(1)
        self.G = self.R @ self.R.T
        self.Gd = self.Rd @ self.R.T           # Gd[a, b] = r'_a . r_b
        self.Gdd = self.Rd @ self.Rd.T
        self._RT = np.ascontiguousarray(np.vstack([self.R, self.Rd]).T.astype(np.float32))
        self._R_share = np.ascontiguousarray(self.R[:, self.share])
        self._Rd_share = np.ascontiguousarray(self.Rd[:, self.share])

    # ---- transforms
    def _to_grid(self, X: np.ndarray) -> np.ndarray:
        """Sensor-band spectra (n, B_range) to the internal grid at the common resolution."""
        from ..preprocess.resample import resample
        src = np.full(self.sensor_wavelengths.size, self.native_fwhm) if self._sensor_fwhm is None \
            else self._sensor_fwhm
        return resample(X, self.sensor_wavelengths, self.wavelengths, np.full(self.wavelengths.size,
                                                                             self.resolution), source_fwhm=src)

    def _absorbance(self, X: np.ndarray) -> np.ndarray:
        """Weighted absorbance ``-ln(CR) * sqrt(w)`` with the molecular-water subspace projected out."""
        cr = remove_continuum(np.ascontiguousarray(X, np.float64), self.wavelengths)
        # -ln(max(CR, 1e-3)) in place, non-finite (NaN CR, an infinite one) -> 0; the same values as
        # np.nan_to_num(-np.log(np.clip(...))) at a third of the passes over the array
        A = np.clip(cr, 1e-3, None, out=cr)
        np.log(A, out=A)
        np.negative(A, out=A)
        bad = ~np.isfinite(A)
        if bad.any():
            A[bad] = 0.0
        A *= self.sw
        if self._Q.shape[1]:
            A = A - (A @ self._Q) @ self._Q.T
        return A

    # ---- answers
    def interpret(self, spectra: np.ndarray) -> SwirAnswers:
        """SWIR answers of spectra (n, B_sensor) of reflectance (the sensor's bands, as given at construction)."""
        X = np.asarray(spectra)
        if X.ndim != 2:
            raise InputError(f"spectra must be (n, bands), got shape {X.shape}")
        # chunks of _CHUNK spectra (memory stays flat), two or more in flight on a multi-core machine
        parts: dict = {}

        def run(r0: int, r1: int) -> None:
            parts[r0] = self._interpret(X[r0:r1])

        parallel_chunks(len(X), run, _CHUNK)
        parts = [parts[k] for k in sorted(parts)] or [self._interpret(X[:0])]
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        extra = {k: cat.pop(k) for k in list(cat) if k not in _ANSWER_FIELDS}
        return SpectralAnswers(classes=self.classes, **cat, extra=extra)

    def _best_pairs(self, xn2, J, D, XV, VV, candidates: int):
        """For every pixel, the best pair of two different minerals among its ``candidates`` best-fitting ones
        (each mineral by its best prototype and shift): (error, i, j, coefficient i, coefficient j), with i, j
        indices into the mineral axis (-1 where no pair has both coefficients positive). The candidates are
        ranked here (a stable sort); the pairs are solved by a compiled kernel, pixel by pixel, in the order of
        ``np.triu_indices`` (the first best pair wins)."""
        n, K = J.shape
        kc = max(2, min(int(candidates), K))
        top = np.ascontiguousarray(np.argsort(np.where(VV > 0, xn2[:, None] - XV ** 2 / np.maximum(VV, 1e-30),
                                                        np.inf), axis=1, kind="stable")[:, :kc])
        out_e, out_i, out_j = np.full(n, np.inf), np.full(n, -1), np.full(n, -1)
        out_1, out_2 = np.zeros(n), np.zeros(n)
        kernel = _pairs_kernel()
        J, D, XV, VV = (np.ascontiguousarray(a) for a in (J, D, XV, VV))
        G, Gd, Gdd = self.G, self.Gd, self.Gdd
        parallel_rows(n, lambda r0, r1: kernel(top, xn2, J, D, XV, VV, G, Gd, Gdd, out_e, out_i, out_j, out_1,
                                               out_2, r0, r1), min_rows=1024)
        return out_e, out_i, out_j, out_1, out_2

    def _interpret(self, X: np.ndarray) -> dict:
        p = self.params
        n = len(X)
        raw = np.asarray(X[:, self.bands], np.float64)
        x = self._to_grid(raw)
        xa = self._absorbance(x)
        xn2 = (xa ** 2).sum(1)
        CC = np.ascontiguousarray(xa.astype(np.float32) @ self._RT)
        K = len(self.classes)
        cls_e = np.empty((n, K))
        cls_j = np.empty((n, K), np.int64)
        cls_d = np.empty((n, K))
        cls_xv = np.empty((n, K))
        cls_vv = np.empty((n, K))
        kernel = _fit_kernel()
        g11, g12, g22, rc = self.g11, self.g12, self.g22, self.ref_class
        dmax = float(p["max_shift_nm"])
        parallel_rows(n, lambda r0, r1: kernel(CC, xn2, g11, g12, g22, rc, K, dmax, cls_e, cls_j, cls_d, cls_xv,
                                               cls_vv, r0, r1), min_rows=1024)
        order = np.argsort(cls_e, axis=1, kind="stable")
        ar = np.arange(n)
        first = order[:, 0]
        b = cls_j[ar, first]
        e1 = cls_e[ar, first]
        db = cls_d[ar, first]
        xvb, vvb = cls_xv[ar, first], cls_vv[ar, first]
        a1 = xvb / vvb
        # pairs: every two minerals (each by its best prototype and shift), both coefficients non-negative
        pe, pi, pj, s1, s2 = self._best_pairs(xn2, cls_j, cls_d, cls_xv, cls_vv, int(p["pair_candidates"]))
        gain_ok = (pj >= 0) & ((e1 - pe) / np.maximum(xn2, 1e-12) >= p["pair_gain"])
        bi = np.where(gain_ok, cls_j[ar, np.maximum(pi, 0)], b)
        di = np.where(gain_ok, cls_d[ar, np.maximum(pi, 0)], db)
        pjj = cls_j[ar, np.maximum(pj, 0)]
        pd = cls_d[ar, np.maximum(pj, 0)]
        pa1 = np.where(gain_ok, s1, a1)
        pa2 = np.where(gain_ok, s2, 0.0)
        best_pair_e = np.where(gain_ok, pe, e1)
        pj = np.where(gain_ok, pjj, -1)
        b, db = bi, di
        # the shifted references on the share window only (the sums below see the same values in the same order as
        # over the full reference's share columns); the second mineral's only where there is a pair (elsewhere
        # pa2 = 0, so w2 = 0)
        Rs, Rds = self._R_share, self._Rd_share
        w1 = pa1 * np.abs(Rs[b] + db[:, None] * Rds[b]).sum(1)
        paired = np.flatnonzero(gain_ok)
        w2 = np.zeros(n)
        w2[paired] = pa2[paired] * np.abs(Rs[pjj[paired]] + pd[paired, None] * Rds[pjj[paired]]).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = (e1 - best_pair_e) / np.maximum(xn2, 1e-12)
            frac2 = np.where(pj >= 0, w2 / (w1 + w2), 0.0)
        mix = (pj >= 0) & (gain >= p["pair_gain"]) & (np.nan_to_num(np.minimum(frac2, 1 - frac2)) >= p["min_weight2"])
        # a pair refused for its weights falls back to the best single mineral
        single = ~mix & (pj >= 0)
        if single.any():
            b = np.where(single, cls_j[ar, first], b)
            db = np.where(single, cls_d[ar, first], db)
        e_fit = np.where(mix, best_pair_e, e1)
        r2 = 1.0 - e_fit / np.maximum(xn2, 1e-12)
        # who is first: the larger share
        wt_first = np.where(mix, 1.0 - frac2, 1.0)
        c_b = self.ref_class[b]
        c_j = np.where(mix, self.ref_class[pjj], -1)
        swap = mix & (wt_first < 0.5)
        min1 = np.where(swap, c_j, c_b)
        min2 = np.where(swap, c_b, c_j)
        wt1 = np.where(swap, 1.0 - wt_first, wt_first)
        wt2 = np.where(mix, 1.0 - wt1, 0.0)
        # significance and unexplained absorption
        dsel = self.diagnostic
        # the depth of the features the minerals explain (water projected out), in the diagnostic window:
        # max - min of the fitted absorbance there, as 1 - exp(-A)
        # the fitted absorbance is a1 V1 for one mineral, pa1 V1 + pa2 V2 for a pair; the compiled pass takes from
        # it, band by band and never as an (n, bands) array, the range over the diagnostic window and the largest
        # residual over the dry bands, and the largest observed feature there
        coef1 = np.where(mix, pa1, np.maximum(a1, 0))
        coef2 = np.where(mix, pa2, 0.0)
        fit_range, res_max, feat_max = (np.zeros(n) for _ in range(3))
        if n:
            kernel = _stats_kernel()
            R, Rd, sw = self.R, self.Rd, self.sw
            diag_idx, dry_idx = np.flatnonzero(dsel), np.flatnonzero(self.dry)
            b_, db_, j_, dj_ = (np.ascontiguousarray(a) for a in (b, db, pjj, pd))
            parallel_rows(n, lambda r0, r1: kernel(xa, R, Rd, b_, db_, coef1, j_, dj_, coef2, mix, sw, diag_idx,
                                                   dry_idx, fit_range, res_max, feat_max, r0, r1), min_rows=1024)
        depth = 1.0 - np.exp(-fit_range) if dsel.any() else np.zeros(n)
        noise, _ = estimate_noise(raw, self.sensor_wavelengths, self.spec.diagnostic_nm, floor_rel=p["floor_rel"],
                                  floor_abs=p["floor_abs"])
        finite = np.isfinite(raw).all(axis=1) & (raw > 0).all(axis=1) & np.isfinite(xn2)
        status = np.full(n, STATUS_OK, np.int8)
        # the floor of the mineral named (of the two, the lower: a mixture's fit is shared between them)
        floor = self._r2_floor[min1]
        if mix.any():
            floor = np.where(mix, np.minimum(floor, self._r2_floor[min2]), floor)   # min2 -1: the neutral 0
        unexplained = (r2 < np.maximum(p["min_r2"], floor)) | (res_max > p["max_unexplained"] *
                                                               np.maximum(feat_max, 1e-9))
        status[unexplained] = STATUS_UNKNOWN
        status[~(depth >= p["significance"] * noise)] = STATUS_ASPECTRAL
        status[~finite] = STATUS_UNKNOWN
        nb = max(int(self.sw.size), 1)
        return {"min1": min1.astype(np.int64), "min2": min2.astype(np.int64), "wt1": wt1.astype(np.float32),
                "wt2": wt2.astype(np.float32), "error": (1000.0 * np.sqrt(np.maximum(e_fit, 0) / nb)).astype(np.float32),
                "r2": r2.astype(np.float32), "depth": depth.astype(np.float32), "noise": noise.astype(np.float32),
                "shift_nm": db.astype(np.float32), "status": status}


class SwirInterpreter(SpectralUnmixer):
    """:class:`SpectralUnmixer` over the SWIR (:data:`SWIR`): the SWIR Min1/Min2 answers, with the shipped
    per-mineral fit floors (:func:`hsimin.classical.calibration.default_fit_r2_floors`) unless ``fit_floors`` is
    given (None: the global ``min_r2`` only)."""

    def __init__(self, references: SpectralLibrary, wavelengths, fwhm=None, *, fit_floors="default", **params):
        if isinstance(fit_floors, str) and fit_floors == "default":
            from .calibration import default_fit_r2_floors
            fit_floors = default_fit_r2_floors()
        super().__init__(references, wavelengths, fwhm, spec=SWIR, fit_floors=fit_floors, **params)
