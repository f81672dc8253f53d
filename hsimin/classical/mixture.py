"""A TSA-like fit of one or two library minerals to every spectrum.

Spectra and references become the continuum-removed, window-weighted feature vectors of
:class:`~hsimin.classical.FeatureMatcher` (default ``continuum="window"``: log reflectance with a straight
continuum projected out of each diagnostic window). Every spectrum's vector ``y`` is fitted as a non-negative
combination of one or two reference vectors, ``y ~ a r1 + b r2`` with ``a, b >= 0``. In log reflectance the
absorptions of an intimate mixture add (Beer-Lambert), so ``a / (a + b)`` estimates the share of the first
mineral relative to its reference; no offset term is needed because the continuum is projected out.

* **singles**: every reference alone (closed form: ``a = max(0, y.r / r.r)``);
* **pairs**: for each of the ``top_m`` best single classes (its best reference ``r1``), the ``top_second``
  classes whose best reference explains most of what ``r1`` leaves unexplained (one matching-pursuit step)
  are tried as the second mineral, by closed-form two-variable non-negative least squares, vectorised over
  pixels. A pair whose unconstrained solution has a non-positive coefficient is a single, counted already.
  Once a pair of minerals wins, every reference of the one is tried with every reference of the other
  (``refine``), since a mineral's references differ in grain size and purity.

A pair replaces the best single only if it earns its extra mineral: its residual sum of squares must be
below ``(1 - min_pair_gain)`` times the single's (a relative gain, for library mismatch, which dominates on real
spectra) **and** below the single's minus ``pair_penalty * sigma**2`` with ``sigma = 1 / snr`` the relative
noise of a band (an absolute gain over what fitting noise with one more mineral gives). Both criteria are
folded into one penalised score, so the answer and ``class_distances`` agree: ``score(single) = rss``,
``score(pair) = max(rss / (1 - min_pair_gain), rss + pair_penalty * sigma**2)``, credited to the pair's dominant
class, and the distance is ``sqrt(score / (y . y))``: the relative misfit, 0 for a perfect fit, 1 for none (for
a single it is the sine of the angle between ``y`` and ``r1``).

Reported per spectrum: the dominant mineral (the larger coefficient), the second mineral (or none), both
fractions (``a / (a + b)``, ``b / (a + b)``) and the error of fit (rms of the residual per feature, in log
reflectance). 'unknown' when the relative misfit exceeds ``max_error`` or the spectrum is aspectral (no
absorption deeper than ``min_feature_depth``, hull quotient, inside the windows).

Tuned on real spectra (``benchmarks/identify_accuracy.py`` and ``tests/classical/test_mixture.py``): with
``min_pair_gain=0.5`` the dominant mineral of pure held-out samples is as accurate as FeatureMatcher's answer,
and both minerals of two-mineral intimate mixtures of real spectra are found in most cases.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from .matching import _FeatureSpace, _LibraryMatcher

__all__ = ["MixtureFitter"]


class MixtureFitter(_FeatureSpace, _LibraryMatcher):
    """Fit each spectrum with one or two library minerals (non-negative least squares on continuum-removed
    feature vectors); see the module docstring for the method.

    Parameters
    ----------
    wavelengths : (B,) nm or None (then one window spans every band, against band index)
    windows : ``(lo_nm, hi_nm, weight)`` triples; default :data:`~hsimin.classical.DEFAULT_MATCH_WINDOWS`
    continuum : ``"window"``, ``"hull"`` or ``"none"``, as in :class:`~hsimin.classical.FeatureMatcher`
    top_m : number of best single classes tried as the first mineral of a pair
    top_second : for each, number of classes tried as the second mineral (``top_m * top_second`` pairs)
    snr : signal-to-noise ratio of the data, sets the noise floor ``sigma = 1 / snr`` of a band
    pair_penalty : extra misfit a pair must remove, in units of ``sigma**2``
    min_pair_gain : fraction of the best single's residual sum of squares a pair must remove (0-1)
    max_error : relative rms misfit (0-1) above which the answer is 'unknown'; None: never unknown
    min_feature_depth : depth (1 - CR) that some band must exceed, else 'aspectral'; None: not tested
    refine : once a pair of minerals is chosen, try every reference of the one with every reference of the
        other and keep the best non-negative pair (better fractions when a mineral has references of several
        grain sizes and samples)
    unknown_label : the label answered for unknown and aspectral spectra

    Attributes
    ----------
    classes_, references_ (N, F) reference feature vectors sorted by class, reference_class_, class_starts_,
    gram_ (N, N) reference inner products, transform_ / band_index_ / band_sqrt_weight_ (the feature space)
    """

    def __init__(self, wavelengths=None, windows=None, continuum: str = "window", top_m: int = 5,
                 top_second: int = 5, snr: float = 100.0, pair_penalty: float = 25.0, min_pair_gain: float = 0.5,
                 max_error: float | None = 0.95, min_feature_depth: float | None = 0.01, refine: bool = True,
                 unknown_label: str = "unknown"):
        self.wavelengths = wavelengths
        self.windows = windows
        self.continuum = continuum
        self.top_m = top_m
        self.top_second = top_second
        self.snr = snr
        self.pair_penalty = pair_penalty
        self.min_pair_gain = min_pair_gain
        self.max_error = max_error
        self.min_feature_depth = min_feature_depth
        self.refine = refine
        self.unknown_label = unknown_label

    # ---- preparation (shared with FeatureMatcher: weighted continuum-removed feature vectors)
    def _fit_setup(self):
        if not (0.0 <= float(self.min_pair_gain) < 1.0):
            raise InputError(f"min_pair_gain must be in [0, 1), got {self.min_pair_gain}")
        if not float(self.snr) > 0:
            raise InputError(f"snr must be > 0, got {self.snr}")
        if int(self.top_m) < 1 or int(self.top_second) < 0:
            raise InputError(f"top_m must be >= 1 and top_second >= 0, got {self.top_m} and {self.top_second}")
        self._feature_setup()

    def _prepare(self, X):
        return self._features(X)

    def _fit_extra(self, prepared):
        self.gram_ = prepared @ prepared.T

    # ---- the fit
    def _noise_floor(self) -> float:
        return float(self.pair_penalty) / float(self.snr) ** 2

    def _fit_chunk(self, P: np.ndarray):
        """Best single per class and best pairs for one chunk of prepared spectra P (n, F).

        Returns (D (n, K) class distances, info dict with the chosen model per spectrum)."""
        P = np.asarray(P, dtype=np.float64)
        n = P.shape[0]
        K = len(self.classes_)
        R = self._references(np.float64)
        rr = np.diag(self.gram_)
        yy = np.einsum("ij,ij->i", P, P)
        G = P @ R.T                                                 # (n, N)
        with np.errstate(divide="ignore", invalid="ignore"):
            a1 = np.where(rr > 0, np.maximum(G, 0.0) / rr, 0.0)      # (n, N) single coefficients
        rss1 = np.maximum(yy[:, None] - a1 * np.maximum(G, 0.0), 0.0)
        # best single reference of each class
        starts = self.class_starts_
        best_rss = np.minimum.reduceat(rss1, starts, axis=1)         # (n, K)
        best_ref = np.empty((n, K), np.int64)
        ends = np.r_[starts[1:], rss1.shape[1]]
        for c in range(K):
            best_ref[:, c] = starts[c] + np.argmin(rss1[:, starts[c]:ends[c]], axis=1)
        score = best_rss.copy()                                      # penalised score per dominant class
        # model chosen per spectrum: start with the best single
        c1 = np.argmin(best_rss, axis=1)
        rows = np.arange(n)
        chosen_score = best_rss[rows, c1]
        ref1 = best_ref[rows, c1]
        ref2 = np.full(n, -1, np.int64)
        coef1 = a1[rows, ref1]
        coef2 = np.zeros(n)
        rss_chosen = chosen_score.copy()
        M1 = min(int(self.top_m), K)
        M2 = min(int(self.top_second), K - 1)
        if M1 >= 1 and M2 >= 1:
            gain = 1.0 / (1.0 - float(self.min_pair_gain))
            floor = self._noise_floor()
            first = np.argpartition(best_rss, M1 - 1, axis=1)[:, :M1] if M1 < K else np.tile(np.arange(K), (n, 1))
            for i in range(M1):
                r1 = best_ref[rows, first[:, i]]
                # the second candidates: the classes that best explain what the first leaves unexplained
                resid = P - a1[rows, r1][:, None] * R[r1]
                Ge = resid @ R.T
                gain2 = np.where(rr > 0, np.maximum(Ge, 0.0) ** 2 / np.where(rr > 0, rr, 1.0), 0.0)
                best_gain = np.maximum.reduceat(gain2, starts, axis=1)
                best_gain[rows, first[:, i]] = -np.inf                # not the first mineral again
                second = np.argpartition(-best_gain, M2 - 1, axis=1)[:, :M2] if M2 < K else \
                    np.tile(np.arange(K), (n, 1))
                for j in range(second.shape[1]):
                    c2 = second[:, j]
                    r2 = np.argmax(np.where(self.reference_class_[None, :] == c2[:, None], gain2, -np.inf), axis=1)
                    g1, g2 = G[rows, r1], G[rows, r2]
                    a11, a22, a12 = rr[r1], rr[r2], self.gram_[r1, r2]
                    det = a11 * a22 - a12 * a12
                    with np.errstate(divide="ignore", invalid="ignore"):
                        a = (g1 * a22 - g2 * a12) / det
                        b = (g2 * a11 - g1 * a12) / det
                    # both coefficients clearly positive (a pair with a ~0 member is a single, counted already)
                    tiny = 1e-9 * np.maximum(np.abs(a), np.abs(b))
                    ok = (det > 1e-12 * a11 * a22) & (a > tiny) & (b > tiny) & (c2 != first[:, i])
                    rss2 = np.where(ok, np.maximum(yy - (a * g1 + b * g2), 0.0), np.inf)
                    s2 = np.maximum(rss2 * gain, rss2 + floor)
                    # the dominant member (larger coefficient) takes the pair's score
                    dom_first = a >= b
                    dom_ref = np.where(dom_first, r1, r2)
                    dom_cls = self.reference_class_[dom_ref]
                    score[rows, dom_cls] = np.minimum(score[rows, dom_cls], s2)
                    better = ok & (s2 < chosen_score)
                    if better.any():
                        chosen_score = np.where(better, s2, chosen_score)
                        rss_chosen = np.where(better, rss2, rss_chosen)
                        ref1 = np.where(better, dom_ref, ref1)
                        ref2 = np.where(better, np.where(dom_first, r2, r1), ref2)
                        coef1 = np.where(better, np.where(dom_first, a, b), coef1)
                        coef2 = np.where(better, np.where(dom_first, b, a), coef2)
            if self.refine:
                self._refine_pairs(P, G, yy, ref1, ref2, coef1, coef2, rss_chosen, chosen_score, score, gain, floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            D = np.where(yy[:, None] > 0, np.sqrt(score / yy[:, None]), 1.0)
        np.minimum(D, 1.0, out=D)
        tot = coef1 + np.where(ref2 >= 0, coef2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(tot > 0, coef1 / tot, 1.0)
        wsum = float(P.shape[1])
        info = {
            "mineral_2": np.where(ref2 >= 0, self.reference_class_[np.maximum(ref2, 0)], -1).astype(np.int16),
            "fraction_1": f1.astype(np.float32),
            "fraction_2": np.where(ref2 >= 0, 1.0 - f1, 0.0).astype(np.float32),
            "fit_error": np.sqrt(rss_chosen / wsum).astype(np.float32),
            "reference_1": ref1, "reference_2": ref2,
        }
        return D, info

    def _refine_pairs(self, P, G, yy, ref1, ref2, coef1, coef2, rss_chosen, chosen_score, score, gain, floor):
        """For spectra answered by a pair of classes, try every reference of the one class with every reference
        of the other (a mineral has references of several grain sizes and samples; the candidate search picked
        one of each) and keep the best non-negative pair. Updates the arrays in place."""
        rr = np.diag(self.gram_)
        has = np.flatnonzero(ref2 >= 0)
        if not has.size:
            return
        starts = self.class_starts_
        ends = np.r_[starts[1:], len(self.reference_class_)]
        c1 = self.reference_class_[ref1[has]]
        c2 = self.reference_class_[ref2[has]]
        lo, hi = np.minimum(c1, c2), np.maximum(c1, c2)
        for key in np.unique(lo * len(starts) + hi):
            ca, cb = divmod(int(key), len(starts))
            rows = has[(lo == ca) & (hi == cb)]
            ia = np.arange(starts[ca], ends[ca])
            ib = np.arange(starts[cb], ends[cb])
            g1 = G[np.ix_(rows, ia)][:, :, None]                 # (m, na, 1)
            g2 = G[np.ix_(rows, ib)][:, None, :]                 # (m, 1, nb)
            a11 = rr[ia][None, :, None]
            a22 = rr[ib][None, None, :]
            a12 = self.gram_[np.ix_(ia, ib)][None]
            det = a11 * a22 - a12 * a12
            with np.errstate(divide="ignore", invalid="ignore"):
                a = (g1 * a22 - g2 * a12) / det
                b = (g2 * a11 - g1 * a12) / det
            tiny = 1e-9 * np.maximum(np.abs(a), np.abs(b))
            ok = (det > 1e-12 * a11 * a22) & (a > tiny) & (b > tiny)
            rss = np.where(ok, np.maximum(yy[rows, None, None] - (a * g1 + b * g2), 0.0), np.inf)
            flat = rss.reshape(len(rows), -1)
            k = np.argmin(flat, axis=1)
            best = flat[np.arange(len(rows)), k]
            improve = best < rss_chosen[rows]
            if not improve.any():
                continue
            rows, k, best = rows[improve], k[improve], best[improve]
            ka, kb = np.unravel_index(k, (ia.size, ib.size))
            av = a.reshape(a.shape[0], -1)[improve, k]
            bv = b.reshape(b.shape[0], -1)[improve, k]
            ra, rb = ia[ka], ib[kb]
            dom_a = av >= bv
            ref1[rows] = np.where(dom_a, ra, rb)
            ref2[rows] = np.where(dom_a, rb, ra)
            coef1[rows] = np.where(dom_a, av, bv)
            coef2[rows] = np.where(dom_a, bv, av)
            rss_chosen[rows] = best
            s2 = np.maximum(best * gain, best + floor)
            chosen_score[rows] = np.minimum(chosen_score[rows], s2)
            dom_cls = self.reference_class_[ref1[rows]]
            score[rows, dom_cls] = np.minimum(score[rows, dom_cls], s2)

    def _class_distances_chunk(self, P):
        return self._fit_chunk(P)[0]

    def _chunk_result(self, X, P):
        D, info = self._fit_chunk(P)
        return D, {k: info[k] for k in ("mineral_2", "fraction_1", "fraction_2", "fit_error")}

    def _similarity(self, d):
        return np.clip(1.0 - d, 0.0, 1.0)

    def _threshold(self):
        return None if self.max_error is None else float(self.max_error)

    def _aspectral(self, X, P):
        if self.min_feature_depth is None:
            return None
        return self._max_depth(X) < float(self.min_feature_depth)

    def fit_mixture(self, X) -> dict:
        """The chosen one- or two-mineral model of every spectrum.

        Returns a dict of (n,) arrays: ``mineral_1``, ``mineral_2`` (class names; ``''`` where one mineral fits
        best), ``fraction_1``, ``fraction_2`` (``a / (a + b)`` and ``b / (a + b)``, summing to 1),
        ``fit_error`` (rms residual per feature), ``reference_1``, ``reference_2`` (indices into the references
        in the order given to ``fit``; -1 for none). Thresholds do not apply here: this is the fit itself.
        """
        X = self._validate(X)
        parts = []
        for s in range(0, X.shape[0], 4096):
            parts.append(self._fit_chunk(self._prepare(X[s:s + 4096]))[1])
        info = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {
            k: np.empty(0) for k in ("mineral_2", "fraction_1", "fraction_2", "fit_error", "reference_1",
                                     "reference_2")}
        ref1 = info["reference_1"].astype(np.int64)
        ref2 = info["reference_2"].astype(np.int64)
        names = np.asarray(self.classes_, dtype=object)
        out = {
            "mineral_1": names[self.reference_class_[ref1]] if ref1.size else np.empty(0, object),
            "mineral_2": np.where(ref2 >= 0, names[self.reference_class_[np.maximum(ref2, 0)]] if ref2.size
                                  else np.empty(0, object), ""),
            "fraction_1": info["fraction_1"], "fraction_2": info["fraction_2"], "fit_error": info["fit_error"],
            "reference_1": np.where(ref1 >= 0, self.reference_order_[np.maximum(ref1, 0)], -1),
            "reference_2": np.where(ref2 >= 0, self.reference_order_[np.maximum(ref2, 0)], -1),
        }
        return out
