"""The command line under faults and hostile inputs (issue 14): one line ``hsimin: error: <path>: ...``, exit 2,
nothing left behind; SIGTERM cleans up like Ctrl-C; outputs checked (and refused when they are an input) before
the work."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from hsimin.cli import main
from hsimin.io import open_cube

WL = np.linspace(1000.0, 2500.0, 40)
NOSCREEN = ["--no-artefact-screen"]


@pytest.fixture
def model_pt(make_model_pt):
    return make_model_pt()


def _one_line(err: str, name: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("hsimin: error:") and name in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def _cli(*args, timeout=300, **kw):
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------- full disk

def test_classify_onto_a_full_disk_leaves_none_of_its_three_files(tmp_path, cube_hdr, model_pt, capsys,
                                                                  monkeypatch):
    """classify on a nearly full disk left m.png and m_classes.hdr/.img without m.h5 (and segfaulted). The HDF5
    write fails here (ENOSPC from the file h5py writes through): one line, exit 2, none of the three files."""
    from hsimin.io import hdf5_guard
    real = hdf5_guard.GuardedFile.write

    def full(self, buf):
        self._f = _Full(self._f)
        return real(self, buf)
    monkeypatch.setattr(hdf5_guard.GuardedFile, "write", full)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(out / "m.h5"), *NOSCREEN]) == 2
    line = _one_line(capsys.readouterr().err, "m.h5")
    assert "No space left on device" in line
    assert _files(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"


class _Full:
    """A file on a full disk: every write fails with ENOSPC (fault injection)."""

    def __init__(self, f):
        self._f = f

    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_convert_to_envi_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, cube_hdr, capsys, monkeypatch):
    import builtins
    out = tmp_path / "out"
    out.mkdir()
    real_open = builtins.open

    def opening(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        return _Full(f) if "+" in mode and str(file).endswith(".part") else f
    monkeypatch.setattr(builtins, "open", opening)
    assert main(["convert", str(cube_hdr), str(out / "c.hdr")]) == 2
    assert "No space left on device" in _one_line(capsys.readouterr().err, "c.hdr")
    assert _files(out) == []


# --------------------------------------------------------------------------------------------- inputs as outputs

def test_output_equal_to_the_input_is_refused_and_the_input_survives(tmp_path, cube_hdr, model_pt, capsys):
    """classify X.h5 -o X.h5 --overwrite destroyed the cube it reads."""
    h5 = tmp_path / "x.h5"
    assert main(["convert", str(cube_hdr), str(h5)]) == 0
    before = h5.read_bytes()
    capsys.readouterr()
    assert main(["classify", str(h5), "--model", str(model_pt), "-o", str(h5), "--overwrite", *NOSCREEN]) == 2
    assert "one of the input's files" in _one_line(capsys.readouterr().err, "x.h5")
    assert h5.read_bytes() == before and not (tmp_path / "x.png").exists()
    # an ENVI output whose data file is the input's
    assert main(["convert", str(cube_hdr), str(cube_hdr), "--overwrite"]) == 2
    assert "one of the input's files" in _one_line(capsys.readouterr().err, "scan")
    assert open_cube(cube_hdr).shape == (7, 5, 40)


# --------------------------------------------------------------------------------------------- signals

def test_sigterm_mid_write_removes_the_temporary_files(tmp_path, cube_hdr):
    """SIGTERM and SIGHUP left hidden .part files (SIGINT cleaned up). The writer is slowed inside its first block so
    the signal lands mid-write; the verb must exit 128 + 15 with nothing in the folder."""
    out = tmp_path / "out"
    out.mkdir()
    code = f"""
import sys, time
import hsimin.io.envi as envi
real = envi._encode
def slow(*a, **k):
    print("writing", flush=True)
    time.sleep(120)
    return real(*a, **k)
envi._encode = slow
from hsimin.cli import main
sys.exit(main(["convert", {str(cube_hdr)!r}, {str(out / 'c.hdr')!r}]))
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        assert any(n.endswith(".part") for n in _files(out))           # mid-write: temporary files exist
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signal.SIGTERM, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert _files(out) == []


# --------------------------------------------------------------------------------------------- small ones

def test_min_albedo_nan_is_reported_as_min_albedo(cube_hdr, model_pt, capsys, tmp_path):
    """--min-albedo nan was reported as --threshold."""
    assert main(["classify", str(cube_hdr), "--model", str(model_pt), "-o", str(tmp_path / "m.h5"),
                 "--mask-background", "--min-albedo", "nan"]) == 2
    err = capsys.readouterr().err
    assert "--min-albedo" in err and "--threshold" not in err


