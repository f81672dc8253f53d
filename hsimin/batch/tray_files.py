"""A tray's output files: which they are, the record in its HDF5 file that marks it finished, and removing what a
failed or abandoned tray left behind."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..core.errors import HsiminError
from .session import TrayJob, output_dir_for

__all__ = ["DEPTH_GROUP", "FEATURES_GROUP", "MASK_GROUP", "OUTPUT_SUFFIXES", "QUICKLOOK_GROUP", "TRAY_GROUP",
           "expected_outputs", "outputs_complete", "read_tray_record", "remove_outputs", "remove_partial"]

TRAY_GROUP, DEPTH_GROUP, QUICKLOOK_GROUP, FEATURES_GROUP = "tray", "depth", "quicklook", "features"
MASK_GROUP = "mask"
OUTPUT_SUFFIXES = (".hdr", ".img", ".png", ".h5")


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
