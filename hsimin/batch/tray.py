"""One tray, end to end: read (calibrating raw Specim captures) -> mask -> preprocess -> classify -> features
-> depth registration -> write, streaming the cube once in line blocks.

:func:`process_tray` is the unit of work of a batch run: a pure, picklable function of a :class:`TrayJob`, a
:class:`BatchConfig` and the output folder, run the same way in a local worker process or on a Dask worker. It
never raises for a bad tray: it returns a result dict with ``status`` ``'done'`` or ``'failed'`` and a one-line
``error``, so one corrupt tray never stops a session.

The cube is read once, block by block (``block_mb`` of float32 reflectance per block), by a reader thread that
fetches the next block while the current one is processed. For each block:

1. background codes (the tests of :func:`hsimin.preprocess.classify_background`: invalid, saturated, dark, and
   flat when ``min_contrast`` > 0, computed in one compiled pass) and the cube's own mask give the valid pixels;
   for a model without artefact classes, a spectral-angle screen against the ``usgs_artefacts`` spectra then
   takes the tray floor and dividers out (code 5: a black plastic tray would otherwise be called its nearest
   dark mineral and counted as core);
2. the valid pixels are classified: with a model (:func:`hsimin.predict.predict_cube`, which applies the model's
   own recipe and resamples to its wavelengths) or against a spectral library (:func:`hsimin.classical
   .identify_cube` with an estimator fitted once per band set; the library gets the tray artefact spectra of
   ``usgs_artefacts`` too, so the tray floor and dividers are named ``plastic`` instead of their nearest
   mineral; an optional ``recipe`` runs on the block and on the library alike);
3. absorption-feature scalars (:func:`hsimin.classical.map_features`) are measured on the reflectance of the
   pixels classified as minerals (only the bands the feature windows need are passed on);
4. three bands are kept, decimated, for the tray's thumbnail.

Pixel classifiers (every library method, pixel models) work block by block inside that single pass. A patch or
dense model needs neighbours across block edges, so it is given the whole lazy cube (with the valid mask) and
streams it itself, with its own halos and tiles, exactly as ``hsimin classify`` does; the features then take a
second pass.

After the pass, core = valid pixels whose class is a mineral (not an artefact, ``aspectral`` or ``unknown``);
:func:`hsimin.batch.depth.register_depth` finds the sticks in it and gives every core pixel its depth. Memory is
two blocks plus the per-pixel outputs (labels, confidence, scores, feature scalars, depth: a few tens of bytes
per pixel), whatever the cube's size.

Outputs, in ``OUT/<hole>/``: ``<tray>.hdr``/``.img`` (ENVI Classification), ``<tray>.png`` (map with legend) and,
last, ``<tray>.h5``: the map (``/maps/mineral``), ``/features/*``, ``/depth/depth_m`` and ``/depth/core``,
``/mask/codes`` (background code of every pixel, legend in the group's attributes),
``/quicklook/rgb`` (thumbnail) and ``/tray`` (job, input fingerprint, config hash, sticks and QA figures in its
attributes). The files are committed as one unit (:func:`hsimin.io.output_group`: all written to temporary files
first, then renamed, the HDF5 file last); the HDF5 file is the tray's completion mark (a re-run skips a tray whose
HDF5 file records the same input fingerprint and config hash and whose other files exist). A tray that fails has
its files removed (old ones from an earlier run too: they no longer describe a finished tray), and its result says
``disk_full`` when it failed for lack of space, so the runner stops the session instead of trying the next tray
on the same full disk.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import __version__
from ..classical.artefacts import NOT_CORE_CLASSES, has_artefact_classes
from ..classical.artefacts import ArtefactScreen as _ArtefactScreen
from ..core.errors import ConfigError, DiskFullError, HsiminError, InputError
from ..core.text import printable
from ..core.types import Cube, MineralMap, ScanMeta
from .session import TrayJob, input_fingerprint, output_dir_for

__all__ = ["BatchConfig", "NOT_CORE_CLASSES", "QA_THRESHOLDS", "config_hash", "expected_outputs",
           "outputs_complete", "process_tray", "read_tray_record", "recipe_from_file", "remove_outputs",
           "remove_partial", "stage_threads", "thread_limits"]

QA_THRESHOLDS = {
    "saturated_fraction": 0.005,   # > 0.5 % of pixels saturated: 'saturated'
    "invalid_fraction": 0.02,      # > 2 % of pixels without data (NaN, dead detector): 'invalid-pixels'
    "low_signal_albedo": 0.06,     # median albedo of core below 6 %: 'low-signal'
    "min_core_fraction": 0.05,     # core on < 5 % of the tray: 'low-signal' (lid closed, lamps off, empty tray)
    "low_confidence": 0.25,        # mean confidence of core below 0.25: 'low-confidence'
}
"""Thresholds of the per-tray QA flags (see :func:`process_tray`)."""

THUMB_MAX_SIDE = 600
ARTEFACT_CODE = 5
"""Background code of pixels the artefact screen calls tray (after hsimin.preprocess's 0 core, 1 invalid,
2 saturated, 3 dark, 4 flat)."""
MASK_LEGEND = {"0": "core candidate", "1": "invalid", "2": "saturated", "3": "dark", "4": "flat",
               "5": "tray artefact (plastic, wood, cardboard, metal)"}
TRAY_GROUP, DEPTH_GROUP, QUICKLOOK_GROUP, FEATURES_GROUP = "tray", "depth", "quicklook", "features"
MASK_GROUP = "mask"
OUTPUT_SUFFIXES = (".hdr", ".img", ".png", ".h5")


# --------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class BatchConfig:
    """Everything that decides a batch run's outputs, plus how to run it.

    Classifier (exactly one of ``model``/``library``): ``model`` a checkpoint path; ``library`` a library id
    or file with ``method`` (``sam``, ``sid``, ``match``, ``mixture``) and an optional ``recipe`` (a
    :class:`~hsimin.preprocess.Recipe` dict). ``artefacts``: recognise tray artefacts (plastic, wood, cardboard,
    metal) from the ``usgs_artefacts`` spectra: added to the library, or, for a model without artefact classes,
    used to screen the tray out before the model runs.
    ``top_k``: best classes kept per pixel (library). Masking: ``min_albedo``, ``min_contrast``,
    ``saturation`` (see :mod:`hsimin.preprocess.masking`; ``min_contrast`` 0 skips the flat test, which costs a
    continuum removal per pixel and which the classifier's artefact classes make redundant on black trays).
    Features: ``windows`` (``hsimin features --windows`` syntax), ``min_depth``. Depth: ``gaps``, ``order``
    (:mod:`hsimin.batch.depth`). ``block_mb``: block budget (MiB of float32 reflectance).

    ``threads`` (per tray; 0: the runner derives it from the cores and the session's size), ``interval_m``
    (down-hole log) and ``classifier_id`` (filled in by the runner: model hash, or library checksum) are not
    processing options; ``threads``, ``interval_m`` and ``block_mb`` stay out of :func:`config_hash`, so
    changing them never re-processes a tray (the block size never changes the outputs; the thread count may only
    change the last bits of model scores, which is why the runner gives every executor the same count).
    """

    model: str | None = None
    library: str | None = None
    method: str = "unmix"
    artefacts: bool = True
    top_k: int = 3
    recipe: dict | None = None
    min_albedo: float = 0.03
    min_contrast: float = 0.0
    saturation: float = 1.05
    windows: str = "default"
    min_depth: float = 0.02
    gaps: str = "keep"
    order: str = "default"
    block_mb: int = 64
    threads: int = 0
    interval_m: float = 1.0
    classifier_id: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.model is None) == (self.library is None):
            raise ConfigError("give either a model (--model) or a spectral library (--library), not both")
        if self.model is not None and self.recipe is not None:
            raise ConfigError("a model carries its own preprocessing recipe; --recipe applies to --library only")
        from ..classical.defaults import METHOD_NAMES
        if self.library is not None and self.method not in METHOD_NAMES:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHOD_NAMES)}")
        if self.method == "unmix" and self.recipe is not None:
            raise ConfigError("--method unmix does its own preprocessing (common resolution, continuum removal); "
                              "--recipe applies to sam, sid, match and mixture")
        from .depth import GAP_MODES, ORDERS
        if self.gaps not in GAP_MODES:
            raise ConfigError(f"gaps must be one of {', '.join(GAP_MODES)}, got {self.gaps!r}")
        if self.order not in ORDERS:
            raise ConfigError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        for name, lo in (("top_k", 1), ("block_mb", 1), ("threads", 0)):
            if int(getattr(self, name)) < lo:
                raise ConfigError(f"{name} must be >= {lo}, got {getattr(self, name)}")
        if not (math.isfinite(self.interval_m) and self.interval_m > 0):
            raise ConfigError(f"the log interval must be a positive number of metres, got {self.interval_m}")
        for name in ("min_albedo", "min_contrast", "min_depth"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {v}")
        if not float(self.min_depth) < 1:
            raise ConfigError(f"min_depth is a depth below the continuum, below 1; got {self.min_depth}")
        if not self.saturation > 0:
            raise ConfigError(f"saturation must be > 0, got {self.saturation}")
        from ..classical.features import parse_windows
        try:
            parse_windows(self.windows)
        except HsiminError as exc:
            raise ConfigError(f"feature windows: {exc}") from None
        if self.recipe is not None:
            from ..preprocess import Recipe
            Recipe.from_dict(self.recipe)  # validates

    def processing(self) -> dict:
        """The fields that decide the outputs (what :func:`config_hash` hashes)."""
        d = dataclasses.asdict(self)
        for k in ("threads", "interval_m", "block_mb"):  # outputs do not depend on these
            d.pop(k)
        return d

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recipe_from_file(path) -> dict:
    """A preprocessing recipe file (``.toml``, or ``.json`` as written by ``Recipe.to_json``) as a recipe dict
    for :attr:`BatchConfig.recipe`. Raises :class:`ConfigError` naming the file when it cannot be used."""
    from ..io.files import read_text_file
    from ..preprocess import Recipe
    p = Path(path)
    text = read_text_file(p, what="the recipe", max_bytes=2**20, error=ConfigError)   # no FIFO, no /dev/zero
    try:
        if p.suffix.lower() == ".json":
            recipe = Recipe.from_dict(json.loads(text))
        else:
            recipe = Recipe.from_toml(text)
    except (HsiminError, ValueError) as exc:
        raise ConfigError(f"not a usable recipe: {exc}", path=p) from None
    return recipe.to_dict()


def config_hash(config: BatchConfig) -> str:
    """SHA-256 of the processing options, the classifier's identity and hsimin's version."""
    text = json.dumps({"config": config.processing(), "hsimin": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------- outputs

def expected_outputs(job: TrayJob, out) -> dict[str, Path]:
    """The files a finished tray has: ``envi`` (header), ``envi_data``, ``png``, ``h5``."""
    d = output_dir_for(out, job.hole_id)
    return {"envi": d / f"{job.stem}.hdr", "envi_data": d / f"{job.stem}.img", "png": d / f"{job.stem}.png",
            "h5": d / f"{job.stem}.h5"}


def read_tray_record(h5_path) -> dict | None:
    """The ``/tray`` attributes of a tray's HDF5 output (job, fingerprint, config hash, QA), or None when the
    file is missing or unreadable."""
    p = Path(h5_path)
    if not p.is_file():
        return None
    try:
        from ..io.hdf5 import read_arrays_hdf5
        _, attrs = read_arrays_hdf5(p, TRAY_GROUP, return_attrs=True)
        return dict(attrs)
    except (HsiminError, OSError, ValueError):
        return None


def outputs_complete(job: TrayJob, out, fingerprint: list, chash: str) -> dict | None:
    """The tray's record when its outputs are complete and were made from this input with this config (a re-run
    may skip it), else None."""
    paths = expected_outputs(job, out)
    if not all(p.is_file() for p in paths.values()):
        return None
    rec = read_tray_record(paths["h5"])
    if rec is None or rec.get("config_hash") != chash or rec.get("fingerprint") != fingerprint:
        return None
    return rec


def remove_partial(job: TrayJob, out) -> int:
    """Remove temporary files (``.NAME.*.part``) an abandoned write left for this tray; returns how many."""
    from ..io.atomic import is_temp_of
    n = 0
    paths = expected_outputs(job, out)
    d = paths["h5"].parent
    try:
        entries = list(d.iterdir()) if d.is_dir() else []
    except OSError:
        return 0
    for f in entries:
        if any(is_temp_of(f.name, p) for p in paths.values()):
            with contextlib.suppress(OSError):
                f.unlink()
                n += 1
    return n


def remove_outputs(job: TrayJob, out) -> int:
    """Remove everything of a tray that failed: its temporary files and its outputs, the HDF5 completion mark first
    (files of an earlier run no longer describe a finished tray). Returns how many files were removed."""
    n = remove_partial(job, out)
    paths = expected_outputs(job, out)
    for key in ("h5", "envi", "envi_data", "png"):
        with contextlib.suppress(OSError):
            paths[key].unlink()
            n += 1
    with contextlib.suppress(OSError):
        paths["h5"].parent.rmdir()       # the hole's folder, when this tray was all it held
    return n


# --------------------------------------------------------------------------------------------- threads

@contextlib.contextmanager
def thread_limits(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl), numba and torch (if imported) to ``n`` threads inside the block.

    Results do not depend on where a tray runs as long as ``n`` is the same (the runner passes the same ``n`` to
    local workers and Dask tasks)."""
    import numba
    from threadpoolctl import threadpool_limits

    from .._numba import num_threads
    n = max(1, int(n))
    prev_numba = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    prev_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n), num_threads(n):
            yield
    finally:
        numba.set_num_threads(prev_numba)
        if torch is not None and prev_torch is not None:
            torch.set_num_threads(prev_torch)


