"""``hsimin batch``: exit codes 0 / 1 / 2, one-line usage errors, the summary line, progress only on a TTY."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from hsimin import samples


def _cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def _one_line_error(p, *needles):
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    assert len(lines) == 1 and lines[0].startswith("hsimin: error:"), lines
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Two small trays cut from the bundled sample tray (one hole) and a manifest; a third, truncated tray."""
    from hsimin.io.envi_header import read_envi_header
    root = tmp_path_factory.mktemp("cli_session")
    h = read_envi_header(samples.tray_path())
    raw = np.fromfile(samples.tray_path().with_suffix(".img"), dtype="<u2").reshape(320, 270, 64)  # BIL
    header = samples.tray_path().read_text()
    rows = []
    for i, (tray, lines) in enumerate((("T1", slice(8, 32)), ("T2", slice(100, 124)), ("BAD", slice(8, 32)))):
        part = np.ascontiguousarray(raw[lines])
        hdr = root / f"{tray}.hdr"
        text = header.replace(f"lines = {h.get_int('lines')}", f"lines = {part.shape[0]}")
        hdr.write_text(text)
        data = part.astype("<u2").tobytes()
        (root / f"{tray}.img").write_bytes(data if tray != "BAD" else data[:1000])
        rows.append({"hole_id": "DDH5", "tray_id": tray, "depth_from_m": 10 + i * 0.1,
                     "depth_to_m": 10.1 + i * 0.1, "path": hdr.name})
    good = root / "good.csv"
    allm = root / "all.csv"
    for path, items in ((good, rows[:2]), (allm, rows)):
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(items)
    return {"good": good, "all": allm, "root": root}


def test_help_lists_the_interface():
    p = _cli("batch", "--help")
    assert p.returncode == 0
    for opt in ("--model", "--library", "--workers", "--scheduler", "--interval-m", "SESSION", "-o OUT"):
        assert opt in p.stdout, opt


@pytest.mark.parametrize("args, needles", [
    (("--library", "usgs_splib07", "--model", "default"), ("not allowed with argument",)),
    (("--library", "usgs_splib07", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), ("not allowed",)),
    (("--library", "no_such_lib"), ("no library 'no_such_lib'",)),
    (("--library", "usgs_splib07", "--interval-m", "0"), ("interval",)),
    (("--library", "usgs_splib07", "--scheduler", "not an address"), ("not a scheduler address",)),
    (("--model", "/nowhere/model.pt"), ("model.pt",)),
])
def test_usage_errors_are_one_line_exit_2(session, tmp_path, args, needles):
    p = _cli("batch", session["good"], "-o", tmp_path / "out", *args)
    _one_line_error(p, *needles)
    assert not (tmp_path / "out" / "run.json").exists()


def test_missing_session_is_a_usage_error(tmp_path):
    p = _cli("batch", tmp_path / "nope.csv", "-o", tmp_path / "out", "--library", "usgs_splib07")
    _one_line_error(p, "nope.csv", "no such session")


def test_all_done_exit_0_then_skip(session, tmp_path):
    out = tmp_path / "out"
    p = _cli("batch", session["good"], "-o", out, "--library", "usgs_splib07", "--workers", "0", "--interval-m", "0.05")
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == ""  # no progress bar when stderr is not a terminal
    assert "batch complete: 2 done" in p.stdout and "report.html" in p.stdout
    rows = list(csv.DictReader(open(out / "DDH5" / "downhole_log.csv")))
    assert float(rows[0]["depth_from_m"]) == 10.0 and float(rows[-1]["depth_to_m"]) == pytest.approx(10.2)
    assert len(rows) == 4
    p2 = _cli("batch", session["good"], "-o", out, "--library", "usgs_splib07", "--workers", "0")
    assert p2.returncode == 0 and "2 skipped" in p2.stdout
    run = json.loads((out / "run.json").read_text())
    assert [t["status"] for t in run["trays"]] == ["skipped", "skipped"]


def test_some_failed_exit_1_rest_written(session, tmp_path):
    out = tmp_path / "out"
    p = _cli("batch", session["all"], "-o", out, "--library", "usgs_splib07", "--workers", "0")
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert "tray DDH5/BAD failed:" in p.stderr and "BAD.img" in p.stderr
    assert (out / "DDH5" / "T1.h5").is_file() and (out / "DDH5" / "T2.h5").is_file()
    assert not (out / "DDH5" / "BAD.h5").exists()
    assert "2 done, 1 failed" in p.stdout
