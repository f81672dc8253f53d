"""The one interpretation workflow: a cube (or a block of it) in, TSA-like answers per pixel out.

``hsimin identify``, ``hsimin batch`` (library path) and the napari map widget all call :func:`interpret_cube` (or
:class:`Interpreter` on blocks); none keeps mapping logic of its own, so a better default reaches all of them.

Per pixel, from one streamed pass over the cube:

* **SWIR**: Min1 and Min2 (vocabulary names, with weights), the error and R² of the fit, ``aspectral`` when no
  diagnostic feature is deep enough for the pixel's noise, ``unknown`` when the features are not explained, and
  tray artefacts (wood, plastic, cardboard) as answers of their own (:mod:`hsimin.classical.swir`);
* **VNIR** (when the cube has bands over 750-1050 nm): Min1 (goethite, hematite, jarosite..., or ``aspectral``)
  and the ferric band position (:mod:`hsimin.classical.vnir`);
* **scalars**: the 1900 nm water depth and the 2160/2200/2250/2330 nm feature positions and depths
  (:mod:`hsimin.classical.features`).

The answers come back as :class:`~hsimin.core.MineralMap` objects: ``maps["swir"]`` (classes: the reference
minerals, then ``aspectral`` and ``unknown``; ``extra``: ``min2`` (index into the same classes, -1 none),
``wt1``, ``wt2``, ``error``, ``r2``, ``depth``, ``noise``, ``shift_nm``, ``status``) and ``maps["vnir"]``
(classes: the VNIR minerals, then ``aspectral``; ``extra``: ``wt1``, ``ferric_nm``, ``status``), plus the scalar
maps. ``primary`` names the one an output file's default map is. Labels are -1 only where the pixel is masked or
has no data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError, WavelengthError
from ..core.types import UNCLASSIFIED, Cube, MineralMap
from .swir import ASPECTRAL, STATUS_ASPECTRAL, STATUS_OK, STATUS_UNKNOWN, UNKNOWN, SwirInterpreter
from .vnir import VnirInterpreter

__all__ = ["DEFAULT_RANGE", "Interpretation", "Interpreter", "RANGES", "answers_summary", "build_interpreter",
           "interpret_cube", "library_matcher", "map_minerals", "swir_aspectral", "swir_status", "swir_status_cube"]

RANGES = ("swir", "vnir")
DEFAULT_RANGE = "swir"

ProgressFn = Callable[[int, int], Any]

_CACHE: dict[str, "Interpreter"] = {}


@dataclass
class Interpreter:
    """The SWIR and VNIR interpreters for one band set (either may be None when the bands do not cover it).

    Build with :func:`build_interpreter` (cached per band set and options); call :meth:`answer` on (n, B)
    reflectance."""

    swir: SwirInterpreter | None
    vnir: VnirInterpreter | None
    windows: tuple = ()
    wavelengths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    options: dict = field(default_factory=dict)

    @property
    def swir_classes(self) -> tuple[str, ...]:
        return () if self.swir is None else tuple(self.swir.classes) + (ASPECTRAL, UNKNOWN)

    @property
    def vnir_classes(self) -> tuple[str, ...]:
        return () if self.vnir is None else tuple(self.vnir.classes) + (ASPECTRAL,)

    def answer(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Per-pixel answers of spectra (n, B): the keys of :func:`output_layout`."""
        X = np.asarray(X, np.float32)
        out: dict[str, np.ndarray] = {}
        if self.swir is not None:
            r = self.swir.interpret(X)
            K = len(self.swir.classes)
            lab = r.min1.copy()
            lab[r.status == STATUS_ASPECTRAL] = K
            lab[r.status == STATUS_UNKNOWN] = K + 1
            ok = r.status == STATUS_OK
            out.update({"swir_labels": lab.astype(np.int16), "swir_min1": r.min1.astype(np.int16),
                        "swir_min2": np.where(ok, r.min2, -1).astype(np.int16),
                        "swir_wt1": np.where(ok, r.wt1, 0).astype(np.float32),
                        "swir_wt2": np.where(ok, r.wt2, 0).astype(np.float32), "swir_error": r.error,
                        "swir_r2": r.r2, "swir_depth": r.depth, "swir_noise": r.noise, "swir_shift_nm": r.shift_nm,
                        "swir_status": r.status,
                        "swir_confidence": np.where(ok, np.clip(r.r2, 0, 1) * r.wt1, 0).astype(np.float32)})
        if self.vnir is not None:
            v = self.vnir.interpret(X)
            K = len(self.vnir.classes)
            lab = np.where(v.status == STATUS_OK, v.min1, K)
            out.update({"vnir_labels": lab.astype(np.int16), "vnir_wt1": np.where(v.status == STATUS_OK, v.wt1, 0)
                        .astype(np.float32), "vnir_error": v.error, "vnir_status": v.status,
                        "vnir_ferric_nm": v.extra.get("ferric_nm", np.full(len(X), np.nan, np.float32)),
                        "vnir_confidence": np.where(v.status == STATUS_OK, np.clip(v.r2, 0, 1) * v.wt1, 0)
                        .astype(np.float32)})
        if self.windows:
            from .features import extract_features
            f = extract_features(X, self.wavelengths, self.windows)
            out.update({"feature/" + k: v for k, v in f.items()})
        return out

    def output_layout(self) -> dict[str, tuple]:
        """name -> (trailing shape, dtype, fill) of every per-pixel output (for :func:`map_cube`)."""
        lay: dict[str, tuple] = {}
        if self.swir is not None:
            for k in ("swir_labels", "swir_min1", "swir_min2"):
                lay[k] = ((), np.int16, UNCLASSIFIED)
            for k in ("swir_wt1", "swir_wt2", "swir_error", "swir_r2", "swir_depth", "swir_noise", "swir_shift_nm",
                      "swir_confidence"):
                lay[k] = ((), np.float32, np.nan)
            lay["swir_status"] = ((), np.int8, -1)
        if self.vnir is not None:
            lay["vnir_labels"] = ((), np.int16, UNCLASSIFIED)
            for k in ("vnir_wt1", "vnir_error", "vnir_ferric_nm", "vnir_confidence"):
                lay[k] = ((), np.float32, np.nan)
            lay["vnir_status"] = ((), np.int8, -1)
        if self.windows:
            from .features import feature_names
            for k in feature_names(self.windows):
                lay["feature/" + k] = ((), np.float32, np.nan)
        return lay

    def describe(self) -> dict:
        """JSON-able provenance: options, classes, reference counts, parameters of each range."""
        d: dict = {"method": "unmix", "options": dict(self.options)}
        for name, eng in (("swir", self.swir), ("vnir", self.vnir)):
            if eng is not None:
                d[name] = {"classes": list(eng.classes), "references": int(len(eng.R)),
                           "range_nm": list(eng.spec.range_nm), "resolution_nm": float(eng.resolution),
                           "params": {k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
                                      for k, v in eng.params.items()}}
        return d