# --------------------------------------------------------------------------------------------- classifiers

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
    """A model checkpoint, applied with :func:`hsimin.predict.predict_cube`.

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
        ps = self.loaded.patch_size
        dense = bool(getattr(self.loaded.model, "dense", False))
        self.fused = not dense and not (ps is not None and int(ps) > 1)
        knows_tray = has_artefact_classes(self.loaded.class_names)
        self.screen = (_ArtefactScreen(cube.wavelengths, cube.fwhm, cube.bad_bands, self.loaded.class_names)
                       if config.artefacts and not knows_tray else None)

    def classify(self, cube: Cube) -> MineralMap:
        from ..predict import predict_cube
        mm = predict_cube(cube, self.loaded)
        prov = {k: v for k, v in mm.provenance.items() if k not in self.VOLATILE}
        return dataclasses.replace(mm, provenance=prov)


def _classifier(config: BatchConfig, cube: Cube):
    """The classifier for this config and band set, built once per process."""
    if config.model is not None:
        key = "model:" + json.dumps([config.classifier_id or {"path": config.model}, config.artefacts],
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


# --------------------------------------------------------------------------------------------- the pass

class _Assembler:
    """(H, W, ...) arrays filled block by block from per-block results."""

    def __init__(self, H: int, W: int):
        self.H, self.W = H, W
        self.arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # two stage threads fill different arrays of one assembler

    def put(self, name: str, rows: slice, values: np.ndarray, fill=None):
        v = np.asarray(values)
        with self._lock:
            a = self.arrays.get(name)
            if a is None:
                a = np.empty((self.H, self.W) + v.shape[2:], dtype=v.dtype)
                if fill is not None:
                    a.fill(fill)
                self.arrays[name] = a
        a[rows] = v


def _read_blocks(cube: Cube, lines: int, timer: dict) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, data) line blocks of a cube; the next block is read by a helper thread while the caller works on
    this one (reading releases the GIL), so reading overlaps computing."""
    H = cube.shape[0]
    starts = list(range(0, H, lines))

    def read(r0):
        t = time.perf_counter()
        data = np.asarray(cube.data[r0:min(H, r0 + lines)], dtype=np.float32)
        timer["read"] += time.perf_counter() - t
        return slice(r0, min(H, r0 + lines)), data

    with ThreadPoolExecutor(1, thread_name_prefix="hsimin-read") as ex:
        pending = ex.submit(read, starts[0]) if starts else None
        for i in range(len(starts)):
            t = time.perf_counter()
            item = pending.result()
            timer["read_wait"] += time.perf_counter() - t
            pending = ex.submit(read, starts[i + 1]) if i + 1 < len(starts) else None
            yield item


