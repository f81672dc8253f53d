"""``hsimin compare MAP PACKAGE -o OUT``: the agreement products of a map of a bundled package."""
from __future__ import annotations

import json
import subprocess
import sys

from hsimin.samples import hylogger_path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_identify_then_compare(tmp_path):
    pkg = hylogger_path("SWMB007s")
    m = tmp_path / "m.h5"
    assert _cli("identify", pkg, "-o", m).returncode == 0
    p = _cli("compare", m, pkg.parent, "-o", tmp_path / "cmp")
    assert p.returncode == 0, p.stderr
    assert "agreement with TSA (sTSAS, by group) on" in p.stdout
    doc = json.loads((tmp_path / "cmp" / "agreement.json").read_text())
    assert doc["n"] + doc["n_unanswered"] == 30
    lines = (tmp_path / "cmp" / "spectra.csv").read_text().splitlines()
    assert len(lines) == 31 and lines[1].split(",")[1] == "0.5000"    # depth of the first chip
    for name in ("confusion.png", "strip_log.png"):
        assert (tmp_path / "cmp" / name).stat().st_size > 1000
    rows = (tmp_path / "cmp" / "confusion.csv").read_text().splitlines()
    assert rows[0].startswith("tsa_group") and len(rows) == len(doc["confusion"]["labels"]) + 1
    again = _cli("compare", m, pkg, "-o", tmp_path / "cmp")
    assert again.returncode == 2 and "exists" in again.stderr


def test_compare_refuses_a_map_of_another_package(tmp_path):
    m = tmp_path / "m.h5"
    assert _cli("identify", hylogger_path("SWMB007s"), "-o", m).returncode == 0
    p = _cli("compare", m, hylogger_path("SWMB008d"), "-o", tmp_path / "cmp")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "30 labels for the package's 54 spectra" in p.stderr
    assert not (tmp_path / "cmp").exists()