def test_explain_steps_zero_is_a_usage_error(cube_hdr, model_pt, tmp_path, capsys):
    """explain --steps 0 was an AssertionError (exit 1)."""
    assert main(["explain", str(cube_hdr), "--model", str(model_pt), "--pixel", "1,1", "--steps", "0",
                 "-o", str(tmp_path / "e.png")]) == 2
    assert "--steps wants a positive integer" in capsys.readouterr().err


def test_features_refuses_a_negative_min_depth_and_windows_outside_the_cube(cube_hdr, tmp_path, capsys):
    assert main(["features", str(cube_hdr), "-o", str(tmp_path / "f.h5"), "--min-depth", "-1"]) == 2
    assert "--min-depth" in capsys.readouterr().err
    assert main(["features", str(cube_hdr), "-o", str(tmp_path / "f.h5"), "--windows", "vnir:500-700"]) == 2
    line = _one_line(capsys.readouterr().err, "scan.hdr")
    assert "vnir (500-700 nm) holds 0 of the cube's bands" in line
    assert not (tmp_path / "f.h5").exists()


def test_maps_that_cannot_fit_in_memory_are_refused_before_the_work(cube_hdr, tmp_path, capsys, monkeypatch):
    """identify/features on a valid 270 GB sparse cube ran into a MemoryError: the maps of a huge cube are huge. Fault
    injection: almost no memory left."""
    import hsimin.core.blocks as blocks
    monkeypatch.setattr(blocks, "available_memory", lambda: 1000)
    assert main(["features", str(cube_hdr), "-o", str(tmp_path / "f.h5")]) == 2
    line = _one_line(capsys.readouterr().err, "scan.hdr")
    assert "needs about" in line and "GB of memory" in line and "7 x 5 pixels" in line
    assert not (tmp_path / "f.h5").exists()


def test_error_lines_escape_control_and_bidi_characters(tmp_path, capsys):
    """Ids with NUL or a right-to-left override were echoed raw."""
    bad = tmp_path / "tray\u202eexe.h5"
    assert main(["info", str(bad)]) == 2
    line = _one_line(capsys.readouterr().err, "tray")
    assert "\u202e" not in line and "\\u202e" in line


def test_info_on_an_unclosed_brace_header_is_one_line(tmp_path, write_envi, capsys):
    hdr, _ = write_envi(tmp_path / "u.hdr", np.zeros((2, 2, 3), np.float32),
                        fields={"wavelength": [1000.0, 1100.0, 1200.0]}, extra_lines=["junk = {"] + ["x"] * 5000)
    assert main(["info", str(hdr)]) == 2
    assert "never closes" in _one_line(capsys.readouterr().err, "u.hdr")


def test_quicklook_and_convert_of_a_cube_without_lines(tmp_path, capsys):
    import h5py
    p = tmp_path / "empty.h5"
    with h5py.File(p, "w") as f:
        f.attrs["hsimin_schema"] = 1
        f.create_dataset("cube/data", shape=(0, 4, 5), dtype="f4")
        f.create_dataset("cube/wavelengths", data=np.arange(5) + 1000.0)
    for args in (["quicklook", str(p), "-o", str(tmp_path / "q.png")], ["convert", str(p), str(tmp_path / "c.hdr")]):
        assert main(args) == 2
        assert "holds no pixels" in _one_line(capsys.readouterr().err, "empty.h5")
    assert _files(tmp_path) == ["empty.h5"]


def test_a_long_valid_output_name_is_written(tmp_path, cube_hdr, capsys):
    """Valid names of 241-255 characters were refused (classify said so only after the work)."""
    out = tmp_path / ("n" * 248 + ".h5")
    assert main(["convert", str(cube_hdr), str(out)]) == 0
    assert open_cube(out).shape == (7, 5, 40) and _files(tmp_path) == sorted([cube_hdr.name, "scan.img", out.name])


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_recipe_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path, special):
    """A --recipe path that is /dev/zero or a FIFO read without end or hung."""
    if special == "fifo":
        recipe = tmp_path / "recipe.toml"
        os.mkfifo(recipe)
    else:
        recipe = special
    p = _cli("batch", tmp_path, "-o", tmp_path / "out", "--library", "usgs_splib07", "--recipe", recipe, timeout=120)
    assert p.returncode == 2
    _one_line(p.stderr, str(recipe))
    assert "not a regular file" in p.stderr