def _stats_kernel():
    from .._numba import jit

    @jit
    def stats(X, r0, r1, n_ok, mean, peak):  # pragma: no cover - compiled
        W, B = X.shape[1], X.shape[2]
        for i in range(r0, r1):
            for j in range(W):
                s = 0.0
                n = 0
                m = -np.inf
                for b in range(B):
                    v = X[i, j, b]
                    if v == v and v != np.inf and v != -np.inf:
                        s += v
                        n += 1
                        if v > m:
                            m = v
                n_ok[i, j] = n
                mean[i, j] = s / n if n > 0 else np.nan
                peak[i, j] = m

    return stats


_STATS = None


def _pixel_stats(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finite band count, mean reflectance over finite bands, largest finite value) of every pixel of an
    (h, W, B) block, in one pass (a compiled kernel on row chunks in parallel)."""
    global _STATS
    from .._numba import parallel_rows
    if _STATS is None:
        _STATS = _stats_kernel()
    X = np.ascontiguousarray(data, dtype=np.float32)
    h, W, _ = X.shape
    n_ok = np.empty((h, W), np.int32)
    mean = np.empty((h, W), np.float64)
    peak = np.empty((h, W), np.float64)
    parallel_rows(h, lambda a, b: _STATS(X, a, b, n_ok, mean, peak), min_rows=max(1, 4096 // max(W, 1)))
    return n_ok, mean, peak


def _valid_codes(data: np.ndarray, wl, config: BatchConfig, saturation: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Background codes (:func:`hsimin.preprocess.classify_background`'s tests and order: invalid, saturated,
    dark, then flat when ``min_contrast`` > 0) and the mean reflectance of every pixel, from one pass over the
    block instead of one per test. ``saturation`` overrides ``config.saturation`` (inf: no saturation test)."""
    from ..preprocess.masking import DARK, DEFAULT_THRESHOLDS, FLAT, INVALID, SATURATED, spectral_contrast
    B = data.shape[-1]
    n_ok, mean, peak = _pixel_stats(data)
    codes = np.zeros(n_ok.shape, np.uint8)
    invalid = (n_ok == 0) | (n_ok < (1.0 - DEFAULT_THRESHOLDS["max_invalid_fraction"]) * B)
    saturated = ~invalid & (peak > (config.saturation if saturation is None else saturation))
    dark = ~invalid & ~saturated & (mean < config.min_albedo)
    codes[invalid] = INVALID
    codes[saturated] = SATURATED
    codes[dark] = DARK
    if config.min_contrast > 0:
        todo = codes == 0
        if todo.any():
            contrast = spectral_contrast(data[todo], wl)
            sub = codes[todo]
            sub[~(contrast >= config.min_contrast)] = FLAT
            codes[todo] = sub
    return codes, mean