def _key(wavelengths, fwhm, bad_bands, opts) -> str:
    import hashlib
    import json
    h = hashlib.sha256()
    for a in (wavelengths, fwhm, bad_bands):
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(opts, sort_keys=True, default=str).encode())
    return h.hexdigest()


def build_interpreter(wavelengths: ArrayLike, fwhm: ArrayLike | None=None, bad_bands: ArrayLike | None=None, *, ranges: Sequence[str] = RANGES,
                      minerals: str | Sequence[str] = "core", artefacts: bool = True, library: str = "usgs_splib07",
                      features: bool = True, exclude_samples: Sequence[str] = (), **params) -> Interpreter:
    """The :class:`Interpreter` for a band set (cached per process: the references are prepared once).

    Parameters
    ----------
    wavelengths, fwhm, bad_bands : the data's bands (bad bands are not used)
    ranges : which answers to build: ``'swir'``, ``'vnir'`` (a range the bands do not cover is skipped)
    minerals, artefacts, library, exclude_samples : the references (:func:`hsimin.classical.references
        .reference_library`)
    features : also measure the absorption-feature scalars (:data:`hsimin.classical.features.DEFAULT_WINDOWS`)
    params : parameters of the SWIR interpreter (``significance=``, ``min_r2=``...)
    """
    from .references import reference_library
    wl = np.asarray(wavelengths, np.float64)
    opts = {"ranges": list(ranges), "minerals": minerals if isinstance(minerals, str) else list(minerals),
            "artefacts": bool(artefacts), "library": str(library), "features": bool(features),
            "exclude": sorted(exclude_samples), "params": params}
    key = _key(wl, fwhm, bad_bands, opts)
    if key in _CACHE:
        return _CACHE[key]
    good = np.ones(wl.size, bool) if bad_bands is None else ~np.asarray(bad_bands, bool)
    idx = np.flatnonzero(good)
    # the interpreters see the good bands only: give them those bands' wavelengths and widths
    sub_wl = wl[idx]
    sub_fw = None if fwhm is None else np.asarray(fwhm, np.float64)[idx]
    swir = vnir = None
    reasons = []
    if "swir" in ranges:
        try:
            swir = _Banded(SwirInterpreter(reference_library(minerals, artefacts=artefacts, library=library,
                                                             exclude_samples=exclude_samples),
                                           sub_wl, sub_fw, **params), idx)
        except WavelengthError as exc:
            reasons.append(exc.message)
    if "vnir" in ranges:
        try:
            from .vnir import vnir_reference_library
            vnir = _Banded(VnirInterpreter(vnir_reference_library(library=library, exclude_samples=exclude_samples),
                                           sub_wl, sub_fw), idx)
        except WavelengthError as exc:
            reasons.append(exc.message)
    if swir is None and vnir is None:
        raise WavelengthError("; ".join(reasons) or "no range to interpret")
    windows = ()
    if features:
        from .features import DEFAULT_WINDOWS
        windows = tuple(w for w in DEFAULT_WINDOWS if w.hull_lo_nm >= wl.min() - 1 and w.hull_hi_nm <= wl.max() + 1)
    interp = Interpreter(swir, vnir, windows, wl, opts)
    if len(_CACHE) > 8:
        _CACHE.clear()
    _CACHE[key] = interp
    return interp


