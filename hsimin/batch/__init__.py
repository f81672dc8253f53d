"""hsimin.batch: sessions of many trays, on a local process pool or a Dask cluster, resumable.

The pieces, in the order a run uses them:

* :mod:`~hsimin.batch.session`: find the trays (folder or manifest CSV), safe output names, input fingerprints;
* :mod:`~hsimin.batch.runner`: :func:`run_batch`: executors, ``run.json``, resume, Ctrl-C, retries;
* :mod:`~hsimin.batch.config`: :class:`BatchConfig` and the hash that decides whether a tray is redone;
* :mod:`~hsimin.batch.tray`: :func:`process_tray`: one tray end to end (QA, depth, the outputs), with
  :mod:`~hsimin.batch.tray_pass` (the streaming pass over its line blocks), :mod:`~hsimin.batch.classifiers`
  (interpretation, library matcher or model, built once per band set) and :mod:`~hsimin.batch.tray_files`
  (its files, completion mark and clean-up);
* :mod:`~hsimin.batch.depth`: core sticks and per-pixel depth;
* :mod:`~hsimin.batch.logs`: down-hole logs, strip logs and mosaics; :mod:`~hsimin.batch.products`: writing them per
  hole, the comparisons with TSA and the HTML report.

This package and :mod:`hsimin.io` are the only ones that touch the filesystem.
"""
from .depth import Stick, find_sticks, register_depth
from .logs import HoleLog, hole_log, read_tray_data
from .products import write_session_products
from .runner import BatchResult, default_parallelism, load_run, resolve_classifier, run_batch
from .session import (Session, TrayJob, discover_session, input_fingerprint, output_dir_for, read_manifest,
                      safe_name, scan_folder)
from .config import BatchConfig, config_hash, recipe_from_file
from .tray import process_tray

__all__ = ["BatchConfig", "BatchResult", "HoleLog", "Session", "Stick", "TrayJob", "config_hash",
           "default_parallelism", "discover_session", "find_sticks", "hole_log", "input_fingerprint", "load_run",
           "output_dir_for", "process_tray", "read_manifest", "read_tray_data", "recipe_from_file",
           "register_depth", "resolve_classifier", "run_batch", "safe_name", "scan_folder",
           "write_session_products"]
