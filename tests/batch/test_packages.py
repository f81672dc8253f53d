"""``hsimin batch`` over HyLogger TSG packages: one job per package, depths from the spectra, TSA side by side."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hsimin.batch import discover_session
from hsimin.samples import hylogger_path


@pytest.fixture(scope="module")
def package_session(tmp_path_factory):
    root = tmp_path_factory.mktemp("packages")
    for name in ("SWMB007s", "SWMB008d"):
        shutil.copytree(hylogger_path(name).parent, root / name)
    return root


def test_packages_are_found_as_one_job_each(package_session):
    s = discover_session(package_session)
    assert [t.hole_id for t in s.trays] == ["SWMB007s_Chips", "SWMB008d_Chips"]   # thermal pairs are not jobs
    assert [t.tray_id for t in s.trays] == ["SWMB007s_chips", "SWMB008d_chips"]
    assert (s.trays[0].depth_from_m, s.trays[0].depth_to_m) == (0.5, 29.5)


def test_bare_batch_writes_logs_from_the_spectra_depths_and_the_tsa_comparison(package_session, tmp_path):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "hsimin", "batch", str(package_session), "-o", str(out),
                        "--workers", "0"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    for hole, n in (("SWMB007s_Chips", 30), ("SWMB008d_Chips", 54)):
        rows = list(csv.DictReader((out / hole / "downhole_log.csv").open()))
        assert float(rows[0]["depth_from_m"]) == 0.0 and float(rows[-1]["depth_to_m"]) == float(n)
        # one chip per metre, and every chip that is core lands in its own interval
        assert sum(int(r["core_pixels"]) for r in rows) <= n
        assert all(int(r["core_pixels"]) <= 1 for r in rows)
        cmp_dir = out / hole / f"{hole.replace('_Chips', '_chips')}_vs_tsa"
        doc = json.loads((cmp_dir / "agreement.json").read_text())
        assert doc["tsa_run"] == "sTSAS" and doc["n"] + doc["n_unanswered"] >= n - 3
        assert 0.0 <= doc["overall"] <= 1.0 and (cmp_dir / "strip_log.png").stat().st_size > 1000
        assert (out / hole / "downhole_log.png").is_file()
    report = (out / "report.html").read_text()
    assert report.count("beside TSA</h3>") == 2 and "agreement with TSA" in report
    run = json.loads((out / "run.json").read_text())
    assert run["classifier"]["kind"] == "library"


def test_saturation_does_not_mask_bright_point_spectra():
    from hsimin.batch import BatchConfig
    from hsimin.batch.tray_pass import TrayPass
    from hsimin.io import open_cube
    cube = open_cube(hylogger_path("GSNSW_testrocks"))
    data = np.asarray(cube.data)
    assert np.nanmax(data) > 1.05            # test rocks reach ~2: real bright samples, not detector saturation
    st = TrayPass(cube, BatchConfig(library="usgs_splib07"))
    valid = st.mask(slice(0, cube.shape[0]), data)
    assert st.counts["saturated"] == 0 and valid.sum() >= 200
