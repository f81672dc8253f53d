"""Shared test fixtures: ``write_envi``, an ENVI writer that lays out the bytes itself (so reader tests trust
neither the writer under test nor SPy), and ``rng``, a seeded generator.

Tests run with ``--import-mode=importlib``, so helpers are handed out as fixtures, not imported."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (``derandomize``): CI must not fail on an example nobody
# drew before. Set HYPOTHESIS_PROFILE=explore to search afresh (and add what it finds as a plain test).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ENVI_CODE = {"uint8": 1, "int16": 2, "int32": 3, "float32": 4, "float64": 5, "uint16": 12, "uint32": 13,
             "int64": 14, "uint64": 15}


def envi_bytes(raw: np.ndarray, interleave: str, byte_order: int) -> bytes:
    """Bytes of a (lines, samples, bands) array in an ENVI interleave and byte order."""
    axes = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave.lower()]
    dt = raw.dtype.newbyteorder("<" if byte_order == 0 else ">")
    return np.ascontiguousarray(raw.transpose(axes)).astype(dt).tobytes()


def _write_envi(hdr: Path, raw: np.ndarray, *, interleave: str = "bil", byte_order: int = 0, offset: int = 0,
               fields: dict | None = None, ext: str = ".img", junk: bytes | None = None,
               extra_lines: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``raw`` (lines, samples, bands) as an ENVI cube; ``fields`` adds header keys (lists as
    ``{a, b}``), ``junk`` fills the header offset (default: 0xAB bytes). Returns (header, data file)."""
    hdr = Path(hdr)
    L, S, B = raw.shape
    lines = ["ENVI", f"samples = {S}", f"lines = {L}", f"bands = {B}", f"header offset = {offset}",
             "file type = ENVI Standard", f"data type = {ENVI_CODE[raw.dtype.name]}",
             f"interleave = {interleave}", f"byte order = {byte_order}"]
    for k, v in (fields or {}).items():
        if isinstance(v, (list, tuple, np.ndarray)):
            v = "{" + ", ".join(repr(float(x)) if isinstance(x, (float, np.floating)) else str(x) for x in v) + "}"
        lines.append(f"{k} = {v}")
    lines += extra_lines or []
    hdr.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = Path(str(hdr.with_suffix("")) + ext)
    pad = (junk if junk is not None else b"\xab" * offset)[:offset]
    data.write_bytes(pad + envi_bytes(raw, interleave, byte_order))
    return hdr, data


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


@pytest.fixture
def write_envi():
    """The :func:`_write_envi` function."""
    return _write_envi
