"""The classifiers of a batch run, built once per process and band set: the interpretation workflow
(``method='unmix'``), a library matcher (``sam``, ``sid``, ``match``, ``mixture``), or a model checkpoint.

Each has ``classify(cube) -> MineralMap``, ``fused`` (True: it classifies each block of the single pass; False: a
patch or dense model that streams the whole lazy cube itself) and ``screen`` (an artefact screen to run first, for
a model without artefact classes). :func:`tray_classifier` returns the cached one for a config and a cube.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from typing import Any

import numpy as np

from ..classical.artefacts import ArtefactScreen, has_artefact_classes
from ..core.errors import HsiminError
from ..core.types import Cube, MineralMap
from .config import BatchConfig

__all__ = ["tray_classifier"]


_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


def _bands_key(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class _InterpretationClassifier:
    """The interpretation workflow (:mod:`hsimin.classical.interpretation`, ``method='unmix'``), built once for a
    band set; classifies block cubes pixel by pixel (``fused``). Its answers include the tray artefacts, aspectral and
    unknown, so it needs no separate screen."""

    fused = True
    screen = None

    def __init__(self, config: BatchConfig, wavelengths, fwhm, bad_bands):
        from ..classical.interpretation import build_interpreter
        self.config = config
        self.interpreter = build_interpreter(wavelengths, fwhm, bad_bands, ranges=("swir",), library=config.library,
                                             artefacts=config.artefacts, features=False)

    def classify(self, cube: Cube) -> MineralMap:
        from ..classical.interpretation import interpret_cube
        mm = interpret_cube(cube, interpreter=self.interpreter).maps["swir"]
        return dataclasses.replace(mm, table=None)


class _LibraryClassifier:
    """A library matcher fitted once for a band set; classifies block cubes (pixel by pixel: ``fused``). Tray
    artefacts are among its classes (``artefacts``), so it needs no separate screen."""

    fused = True
    screen = None

    def __init__(self, config: BatchConfig, wavelengths, fwhm, bad_bands):
        from ..classical.interpretation import library_matcher
        from ..classical.mapping import DEFAULT_FIT_RANGE_NM, make_identifier, prepare_library, select_bands
        from ..classical.references import reference_library
        from ..preprocess import Recipe
        from ..preprocess.resample import resample_library

        self.config = config
        self.recipe = None if config.recipe is None else Recipe.from_dict(config.recipe)
        self.source = f"{config.library} (hsimin.classical.references)"
        if self.recipe is None:   # the same matcher hsimin identify and the napari widget use
            self.estimator, _ = library_matcher(config.method, wavelengths, fwhm, bad_bands, library=config.library,
                                                artefacts=config.artefacts)
            self.n_references = int(self.estimator.n_references_)
            return
        # with a recipe: the same references, run through the recipe as the blocks will be
        wl = np.asarray(wavelengths, np.float64)
        b = self.recipe.output_bands(wl, fwhm, bad_bands)
        probe = Cube(np.zeros((1, 1, b.wavelengths.size), np.float32), b.wavelengths, fwhm=b.fwhm,
                     bad_bands=b.bad_bands)
        idx = select_bands(probe, DEFAULT_FIT_RANGE_NM)
        refs = resample_library(reference_library("core", artefacts=config.artefacts, library=config.library), wl,
                                None if fwhm is None else np.asarray(fwhm, np.float64))
        S, _ = self.recipe.apply(refs.spectra, wl, fwhm)
        from ..core.types import SpectralLibrary
        out_fwhm = None if b.fwhm is None else b.fwhm[idx]
        library = SpectralLibrary(np.asarray(S)[:, idx], b.wavelengths[idx], refs.names, refs.minerals,
                                  source=refs.source, fwhm=out_fwhm)
        prepared = prepare_library(library, b.wavelengths[idx], out_fwhm)
        est = make_identifier(config.method, wavelengths=b.wavelengths[idx])
        est.fit(prepared.spectra.astype(np.float32), np.asarray(prepared.minerals, dtype=object))
        self.estimator = est
        self.n_references = len(prepared)

    def classify(self, cube: Cube) -> MineralMap:
        from ..classical.mapping import identify_cube
        if self.recipe is not None:
            X, b = self.recipe.transform(cube.data, cube.wavelengths, cube.fwhm, cube.bad_bands)
            cube = Cube(np.asarray(X, np.float32), b.wavelengths, fwhm=b.fwhm, bad_bands=b.bad_bands,
                        mask=cube.mask, meta=cube.meta)
        mm = identify_cube(cube, self.estimator, top_k=self.config.top_k)
        prov = dict(mm.provenance)
        prov.update({"library": self.source, "n_references": self.n_references, "method": self.config.method,
                     "recipe": self.config.recipe})
        return dataclasses.replace(mm, provenance=prov)


class _ModelClassifier:
    """A model checkpoint, applied with :func:`hsimin.predict.predict_cube` and, for a model with an ``aspectral``
    class, classify's library gate (:func:`hsimin.predict.workflow.library_gate_map`).

    A pixel model is ``fused``: it classifies each block of the single pass. A patch or dense model needs its
    neighbours across block edges, so it gets the whole (lazy) cube instead and streams it itself, with its own
    halos and tiles, exactly as ``hsimin classify`` would."""

    # predict_cube's provenance holds timings and per-call counts: left out, so outputs are byte-identical
    # between runs; the tray's own counts go into the batch provenance instead.
    VOLATILE = ("seconds", "pixels_per_second", "pixels_classified", "pixels_unknown", "pixels_nonfinite",
                "lines_per_block")

    def __init__(self, config: BatchConfig, cube: Cube):
        from ..models import load_model
        self.loaded = load_model(config.model)
        self.library_gate = bool(config.library_gate)
        ps = self.loaded.patch_size
        dense = bool(getattr(self.loaded.model, "dense", False))
        self.fused = not dense and not (ps is not None and int(ps) > 1)
        knows_tray = has_artefact_classes(self.loaded.class_names)
        self.screen = (ArtefactScreen(cube.wavelengths, cube.fwhm, cube.bad_bands, self.loaded.class_names)
                       if config.artefacts and not knows_tray else None)

    def classify(self, cube: Cube) -> MineralMap:
        from ..predict import predict_cube
        from ..predict.workflow import ASPECTRAL_CLASS, library_gate_map
        mm = predict_cube(cube, self.loaded)
        prov = {k: v for k, v in mm.provenance.items() if k not in self.VOLATILE}
        if not self.library_gate:
            prov["library_gate"] = "not applied: turned off (--no-library-gate)"
        elif ASPECTRAL_CLASS in list(mm.classes):
            # the library gate of hsimin classify (hsimin.predict.workflow): aspectral and unknown decided by the
            # library path's SWIR answer, so a tray mapped here and a cube mapped by classify agree
            try:
                mm, _ = library_gate_map(mm, cube)
            except HsiminError as exc:   # no SWIR diagnostic bands: the model's own answers stand
                prov["library_gate"] = f"not applied: {exc}"
            else:
                # the answer that decided, not this block's counts (they differ block by block)
                prov["library_gate"] = {"answer": mm.provenance["library_gate"]["answer"]}
        return dataclasses.replace(mm, provenance=prov)


def tray_classifier(config: BatchConfig, cube: Cube):
    """The classifier for this config and band set, built once per process."""
    if config.model is not None:
        key = "model:" + json.dumps([config.classifier_id or {"path": config.model}, config.artefacts,
                                     config.library_gate],
                                    sort_keys=True) + _bands_key(cube.wavelengths, cube.fwhm, cube.bad_bands)
    else:
        key = "library:" + json.dumps([config.library, config.method, config.artefacts, config.recipe,
                                        config.classifier_id], sort_keys=True, default=str) + \
              _bands_key(cube.wavelengths, cube.fwhm, cube.bad_bands)
    with _CACHE_LOCK:
        clf = _CACHE.get(key)
        if clf is None:
            if config.model is not None:
                clf = _ModelClassifier(config, cube)
            elif config.method == "unmix":
                clf = _InterpretationClassifier(config, cube.wavelengths, cube.fwhm, cube.bad_bands)
            else:
                clf = _LibraryClassifier(config, cube.wavelengths, cube.fwhm, cube.bad_bands)
            if len(_CACHE) > 8:
                _CACHE.clear()
            _CACHE[key] = clf
    return clf