class _Banded:
    """An interpreter that takes all the data's bands and passes it the good ones."""

    def __init__(self, engine, idx: np.ndarray):
        self.engine, self.idx = engine, idx

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def interpret(self, X):
        return self.engine.interpret(np.asarray(X)[:, self.idx])


def swir_status(spectra: ArrayLike, wavelengths: ArrayLike, fwhm: ArrayLike | None = None,
                bad_bands: ArrayLike | None = None, *, exclude_samples: Sequence[str] = (),
                chunk: int = 20000) -> np.ndarray:
    """(n,) int8 status of the SWIR answer of spectra (n, B) of reflectance, exactly as ``hsimin identify`` decides
    it (:class:`hsimin.classical.swir.SwirInterpreter`): 0 a mineral explains the features, 1 unknown (features,
    not explained; also a non-finite or non-positive band), 2 aspectral (no diagnostic feature over 2080-2460 nm
    deep enough for the spectrum's noise)."""
    interp = build_interpreter(np.asarray(wavelengths, np.float64), fwhm, bad_bands, ranges=("swir",),
                               features=False, exclude_samples=tuple(exclude_samples))
    X = np.asarray(spectra, np.float32)
    out = np.full(len(X), STATUS_UNKNOWN, np.int8)
    for i in range(0, len(X), int(chunk)):
        out[i:i + chunk] = interp.answer(X[i:i + chunk])["swir_status"]
    return out


def swir_aspectral(spectra: ArrayLike, wavelengths: ArrayLike, fwhm: ArrayLike | None = None,
                   bad_bands: ArrayLike | None = None, *, exclude_samples: Sequence[str] = (),
                   chunk: int = 20000) -> np.ndarray:
    """(n,) bool: the SWIR answer's aspectral test (:func:`swir_status` == 2). Labels the training spectra of
    :mod:`hsimin.train.simulated`."""
    return swir_status(spectra, wavelengths, fwhm, bad_bands, exclude_samples=exclude_samples,
                       chunk=chunk) == STATUS_ASPECTRAL


