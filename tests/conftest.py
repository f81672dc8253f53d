"""Shared test fixtures: ``write_envi``, an ENVI writer that lays out the bytes itself (so reader tests trust
neither the writer under test nor SPy), and ``rng``, a seeded generator.

Tests run with ``--import-mode=importlib``, so helpers are handed out as fixtures, not imported."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (``derandomize``): CI must not fail on an example nobody
# drew before. Set HYPOTHESIS_PROFILE=explore to search afresh (and add what it finds as a plain test).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ONE_TORCH_THREAD_DIRS = ("data", "train")
"""Test folders whose tests run torch on one thread: on a shared 2-core machine two spinning OpenMP threads per
process make small models tens of times slower, and one thread keeps results identical run to run."""


@pytest.fixture
def one_torch_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        try:
            top = Path(item.path).relative_to(root).parts[0]
        except ValueError:
            continue
        if top in ONE_TORCH_THREAD_DIRS:
            item.fixturenames.insert(0, "one_torch_thread")


NO_DISPLAY_REASON = "needs a display"
"""The start of the skip reason of the napari widget tests without a display (tests/napari/test_widgets.py)."""
_NO_DISPLAY_SKIPS = {"n": 0}


def pytest_runtest_logreport(report):
    """Count the GUI tests skipped for lack of a display (their reason holds :data:`NO_DISPLAY_REASON`)."""
    if report.skipped and isinstance(report.longrepr, tuple) and NO_DISPLAY_REASON in str(report.longrepr[-1]):
        _NO_DISPLAY_SKIPS["n"] += 1


def pytest_unconfigure(config):
    """After pytest's last line, one plain line saying the GUI tests did not run and how to run them: per-test skip
    reasons scroll by, and '14 skipped' alone does not say that the napari widgets went untested."""
    n = _NO_DISPLAY_SKIPS["n"]
    if n:
        config.get_terminal_writer().line(
            f"hsimin: {n} napari GUI tests were skipped: no display. Install xvfb (apt-get install xvfb xauth, as "
            ".ci/run does) and run make test again: it runs them under xvfb-run.")


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


def _write_tsg(folder: Path, spectra: np.ndarray, *, start_nm: float = 380.0, end_nm: float = 2500.0,
               unit: str = "nm", stem: str = "FAKE_tsg", depths=None, hole: str = "FAKE01", trays=None,
               scalars: dict | None = None, classes: dict | None = None, dataheader: int = 0,
               with_scalars: bool = True, byteorder: str = "<", extra_sections: str = "") -> tuple[Path, Path]:
    """Write a TSG package (``STEM.tsg`` text + ``STEM.bip`` binary) laid out byte by byte, independently of
    hsimin's reader: ``spectra`` (N, B) float32 (NaN written as TSG's -3.4e38), ``depths`` (N,) m (default 0.5,
    1.5, ...), ``scalars`` name -> (N,) values (NaN as -3.4e38) stored in the second plane at columns 0, 1, ...,
    ``classes`` scalar name -> list of labels (that scalar is class-valued: its values index the list).
    Returns (tsg, bip)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    X = np.asarray(spectra, np.float32)
    N, B = X.shape
    depths = np.arange(N) + 0.5 if depths is None else np.asarray(depths, np.float64)
    trays = ["0001"] * N if trays is None else list(trays)
    scalars = dict(scalars or {})
    classes = dict(classes or {})
    lines = ["[description]", "SPECTRAL LIBRARY", "", "[structure]", "datatype = float",
             f"dataheader = {dataheader}", "", "[coordinates]", "firstsample = 1", f"lastsample = {N}",
             "firstline = 1", "lastline = 9", "firstband = 1", f"lastband = {B}", "", "[dimensions]",
             f"samples = {N}", "lines = 9", f"bands = {B}", "", "[band headers]"]
    class_ids = {name: k for k, name in enumerate(classes)}
    for i, name in enumerate(scalars):
        if name in class_ids:
            lines.append(f"{i}:{name};0.0;1.0;2;{class_ids[name]};0;0;0;0;0")
        else:
            lines.append(f"{i}:{name};0.0;1.0;2;-1;0;0;0;0;0")
    lines += ["", "[sample headers]"]
    for i in range(N):
        lines.append(f"{i}:{hole}_{trays[i]}_{i + 1}  T={trays[i]} L=1 P={i + 1} D={depths[i]:.6f} "
                     f"X={4.0 + 8 * i:.6f} H={hole}")
    for name, k in class_ids.items():
        lines += ["", f"[class {k}]", f"name = {name} classes", f"max = {len(classes[name])}", "colours = 0"]
        lines += [f"{j}:{label}" for j, label in enumerate(classes[name])]
    lines += ["", "[wavelength specs]", f"{start_nm:.6f} {end_nm:.6f} {unit}", ""]
    tsg = folder / f"{stem}.tsg"
    tsg.write_text("\n".join(lines) + extra_sections, encoding="cp1252")
    plane2 = np.full((N, B), -3.4e38, np.float32)
    for i, vals in enumerate(scalars.values()):
        v = np.asarray(vals, np.float64)
        plane2[:, i] = np.where(np.isfinite(v), v, -3.4e38)
    planes = [np.where(np.isfinite(X), X, np.float32(-3.4e38)).astype(np.float32)]
    if with_scalars:
        planes.append(plane2)
    dt = np.dtype(byteorder + "f4")
    bip = folder / f"{stem}.bip"
    bip.write_bytes(b"\x00" * dataheader + b"".join(p.astype(dt).tobytes() for p in planes))
    return tsg, bip


@pytest.fixture
def write_tsg():
    """The :func:`_write_tsg` function."""
    return _write_tsg


def _unwritable(tmp_path, name):
    """(output path that cannot be written, undo): inside a read-only folder (chmod 555 when not root; as root,
    where permission bits do not bind, chattr +i if the file system allows it), else inside a missing folder."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    if os.geteuid() != 0:
        os.chmod(ro, 0o555)
        return ro / name, lambda: os.chmod(ro, 0o755)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(ro)], capture_output=True).returncode == 0:
        return ro / name, lambda: subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
    ro.rmdir()
    return tmp_path / "no_such_folder" / name, lambda: None


@pytest.fixture
def unwritable():
    """The :func:`_unwritable` function: ``unwritable(tmp_path, name) -> (path, undo)``."""
    return _unwritable