def _map_arrays(mm: MineralMap) -> dict[str, np.ndarray]:
    out = {"labels": mm.labels}
    if mm.confidence is not None:
        out["confidence"] = mm.confidence
    if mm.scores is not None:
        out["scores"] = mm.scores
    for k, v in mm.extra.items():
        out["extra/" + k] = v
    return out


def _mineral_lut(classes) -> np.ndarray:
    """(K + 1,) bool: True for the classes that are core minerals; the last entry (unclassified) is False."""
    from ..io.colors import normalise_name
    return np.array([normalise_name(c) not in NOT_CORE_CLASSES for c in classes] + [False], dtype=bool)


class _Pass:
    """State of the pass over one tray: per-pixel outputs, counts, thumbnail."""

    def __init__(self, cube: Cube, config: BatchConfig):
        from ..classical.features import parse_windows
        from ..io.quicklook import choose_rgb_bands
        H, W, _ = cube.shape
        self.cube, self.config = cube, config
        self.windows = parse_windows(config.windows)
        wl = cube.wavelengths
        need = np.zeros(wl.size, bool)
        for w in self.windows:
            need |= (wl >= w.hull_lo_nm) & (wl <= w.hull_hi_nm)
        idx = np.flatnonzero(need)
        self.feature_bands = slice(int(idx[0]), int(idx[-1]) + 1) if idx.size >= 3 else slice(None)
        self.rgb_idx, self.rgb_wl = choose_rgb_bands(cube.wavelengths, None, cube.bad_bands)
        self.step = max(1, math.ceil(max(H, W) / THUMB_MAX_SIDE))
        self.thumb = np.zeros((len(range(0, H, self.step)), len(range(0, W, self.step)), 3), np.float32)
        self.thumb_ok = np.zeros(self.thumb.shape[:2], bool)
        self.asm = _Assembler(H, W)
        self.counts = {"pixels": H * W, "invalid": 0, "saturated": 0, "dark": 0, "flat": 0, "artefact": 0,
                       "valid": 0}
        self.albedo_hist = np.zeros(201, np.int64)  # albedo of valid pixels in 0.5 % bins; last: above 100 %
        self.classes: tuple[str, ...] | None = None
        self.produced_by, self.provenance = "", {}
        self.mineral_lut = None
        # Point spectra (a TSG package) are processed reflectance, not detector counts: bright samples above 1
        # (gypsum, white chips) are real, not saturated.
        self.saturation = math.inf if is_point_spectra(cube) else None

    def mask(self, rows: slice, data: np.ndarray, screen=None) -> np.ndarray:
        """Background codes and counts of a block; returns its valid pixels (h, W) and keeps the thumbnail.
        ``screen``: an :class:`_ArtefactScreen`; the pixels it calls tray get code :data:`ARTEFACT_CODE`."""
        from ..preprocess.masking import BACKGROUND_CODES, CORE, DARK, INVALID, SATURATED
        codes, albedo = _valid_codes(data, self.cube.wavelengths, self.config, self.saturation)
        valid = codes == CORE
        if self.cube.mask is not None:
            valid &= self.cube.mask[rows]
        if screen is not None and valid.any():
            art = np.zeros_like(valid)
            art[valid] = screen.screen(data[:, :, screen.bands][valid])  # gather only the bands it uses
            codes[art] = ARTEFACT_CODE
            valid &= ~art
            self.counts["artefact"] += int(np.count_nonzero(art))
        self.asm.put("codes", rows, codes)
        c = self.counts
        c["invalid"] += int(np.count_nonzero(codes == INVALID))
        c["saturated"] += int(np.count_nonzero(codes == SATURATED))
        c["dark"] += int(np.count_nonzero(codes == DARK))
        c["flat"] += int(np.count_nonzero(codes == BACKGROUND_CODES["flat"]))
        c["valid"] += int(np.count_nonzero(valid))
        if valid.any():
            alb = albedo[valid]
            self.albedo_hist += np.bincount(np.clip((alb * 200).astype(np.int64), 0, 200), minlength=201)
        step = self.step
        first = -(-rows.start // step) * step
        if first < rows.stop:
            local = slice(first - rows.start, rows.stop - rows.start, step)
            o0 = first // step
            pix = data[local, ::step][..., self.rgb_idx]
            self.thumb[o0:o0 + pix.shape[0]] = pix
            self.thumb_ok[o0:o0 + pix.shape[0]] = valid[local, ::step] & np.isfinite(pix).all(axis=-1)
        return valid

    def take_map(self, rows: slice, mm: MineralMap) -> None:
        if self.classes is None:
            self.classes = tuple(mm.classes)
            self.produced_by, self.provenance = mm.produced_by, dict(mm.provenance)
            self.mineral_lut = _mineral_lut(self.classes)
        elif tuple(mm.classes) != self.classes:
            raise InputError("the classifier answered different classes for different blocks of one tray")
        for name, arr in _map_arrays(mm).items():
            self.asm.put(name, rows, arr)

    def features(self, rows: slice, data: np.ndarray, valid: np.ndarray) -> None:
        """Core of a block (valid and a mineral) and its feature scalars."""
        from ..classical.streaming import map_features
        lab = self.asm.arrays["labels"][rows]
        core = valid & self.mineral_lut[np.where(lab >= 0, lab, len(self.classes))]
        self.asm.put("core", rows, core)
        c = self.cube
        b = self.feature_bands  # only the bands some window's hull range needs: same scalars, less work
        feats = map_features(Cube(data[..., b], c.wavelengths[b], fwhm=None if c.fwhm is None else c.fwhm[b],
                                  bad_bands=None if c.bad_bands is None else c.bad_bands[b], mask=core),
                             self.windows, min_depth=self.config.min_depth)
        for name, arr in feats.items():
            self.asm.put("features/" + name, rows, arr)


def is_point_spectra(cube: Cube) -> bool:
    """True for a cube of point spectra (one pixel per spectrum, W = 1) whose table gives every spectrum's depth
    (a TSG package): no image to register, the depths are the spectra's own."""
    t = cube.table
    return (t is not None and cube.shape[1] == 1 and "depth_m" in t and t.is_numeric("depth_m")
            and bool(np.isfinite(t["depth_m"]).any()))


def stage_threads(threads: int) -> tuple[bool, int]:
    """(pipelined, threads per operation) for a tray given ``threads`` cores.

    With two or more cores the pass runs as a two-stage pipeline, mask and classification of block k on one
    thread while the feature scalars of block k - 1 are measured on another, each operation (matrix products,
    the model, compiled kernels) on ``threads // 2`` threads. Two single-threaded stages side by side use two
    cores far better than one stage at a time on two threads: on a 2-core machine shared with other work, the
    model's forward passes ran 2-3x slower on two threads than on one (threads waiting for each other)."""
    n = max(1, int(threads))
    return (n >= 2, max(1, n // 2))


def _run_pass(cube: Cube, config: BatchConfig, timer: dict) -> _Pass:
    """Read the cube once (twice more for patch and dense models) and fill a :class:`_Pass`."""
    H, W, B = cube.shape
    wl = cube.wavelengths
    t = time.perf_counter()
    clf = _classifier(config, cube)
    timer["setup"] += time.perf_counter() - t
    pipelined, intra = stage_threads(config.threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(intra)
    lines = max(1, min(H, int(config.block_mb) * 2**20 // max(1, W * B * 4)))
    st = _Pass(cube, config)

    def features(rows, data, valid):
        import numba

        from .._numba import num_threads
        t = time.perf_counter()
        numba.set_num_threads(min(intra, numba.config.NUMBA_NUM_THREADS))  # both are per thread
        with num_threads(intra):
            st.features(rows, data, valid)
        timer["features"] += time.perf_counter() - t

    def classify(c: Cube) -> MineralMap:
        t = time.perf_counter()
        mm = clf.classify(c)
        timer["classify"] += time.perf_counter() - t
        return mm

    valid_all = None if clf.fused else np.zeros((H, W), bool)
    with ThreadPoolExecutor(1, thread_name_prefix="hsimin-features") as stage:
        pending = None

        def hand_over(rows, data, valid):
            """Features of this block: on the stage thread (after the previous block's) or right here."""
            nonlocal pending
            if not pipelined:
                features(rows, data, valid)
                return
            t = time.perf_counter()
            if pending is not None:
                pending.result()
            timer["features_wait"] += time.perf_counter() - t
            pending = stage.submit(features, rows, data, valid)

        for rows, data in _read_blocks(cube, lines, timer):
            t = time.perf_counter()
            valid = st.mask(rows, data, clf.screen)
            timer["mask"] += time.perf_counter() - t
            if not clf.fused:
                valid_all[rows] = valid
                continue
            st.take_map(rows, classify(Cube(data, wl, fwhm=cube.fwhm, bad_bands=cube.bad_bands, mask=valid,
                                            meta=cube.meta)))
            hand_over(rows, data, valid)
        if not clf.fused:
            st.take_map(slice(0, H), classify(dataclasses.replace(cube, mask=valid_all)))
            for rows, data in _read_blocks(cube, lines, timer):
                hand_over(rows, data, valid_all[rows])
        if pending is not None:
            t = time.perf_counter()
            pending.result()
            timer["features_wait"] += time.perf_counter() - t
    return st


def _thumb_rgb(thumb: np.ndarray, ok: np.ndarray, rgb_wl) -> np.ndarray:
    from ..io.quicklook import quicklook_rgb
    wl = np.asarray(rgb_wl, np.float64)
    uniq, first = np.unique(wl, return_index=True)  # a cube wants increasing, distinct wavelengths
    small = Cube(np.ascontiguousarray(thumb[..., first]), uniq, mask=ok)
    return quicklook_rgb(small, rgb_nm=wl, max_pixels=thumb.shape[0] * thumb.shape[1] + 1)


def _median_from_hist(hist: np.ndarray) -> float | None:
    n = int(hist.sum())
    if n == 0:
        return None
    i = int(np.searchsorted(np.cumsum(hist), (n + 1) // 2))
    return (i + 0.5) / 200.0


# --------------------------------------------------------------------------------------------- the job

def _one_line(exc: BaseException) -> str:
    if isinstance(exc, HsiminError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory while processing the tray; lower --block-mb or run fewer --workers"
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        text = f"{where}{exc.strerror or exc}"
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


def process_tray(job: TrayJob, config: BatchConfig, out: str) -> dict:
    """Process one tray and write its outputs (see the module docstring); never raises for a bad tray.

    Returns a JSON-able dict: ``hole_id``, ``tray_id``, ``status`` (``'done'`` or ``'failed'``), ``error`` (one
    line, or None), ``seconds``, ``stages`` (seconds per stage: setup, read, read_wait, mask, classify,
    features, features_wait, depth, write; with two stage threads, read and features run beside the main thread
    and ``read_wait``/``features_wait`` are the main thread's waits for them), ``fingerprint``, ``config_hash``, ``outputs`` (paths), ``shape``, ``qa`` (figures and
    ``flags``), ``class_pixels`` (core pixels per class), ``sticks``, ``peak_rss_mb`` (of the process so far) and
    ``worker_pid``.
    """
    t0 = time.perf_counter()
    timer = dict.fromkeys(("setup", "read", "read_wait", "mask", "classify", "features", "features_wait", "depth",
                           "write"), 0.0)
    result: dict[str, Any] = {"hole_id": job.hole_id, "tray_id": job.tray_id, "source": job.path,
                              "status": "failed", "error": None, "seconds": 0.0}
    try:
        fingerprint = input_fingerprint(job.path)
        chash = config_hash(config)
        result.update({"fingerprint": fingerprint, "config_hash": chash})
        with thread_limits(stage_threads(config.threads)[1]):
            result.update(_process(job, config, out, fingerprint, chash, timer))
        result["status"] = "done"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - one bad tray is recorded, the session goes on
        result["error"] = _one_line(exc)
        if _is_disk_full(exc):
            result["disk_full"] = True
        if not isinstance(exc, (HsiminError, OSError, MemoryError)):
            result["traceback"] = traceback.format_exc(limit=8)
        with contextlib.suppress(Exception):
            remove_outputs(job, out)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["stages"] = {k: round(v, 3) for k, v in timer.items()}
    result["peak_rss_mb"] = _peak_rss_mb()
    result["worker_pid"] = os.getpid()
    return result


def _is_disk_full(exc: BaseException) -> bool:
    from ..io.atomic import DISK_FULL_ERRNOS
    return isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS)


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (MiB): ``VmHWM`` where /proc has it (``getrusage``'s figure
    survives ``exec``, so a process started by a big one would report its parent's peak), else ``getrusage``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024.0 if sys.platform != "darwin" else 1024.0 ** 2), 1)


def _process(job: TrayJob, config: BatchConfig, out: str, fingerprint: list, chash: str, timer: dict) -> dict:
    from ..io import open_cube
    from ..io.envi_classification import write_envi_classification
    from ..io.hdf5 import DEFAULT_MAP_NAME, write_hdf5
    from ..io.quicklook import save_map_png
    from .depth import register_depth

    if not fingerprint:
        try:
            found = Path(job.path).exists()
            why = "no such file or folder"
        except (OSError, ValueError) as exc:   # a name too long, a NUL byte, a folder we may not enter
            found, why = False, getattr(exc, "strerror", None) or str(exc)
        if not found:
            raise InputError(f"{job.path}: {why}")
    t = time.perf_counter()
    cube = open_cube(job.path)
    timer["setup"] += time.perf_counter() - t
    H, W, _ = cube.shape
    d0 = job.depth_from_m if job.depth_from_m is not None else cube.meta.depth_from_m
    d1 = job.depth_to_m if job.depth_to_m is not None else cube.meta.depth_to_m
    if d0 is not None and d1 is not None and d1 < d0:
        raise InputError(f"depth_to_m {d1:g} is above depth_from_m {d0:g}")
    calibrated = cube.meta.attrs.get("format") == "specim"

    r = _run_pass(cube, config, timer)
    classes, counts = r.classes, r.counts
    A = r.asm.arrays

    t = time.perf_counter()
    core = A.pop("core")
    codes = A.pop("codes")
    if is_point_spectra(cube):  # every spectrum has its own depth: nothing to register
        depth = np.where(core, np.asarray(cube.table["depth_m"], np.float32).reshape(H, W), np.nan)
        sticks = []
    else:
        depth, sticks = register_depth(core, d0, d1, stick_depths_m=job.stick_depths_m, gaps=config.gaps,
                                       order=config.order)
    timer["depth"] += time.perf_counter() - t

    t = time.perf_counter()
    meta = ScanMeta(hole_id=job.hole_id, tray_id=job.tray_id, depth_from_m=d0, depth_to_m=d1,
                    sensor=cube.meta.sensor, pixel_size_mm=cube.meta.pixel_size_mm, source=job.path,
                    attrs={k: v for k, v in cube.meta.attrs.items() if isinstance(v, (str, int, float, bool))})
    extra = {k[6:]: v for k, v in A.items() if k.startswith("extra/")}
    labels = A["labels"]
    provenance = {**r.provenance, "batch": {"config_hash": chash, "classifier": config.classifier_id,
                                            "calibrated_from_raw": calibrated, "pixels_valid": counts["valid"],
                                            "pixels_classified": int(np.count_nonzero(labels >= 0))}}
    mm = MineralMap(labels=labels, classes=classes, scores=A.get("scores"), confidence=A.get("confidence"),
                    meta=meta, produced_by=r.produced_by, extra=extra, provenance=provenance, table=cube.table)
    feats = {k[9:]: v for k, v in A.items() if k.startswith("features/")}

    # QA
    n_pix = max(1, H * W)
    n_core = int(core.sum())
    lab = mm.labels
    class_pixels = np.bincount(lab[core].astype(np.int64), minlength=len(classes)) if n_core else \
        np.zeros(len(classes), np.int64)
    median_albedo = _median_from_hist(r.albedo_hist)
    conf = None if mm.confidence is None or not n_core else float(np.mean(mm.confidence[core]))
    qa = {"pixels": H * W, "valid_pixels": counts["valid"], "core_pixels": n_core,
          "core_fraction": n_core / n_pix, "saturated_fraction": counts["saturated"] / n_pix,
          "invalid_fraction": counts["invalid"] / n_pix, "dark_fraction": counts["dark"] / n_pix,
          "artefact_fraction": counts["artefact"] / n_pix,
          "median_albedo": median_albedo, "mean_confidence": conf, "sticks": len(sticks),
          "depth_from_m": d0, "depth_to_m": d1, "calibrated_from_raw": calibrated}
    flags = []
    if qa["saturated_fraction"] > QA_THRESHOLDS["saturated_fraction"]:
        flags.append("saturated")
    if qa["invalid_fraction"] > QA_THRESHOLDS["invalid_fraction"]:
        flags.append("invalid-pixels")
    if (qa["core_fraction"] < QA_THRESHOLDS["min_core_fraction"]
            or (median_albedo is not None and median_albedo < QA_THRESHOLDS["low_signal_albedo"])):
        flags.append("low-signal")
    if conf is not None and conf < QA_THRESHOLDS["low_confidence"]:
        flags.append("low-confidence")
    no_core = n_core == 0 if is_point_spectra(cube) else not sticks
    if no_core:
        flags.append("no-core")
    if d0 is None or d1 is None:
        flags.append("no-depth")
    qa["flags"] = flags

    rgb = _thumb_rgb(r.thumb, r.thumb_ok, r.rgb_wl)
    step = max(1, math.ceil(max(H, W) / THUMB_MAX_SIDE))
    stick_rows = np.array([[s.across[0], s.across[1], s.along[0], s.along[1],
                            s.depth_from_m, s.depth_to_m] for s in sticks], np.float64).reshape(-1, 6)
    tray_attrs = {"hsimin_batch": 1, "hole_id": job.hole_id, "tray_id": job.tray_id, "source": job.path,
                  "fingerprint": fingerprint, "config_hash": chash, "depth_from_m": d0, "depth_to_m": d1,
                  "stick_depths_m": None if job.stick_depths_m is None else [list(p) for p in job.stick_depths_m],
                  "sticks": [s.to_dict() for s in sticks], "qa": qa, "thumb_step": step,
                  "classes": list(classes), "not_core_classes": sorted(NOT_CORE_CLASSES)}
    from ..classical.streaming import features_provenance
    from ..io.atomic import output_error, output_group
    paths = expected_outputs(job, out)
    try:
        paths["h5"].parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, paths["h5"].parent, "cannot create the hole's output folder") from None
    # ids are anyone's text: escaped, so a bidi override or a NUL shows as what it is (and no font lacks it)
    title = printable(f"{job.hole_id} {job.tray_id}") + \
        (f"  {d0:.2f}-{d1:.2f} m" if d0 is not None and d1 is not None else "")
    with output_group():   # all of the tray's files, or none; the HDF5 completion mark lands last
        write_envi_classification(mm, paths["envi"], overwrite=True)
        save_map_png(mm, paths["png"], overwrite=True, title=title)
        write_hdf5(paths["h5"], maps={DEFAULT_MAP_NAME: mm},
                   arrays={FEATURES_GROUP: feats,
                           DEPTH_GROUP: {"depth_m": depth.astype(np.float32), "core": core.astype(np.uint8)},
                           MASK_GROUP: {"codes": codes},
                           QUICKLOOK_GROUP: {"rgb": rgb},
                           TRAY_GROUP: {"sticks": stick_rows, "class_pixels": class_pixels.astype(np.int64)}},
                   arrays_attrs={FEATURES_GROUP: features_provenance(r.windows, config.min_depth),
                                 DEPTH_GROUP: {"units": "m", "gaps": config.gaps, "order": config.order},
                                 MASK_GROUP: {"legend": MASK_LEGEND},
                                 QUICKLOOK_GROUP: {"step": step, "rgb_nm": [float(v) for v in r.rgb_wl]},
                                 TRAY_GROUP: tray_attrs},
                   overwrite=True)
    timer["write"] += time.perf_counter() - t
    return {"outputs": {k: str(v) for k, v in paths.items()}, "shape": [H, W], "qa": qa,
            "class_pixels": {classes[i]: int(c) for i, c in enumerate(class_pixels) if c},
            "sticks": len(sticks), "depth_from_m": d0, "depth_to_m": d1,
            "produced_by": mm.produced_by}