def swir_status_cube(cube: Cube, *, lines: int | None = None) -> np.ndarray:
    """(H, W) int8: :func:`swir_status` of every valid pixel of ``cube`` (in ``cube.mask``, finite), streamed in
    line blocks; -1 elsewhere. Raises :class:`~hsimin.core.errors.WavelengthError` when the cube has no SWIR
    bands to interpret. The aspectral gate of :func:`hsimin.predict.classify_cube`."""
    from ..core.blocks import iter_blocks
    build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands, ranges=("swir",), features=False)  # bands ok?
    H, W, B = cube.shape
    out = np.full((H, W), -1, np.int8)
    for block in iter_blocks(cube, **({} if lines is None else {"lines": lines})):
        X = np.asarray(block.data, np.float32).reshape(-1, B)
        ok = np.isfinite(X).all(axis=1)
        if block.mask is not None:
            ok &= np.asarray(block.mask).reshape(-1)
        flat = np.full(X.shape[0], -1, np.int8)
        if ok.any():
            flat[ok] = swir_status(X[ok], cube.wavelengths, cube.fwhm, cube.bad_bands)
        out[block.rows] = flat.reshape(-1, W)
    return out


@dataclass
class Interpretation:
    """What :func:`interpret_cube` returns.

    maps : ``'swir'`` and/or ``'vnir'`` -> MineralMap (see the module docstring)
    features : scalar name -> (H, W) float32 (NaN where no feature or masked)
    primary : the key of ``maps`` that an output's default map (``/maps/mineral``) is
    """

    maps: dict
    features: dict
    primary: str
    provenance: dict

    @property
    def map(self) -> MineralMap:
        return self.maps[self.primary]

    def hdf5_maps(self) -> dict[str, MineralMap]:
        """Map name -> MineralMap as :func:`hsimin.io.hdf5.write_hdf5` writes them: the primary as ``mineral``."""
        out = {"mineral": self.maps[self.primary]}
        for k, m in self.maps.items():
            if k != self.primary:
                out[k] = m
        return out


def interpret_cube(cube: Cube, *, range: str = DEFAULT_RANGE, interpreter: Interpreter | None = None,
                   minerals: str | Sequence[str] = "core", artefacts: bool = True, library: str = "usgs_splib07",
                   features: bool = True, lines: int | None = None, max_bytes: int | None = None,
                   progress: ProgressFn | None = None, **params) -> Interpretation:
    """Interpret every pixel of a cube (see the module docstring); streams the cube in line blocks.

    Parameters
    ----------
    cube : Cube in reflectance; masked pixels and pixels with no data keep label -1
    range : ``'swir'`` or ``'vnir'``: which answer is the primary map
    interpreter : a prepared :class:`Interpreter` (default: :func:`build_interpreter` for the cube's bands)
    minerals, artefacts, library, features, params : see :func:`build_interpreter`
    lines, max_bytes, progress : block size and progress callback (:func:`hsimin.classical.streaming.map_cube`)
    """
    from .streaming import map_cube
    range = str(range).lower()
    if range not in RANGES:
        raise InputError(f"range must be one of {', '.join(RANGES)}, got {range!r}")
    interp = interpreter or build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands, minerals=minerals,
                                              artefacts=artefacts, library=library, features=features, **params)
    if getattr(interp, range) is None:
        raise WavelengthError(f"the cube ({cube.wavelengths.min():g}-{cube.wavelengths.max():g} nm) has no "
                              f"{range.upper()} bands to interpret")
    res = map_cube(cube, interp.answer, interp.output_layout(), lines=lines, max_bytes=max_bytes, progress=progress,
                   require_finite=False)
    valid = res.pop("valid")
    prov = interp.describe()
    maps: dict[str, MineralMap] = {}
    if interp.swir is not None:
        lab = res["swir_labels"]
        lab[~valid] = UNCLASSIFIED
        extra = {k[5:]: res[k] for k in ("swir_min2", "swir_wt1", "swir_wt2", "swir_error", "swir_r2", "swir_depth",
                                         "swir_noise", "swir_shift_nm", "swir_status", "swir_min1")}
        extra["status"] = np.where(valid, extra["status"], -1).astype(np.int8)
        maps["swir"] = MineralMap(labels=lab, classes=interp.swir_classes, confidence=res["swir_confidence"],
                                  meta=cube.meta, produced_by="hsimin.classical.interpretation (swir unmixing)",
                                  extra=extra, table=cube.table,
                                  provenance={**prov, "range": "swir", "extra": _SWIR_EXTRA})
    if interp.vnir is not None:
        lab = res["vnir_labels"]
        lab[~valid] = UNCLASSIFIED
        extra = {"wt1": res["vnir_wt1"], "error": res["vnir_error"], "ferric_nm": res["vnir_ferric_nm"],
                 "status": np.where(valid, res["vnir_status"], -1).astype(np.int8)}
        maps["vnir"] = MineralMap(labels=lab, classes=interp.vnir_classes, confidence=res["vnir_confidence"],
                                  meta=cube.meta, produced_by="hsimin.classical.interpretation (vnir unmixing)",
                                  extra=extra, table=cube.table,
                                  provenance={**prov, "range": "vnir", "extra": _VNIR_EXTRA})
    feats = {k[8:]: v for k, v in res.items() if k.startswith("feature/")}
    return Interpretation(maps, feats, range, prov)


