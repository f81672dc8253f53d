"""Fixtures of the batch tests: small ENVI trays cut from hsimin's bundled real-spectra sample tray, and sessions
(manifests) of them.

A tray here is lines ``lines`` of the sample tray (320 x 64 x 270, four core sticks down the lines), rolled by a
different number of lines for each tray so that trays differ, written as uint16 BIL ENVI with the sample's
wavelengths, FWHM and reflectance scale factor. Small enough that a tray processes in about a second."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from hsimin import samples

SAMPLE_LINES = 320


@pytest.fixture(scope="session")
def sample_raw():
    """The sample tray as (lines, samples, bands) uint16 and its header fields (wavelengths, fwhm, scale)."""
    from hsimin.io.envi_header import read_envi_header
    h = read_envi_header(samples.tray_path())
    L, S, B = h.get_int("lines"), h.get_int("samples"), h.get_int("bands")
    raw = np.fromfile(samples.tray_path().with_suffix(".img"), dtype="<u2").reshape(L, B, S).transpose(0, 2, 1)
    fields = {"wavelength units": "Nanometers", "wavelength": list(h.get_floats("wavelength")),
              "fwhm": list(h.get_floats("fwhm")), "reflectance scale factor": 10000}
    return np.ascontiguousarray(raw), fields


@pytest.fixture
def make_tray(sample_raw, write_envi):
    """``make_tray(path_hdr, k=0, lines=48, fields=None)``: an ENVI tray of ``lines`` lines of the sample tray
    (starting 8 lines down, rolled by 37 * k lines); returns the header path."""
    raw, base = sample_raw

    def make(hdr, k: int = 0, lines: int = 48, fields: dict | None = None) -> Path:
        arr = np.roll(raw, 37 * k, axis=0)[8:8 + lines] if lines <= SAMPLE_LINES - 8 else np.roll(raw, 37 * k, 0)
        hdr = Path(hdr)
        hdr.parent.mkdir(parents=True, exist_ok=True)
        write_envi(hdr, np.ascontiguousarray(arr), interleave="bil", fields={**base, **(fields or {})})
        return hdr

    return make


@pytest.fixture
def make_session(make_tray):
    """``make_session(folder, trays)`` with trays ``[(hole, tray, from, to), ...]``: ENVI trays and a manifest
    (relative paths) in ``folder``; returns the manifest path."""

    def make(folder, trays, lines: int = 48) -> Path:
        folder = Path(folder)
        rows = []
        for k, (hole, tray, d0, d1) in enumerate(trays):
            hdr = make_tray(folder / "scans" / f"{hole}_{tray}.hdr", k=k, lines=lines)
            rows.append({"hole_id": hole, "tray_id": tray, "depth_from_m": d0, "depth_to_m": d1,
                         "path": str(hdr.relative_to(folder))})
        manifest = folder / "manifest.csv"
        with open(manifest, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["hole_id", "tray_id", "depth_from_m", "depth_to_m", "path"])
            w.writeheader()
            w.writerows(rows)
        return manifest

    return make
