"""Mapping whole cubes: stream masked pixels through an estimator (or the feature extractor) block by block.

The cube is read in line blocks (:func:`hsimin.core.blocks.iter_blocks`, bounded memory whatever the cube's
size); in every block only the valid pixels (``cube.mask`` True and finite in every band used) are passed on,
as an (n, B) array, and the answers are written into (H, W) output arrays. Memory is one block plus the
outputs (a few (H, W) arrays), so a cube many times larger than the block budget maps in flat memory.

Identification prepares the library for the cube (:func:`prepare_library`): resampled to the cube's bands
(Gaussian band response when the cube has FWHM), cut to the fit range (``DEFAULT_FIT_RANGE_NM``) with the
cube's bad bands dropped, mixture and incomplete spectra removed. The same band selection is applied to
every block, so no preprocessed copy of the cube is ever made.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError, WavelengthError
from ..core.types import UNCLASSIFIED, Cube, MineralMap, SpectralLibrary
from ..preprocess import BandWindow, DropBadBands, Recipe
from .defaults import DEFAULT_FIT_RANGE_NM, IDENTIFY_METHOD_NAMES
from .matching import FeatureMatcher, SpectralAngleMapper, SpectralInformationDivergence
from .mixture import MixtureFitter
# the streaming helpers live in a module without scikit-learn (model pipelines use them too); re-exported here
from .streaming import (ProgressFn, _band_indices, features_provenance, map_cube, map_features,  # noqa: F401
                        prepare_library, select_bands)

__all__ = ["DEFAULT_FIT_RANGE_NM", "IDENTIFY_METHODS", "features_provenance", "identify_cube", "make_identifier",
           "map_cube", "map_features", "prepare_library", "select_bands"]

IDENTIFY_METHODS: dict[str, type] = {
    "sam": SpectralAngleMapper,
    "sid": SpectralInformationDivergence,
    "match": FeatureMatcher,
    "mixture": MixtureFitter,
}
"""Method names of ``hsimin identify --method`` -> estimator class."""
assert tuple(IDENTIFY_METHODS) == IDENTIFY_METHOD_NAMES  # the CLI lists the names without importing sklearn


# --------------------------------------------------------------------------- identification

def make_identifier(method: str, wavelengths: ArrayLike | None=None, **params):
    """A new, unfitted estimator for ``method`` (``sam``, ``sid``, ``match`` or ``mixture``), with its default
    thresholds unless ``params`` overrides them."""
    key = str(method).strip().lower()
    if key not in IDENTIFY_METHODS:
        raise InputError(f"unknown identification method {method!r}; choose one of {', '.join(IDENTIFY_METHODS)}")
    return IDENTIFY_METHODS[key](wavelengths=wavelengths, **params)


def _match_estimator_bands(estimator, cube: Cube, idx: np.ndarray) -> np.ndarray:
    """Cube band indices matching a pre-fitted estimator's wavelengths (or ``idx`` when the count matches)."""
    n_in = int(getattr(estimator, "n_features_in_", idx.size))
    est_wl = getattr(estimator, "wavelengths_", None)
    if est_wl is not None and getattr(estimator, "wavelengths", None) is not None:
        near = _band_indices(cube.wavelengths, est_wl, tol=0.01)
        if near is not None:
            return near
        raise WavelengthError(f"the estimator was fitted on {est_wl.size} bands ({est_wl.min():g}-{est_wl.max():g} "
                              "nm) that the cube does not have; fit it on the library resampled to the cube's bands "
                              "(pass the method name and library= to identify_cube)")
    if n_in != idx.size:
        raise WavelengthError(f"the estimator expects {n_in} bands but the cube's fit range has {idx.size}; fit it on "
                              "the cube's bands or pass the method name and library=")
    return idx