_SWIR_EXTRA = {
    "min1": "class index of the best-fitting mineral, also where the answer is aspectral or unknown",
    "min2": "class index of the second mineral (-1: one mineral explains the spectrum)",
    "wt1": "weight of the answer (share of the fitted 2020-2480 nm absorbance; 0 when aspectral/unknown)",
    "wt2": "weight of the second mineral",
    "error": "rms residual of the fit, 1/1000 absorbance per weighted band",
    "r2": "share of the continuum-removed absorbance the fit explains",
    "depth": "depth of the fitted features over 2080-2460 nm (1 - CR)",
    "noise": "the pixel's noise estimate (relative)",
    "shift_nm": "wavelength shift of the best reference's features",
    "status": "0 a mineral or artefact, 1 unknown, 2 aspectral, -1 masked or no data",
}
_VNIR_EXTRA = {"wt1": "weight of the VNIR answer", "error": "rms residual of the VNIR fit",
               "ferric_nm": "position of the ferric band minimum (780-1000 nm)",
               "status": "0 a mineral, 1 unknown, 2 aspectral, -1 masked or no data"}


def answers_summary(mm: MineralMap, limit: int = 5) -> str:
    """'kaolinite 60%, smectite 30%, ...' over the pixels with a label."""
    lab = mm.labels[mm.labels >= 0]
    if not lab.size:
        return "no pixel answered"
    counts = np.bincount(lab.astype(np.int64), minlength=len(mm.classes))
    order = np.argsort(-counts, kind="stable")[:limit]
    return ", ".join(f"{mm.classes[i]} {100 * counts[i] / lab.size:.0f}%" for i in order if counts[i])



# --------------------------------------------------------------------------- every library method, one entry point

_MATCHERS: dict[str, Any] = {}


