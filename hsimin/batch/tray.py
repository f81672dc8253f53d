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
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from ..classical.artefacts import NOT_CORE_CLASSES
from ..core.errors import DiskFullError, HsiminError, InputError
from ..core.text import printable
from ..core.types import MineralMap, ScanMeta
from .config import BatchConfig, config_hash
from .session import TrayJob, input_fingerprint
from .tray_files import (DEPTH_GROUP, FEATURES_GROUP, MASK_GROUP, QUICKLOOK_GROUP, TRAY_GROUP, expected_outputs,
                         remove_outputs)
from .tray_pass import (MASK_LEGEND, THUMB_MAX_SIDE, is_point_spectra, median_from_hist, run_pass, stage_threads,
                        thread_limits, thumb_rgb)

__all__ = ["QA_THRESHOLDS", "process_tray"]

QA_THRESHOLDS = {
    "saturated_fraction": 0.005,   # > 0.5 % of pixels saturated: 'saturated'
    "invalid_fraction": 0.02,      # > 2 % of pixels without data (NaN, dead detector): 'invalid-pixels'
    "low_signal_albedo": 0.06,     # median albedo of core below 6 %: 'low-signal'
    "min_core_fraction": 0.05,     # core on < 5 % of the tray: 'low-signal' (lid closed, lamps off, empty tray)
    "low_confidence": 0.25,        # mean confidence of core below 0.25: 'low-confidence'
}
"""Thresholds of the per-tray QA flags (see :func:`process_tray`)."""


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

    r = run_pass(cube, config, timer)
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
    median_albedo = median_from_hist(r.albedo_hist)
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

    rgb = thumb_rgb(r.thumb, r.thumb_ok, r.rgb_wl)
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