def identify_cube(cube: Cube, estimator_or_method: Any = "sam", *, library: SpectralLibrary | None = None,
                  top_k: int = 3, fit_range: Sequence[float] | None = DEFAULT_FIT_RANGE_NM,
                  include_mixtures: bool = False, full_scores: bool = False, lines: int | None = None,
                  max_bytes: int | None = None, progress: ProgressFn | None = None, **params) -> MineralMap:
    """Identify the mineral of every pixel of a cube against a spectral library.

    Parameters
    ----------
    cube : Cube in reflectance (H, W, B); masked pixels and pixels with NaN in a used band stay unclassified
    estimator_or_method : ``"sam"``, ``"sid"``, ``"match"``, ``"mixture"`` (fitted here on ``library``
        prepared for the cube), an unfitted estimator (fitted here on the prepared ``library``; a copy with
        ``wavelengths`` set to the bands used when it has that parameter and it is None), or a fitted estimator
        (used as it is; its ``wavelengths_`` must be among the cube's bands)
    library : SpectralLibrary (e.g. ``hsimin.load_library("usgs_splib07")``); needed unless the estimator is
        fitted already
    top_k : number of best classes kept per pixel (``extra['topk_labels']``, ``extra['topk_scores']``)
    fit_range : (lo, hi) nm of the bands used; None: all good bands
    include_mixtures : keep library spectra flagged as mixtures
    full_scores : also fill ``MineralMap.scores`` (H, W, K) with every class's similarity (K can be ~100:
        large for a big cube)
    lines, max_bytes : block size; memory stays about one block plus the (H, W) outputs
    progress : ``progress(lines_done, lines_total)`` after every block
    params : estimator parameters for a method name (e.g. ``max_angle=0.15``)

    Returns
    -------
    MineralMap with ``labels`` (H, W) int16 (index into ``classes``; -1 = masked, invalid or unknown),
    ``classes`` (the library's mineral names), ``confidence`` (H, W) in [0, 1] and ``extra``:
    ``topk_labels`` (H, W, k) int16, ``topk_scores`` (H, W, k) float32 similarity in [0, 1], ``distance`` (H, W)
    the best class's distance in the method's unit, ``status`` (H, W) int8 (0 classified, 1 nothing fits,
    2 aspectral, -1 masked or invalid); for ``mixture`` also ``mineral_2`` (H, W) int16 (-1 none),
    ``fraction_1``, ``fraction_2``, ``fit_error`` (H, W) float32.
    """
    idx = select_bands(cube, fit_range)
    wl = cube.wavelengths[idx]
    fwhm = None if cube.fwhm is None else cube.fwhm[idx]
    lib_info: dict[str, Any] = {}
    if isinstance(estimator_or_method, str):
        if library is None:
            raise InputError("identify_cube with a method name needs library= (e.g. "
                             "hsimin.load_library('usgs_splib07'))")
        estimator = make_identifier(estimator_or_method, wavelengths=wl, **params)
        fitted = False
    else:
        if params:
            raise InputError(f"parameters {sorted(params)} only apply with a method name; set them on the estimator")
        estimator = estimator_or_method
        fitted = hasattr(estimator, "classes_")
        if not fitted and "wavelengths" in getattr(estimator, "get_params", dict)() and \
                estimator.get_params()["wavelengths"] is None:
            from sklearn.base import clone
            estimator = clone(estimator).set_params(wavelengths=wl)   # fitted on these bands: say which they are
    if not fitted:
        if library is None:
            raise InputError("the estimator is not fitted; pass library= to fit it on the cube's bands")
        lib = prepare_library(library, wl, fwhm, include_mixtures=include_mixtures)
        estimator.fit(lib.spectra.astype(np.float32), np.asarray(lib.minerals, dtype=object))
        lib_info = {"library": library.source, "n_references": len(lib),
                    "n_classes": int(len(estimator.classes_))}
        use = idx
    else:
        use = _match_estimator_bands(estimator, cube, idx)
    classes = [str(c) for c in estimator.classes_]
    K = len(classes)
    k = max(1, min(int(top_k), K))
    is_mixture = isinstance(estimator, MixtureFitter)
    outputs: dict[str, tuple] = {
        "labels": ((), np.int16, UNCLASSIFIED),
        "confidence": ((), np.float32, 0.0),
        "topk_labels": ((k,), np.int16, UNCLASSIFIED),
        "topk_scores": ((k,), np.float32, np.nan),
        "distance": ((), np.float32, np.nan),
        "status": ((), np.int8, -1),
    }
    if is_mixture:
        outputs.update({"mineral_2": ((), np.int16, UNCLASSIFIED), "fraction_1": ((), np.float32, np.nan),
                        "fraction_2": ((), np.float32, np.nan), "fit_error": ((), np.float32, np.nan)})
    if full_scores:
        outputs["scores"] = ((K,), np.float32, np.nan)
    has_identify = hasattr(estimator, "identify")

    def run(X: np.ndarray) -> dict:
        if has_identify:
            r = estimator.identify(X, k=k)
            out = {"labels": r.index, "confidence": r.confidence, "topk_labels": r.topk_index,
                   "topk_scores": r.topk_score, "distance": r.distance, "status": r.status}
            for name in ("mineral_2", "fraction_1", "fraction_2", "fit_error"):
                if name in r.extra:
                    out[name] = r.extra[name]
        else:  # any scikit-learn classifier: predict, and predict_proba for scores when it has one
            pred = np.asarray(estimator.predict(X))
            lut = {c: i for i, c in enumerate(classes)}
            index = np.array([lut.get(str(p), -1) for p in pred], np.int64)
            out = {"labels": index, "status": np.where(index >= 0, 0, 1).astype(np.int8)}
            if hasattr(estimator, "predict_proba"):
                P = np.asarray(estimator.predict_proba(X), np.float32)
                order = np.argsort(-P, axis=1, kind="stable")[:, :k]
                out["topk_labels"] = order
                out["topk_scores"] = np.take_along_axis(P, order, axis=1)
                out["confidence"] = np.where(index >= 0, P.max(axis=1), 0.0)
        if full_scores:
            out["scores"] = estimator.class_scores(X) if hasattr(estimator, "class_scores") else \
                np.asarray(estimator.predict_proba(X), np.float32)
        return out

    res = map_cube(cube, run, outputs, bands=use, lines=lines, max_bytes=max_bytes, progress=progress)
    valid = res.pop("valid")
    labels = res.pop("labels")
    confidence = res.pop("confidence")
    scores = res.pop("scores", None)
    extra = res
    extra["status"][~valid] = -1
    params_used = {k_: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                   for k_, v in estimator.get_params().items() if k_ != "wavelengths"} \
        if hasattr(estimator, "get_params") else {}
    method = next((m for m, cls in IDENTIFY_METHODS.items() if type(estimator) is cls), type(estimator).__name__)
    steps = ([] if fit_range is None else [BandWindow(float(fit_range[0]), float(fit_range[1]))]) + [DropBadBands()]
    provenance = {
        "recipe": Recipe(steps).to_dict(),
        "method": method, "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "params": params_used, "top_k": k,
        "fit_range_nm": None if fit_range is None else [float(v) for v in fit_range],
        "bands_used": int(len(use)), "wavelength_min_nm": float(cube.wavelengths[use].min()),
        "wavelength_max_nm": float(cube.wavelengths[use].max()), **lib_info,
        "extra": {"topk_labels": "class indices of the k best classes, best first (-1: none)",
                  "topk_scores": "similarity in [0, 1] of those classes",
                  "distance": "distance of the best class in the method's unit",
                  "status": "0 classified, 1 nothing fits, 2 aspectral, -1 masked or invalid",
                  **({"mineral_2": "class index of the second mineral (-1: one mineral fits best)",
                      "fraction_1": "share a / (a + b) of the dominant mineral",
                      "fraction_2": "share of the second mineral (0 when none)",
                      "fit_error": "rms residual per feature of the chosen fit (log reflectance)"}
                     if is_mixture else {})},
    }
    produced_by = f"hsimin.classical.{type(estimator).__name__}(" + ", ".join(
        f"{k_}={v!r}" for k_, v in params_used.items()) + ")"
    return MineralMap(labels=labels, classes=classes, scores=scores, confidence=confidence, meta=cube.meta,
                      produced_by=produced_by, extra=extra, provenance=provenance, table=cube.table)