def library_matcher(method: str, wavelengths: ArrayLike, fwhm: ArrayLike | None=None, bad_bands: ArrayLike | None=None, *, minerals: str | Sequence[str] = "core",
                    artefacts: bool = True, library: str = "usgs_splib07", fit_range=None, **params):
    """A whole-spectrum library matcher (``sam``, ``sid``, ``match``, ``mixture``) fitted on the one reference
    library (:func:`hsimin.classical.references.reference_library`) resampled to these bands; cached per band set.

    Returns ``(estimator, band indices it uses)``."""
    from ..preprocess.resample import resample_library
    from .defaults import DEFAULT_FIT_RANGE_NM
    from .mapping import make_identifier
    from .references import reference_library
    from .streaming import prepare_library, select_bands
    wl = np.asarray(wavelengths, np.float64)
    fr = DEFAULT_FIT_RANGE_NM if fit_range is None else tuple(float(v) for v in fit_range)
    key = _key(wl, fwhm, bad_bands, {"method": method, "minerals": minerals if isinstance(minerals, str)
                                     else list(minerals), "artefacts": artefacts, "library": library,
                                     "fit_range": fr, "params": params})
    hit = _MATCHERS.get(key)
    if hit is not None:
        return hit
    probe = Cube(np.zeros((1, 1, wl.size), np.float32), wl, fwhm=fwhm, bad_bands=bad_bands)
    idx = select_bands(probe, fr)
    fw = None if fwhm is None else np.asarray(fwhm, np.float64)[idx]
    refs = resample_library(reference_library(minerals, artefacts=artefacts, library=library), wl[idx], fw)
    lib = prepare_library(refs, wl[idx], fw)
    est = make_identifier(method, wavelengths=wl[idx], **params)
    est.fit(lib.spectra.astype(np.float32), np.asarray(lib.minerals, dtype=object))
    est.n_references_ = len(lib)
    if len(_MATCHERS) > 8:
        _MATCHERS.clear()
    _MATCHERS[key] = (est, idx)
    return est, idx


def map_minerals(cube: Cube, method: str = "unmix", *, range: str = DEFAULT_RANGE,
                 minerals: str | Sequence[str] = "core", artefacts: bool = True, library: str = "usgs_splib07",
                 features: bool = True, mask_background: bool = False, min_albedo: float | None = None,
                 top_k: int = 3, fit_range=None, lines: int | None = None, max_bytes: int | None = None,
                 progress: ProgressFn | None = None) -> Interpretation:
    """The library path of the interpretation workflow: every method, the same references and masking.

    ``method='unmix'`` (the default) is :func:`interpret_cube`; ``sam``, ``sid``, ``match`` and ``mixture`` match
    whole spectra against the same reference library (:func:`library_matcher`) and give an Interpretation whose
    only map is the SWIR one. ``mask_background`` leaves dark, flat and saturated pixels out first
    (:func:`hsimin.preprocess.mask_cube`)."""
    import dataclasses

    from .defaults import METHOD_NAMES
    if method not in METHOD_NAMES:
        raise InputError(f"unknown identification method {method!r}; choose one of {', '.join(METHOD_NAMES)}")
    if mask_background:
        from ..preprocess import mask_cube
        core = mask_cube(cube, **({} if min_albedo is None else {"min_albedo": min_albedo}))
        cube = dataclasses.replace(cube, mask=core if cube.mask is None else (cube.mask & core))
    if method == "unmix":
        return interpret_cube(cube, range=range, minerals=minerals, artefacts=artefacts, library=library,
                              features=features, lines=lines, max_bytes=max_bytes, progress=progress)
    if range != "swir":
        raise InputError(f"range {range!r} needs method 'unmix' (the library matchers give SWIR answers)")
    from .mapping import identify_cube
    est, idx = library_matcher(method, cube.wavelengths, cube.fwhm, cube.bad_bands, minerals=minerals,
                               artefacts=artefacts, library=library, fit_range=fit_range)
    fr = None if fit_range is None else tuple(float(v) for v in fit_range)
    from .defaults import DEFAULT_FIT_RANGE_NM
    mm = identify_cube(cube, est, top_k=top_k, fit_range=fr or DEFAULT_FIT_RANGE_NM, lines=lines,
                       max_bytes=max_bytes, progress=progress)
    mm = dataclasses.replace(mm, provenance={**mm.provenance, "library": library, "minerals": minerals,
                                             "artefacts": artefacts, "n_references": est.n_references_,
                                             "range": "swir"})
    feats = {}
    if features:
        from .streaming import map_features
        feats = map_features(cube, lines=lines, max_bytes=max_bytes)
    return Interpretation({"swir": mm}, feats, "swir", dict(mm.provenance))
