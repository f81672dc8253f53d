"""Running sessions: run.json, skip/redo on re-runs, failures, killed workers, Ctrl-C, Dask."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hsimin
from hsimin.batch import BatchConfig, load_run, run_batch
from hsimin.batch.executors import Stop as _Stop
from hsimin.batch.executors import run_local as _run_local
from hsimin.batch.runner import default_parallelism
from hsimin.batch.session import TrayJob
from hsimin.core.errors import ConfigError, LibraryError, OutputError

LIB = BatchConfig(library="usgs_splib07", interval_m=0.5)
TRAYS = [("DDH1", "T1", 100.0, 100.4), ("DDH1", "T2", 100.4, 100.8), ("DDH2", "T3", 20.0, 20.4)]


def _digest(p: Path):
    return p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()


def _statuses(out):
    return {t["tray_id"]: t["status"] for t in load_run(out)["trays"]}


def test_parallelism_defaults_depend_on_session_size_only():
    assert default_parallelism(4, cores=2) == (2, 1)
    assert default_parallelism(1, cores=2) == (1, 2)
    assert default_parallelism(10, workers=1, cores=8) == (1, 8)
    assert default_parallelism(3, cores=16) == (3, 5)


def test_session_failure_resume_repair_and_redo(tmp_path, make_session):
    manifest = make_session(tmp_path / "s", TRAYS + [("DDH1", "BAD", 100.8, 101.2)], lines=32)
    bad = tmp_path / "s" / "scans" / "DDH1_BAD.img"
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 3])
    out = tmp_path / "out"
    events = []

    r1 = run_batch(manifest, out, LIB, workers=0, progress=events.append)
    assert r1.exit_code == 1 and r1.status == "complete"
    assert _statuses(out) == {"T1": "done", "T2": "done", "T3": "done", "BAD": "failed"}
    run = load_run(out)
    bad_rec = next(t for t in run["trays"] if t["tray_id"] == "BAD")
    assert "DDH1_BAD.img" in bad_rec["error"] and "truncated" in bad_rec["error"]
    assert run["classifier"]["kind"] == "library" and run["classifier"]["files"][0]["sha256"]
    assert run["versions"]["hsimin"] == hsimin.__version__ and "numpy" in run["versions"]
    assert run["config"]["library"] == "usgs_splib07" and len(run["config_hash"]) == 64
    assert all(t["seconds"] is not None for t in run["trays"])
    assert [e["kind"] for e in events][0] == "start" and sum(e["kind"] == "tray" for e in events) == 4
    assert not (out / "DDH1" / "BAD.h5").exists()
    for hole in ("DDH1", "DDH2"):
        assert (out / hole / "downhole_log.csv").is_file() and (out / hole / "mosaic.png").is_file()
    text = (out / "report.html").read_text()
    assert all(x in text for x in ("DDH1", "DDH2", "T1", "T2", "T3", "BAD"))
    before = {t: _digest(out / h / f"{t}.h5") for h, t, _, _ in TRAYS}

    r2 = run_batch(manifest, out, LIB, workers=0)  # the same command again
    assert r2.exit_code == 1
    assert _statuses(out) == {"T1": "skipped", "T2": "skipped", "T3": "skipped", "BAD": "failed"}
    assert {t: _digest(out / h / f"{t}.h5") for h, t, _, _ in TRAYS} == before

    bad.write_bytes(good_bytes)  # repaired
    r3 = run_batch(manifest, out, LIB, workers=0)
    assert r3.exit_code == 0 and _statuses(out)["BAD"] == "done"
    assert hsimin.open_map(out / "DDH1" / "BAD.h5").labels.shape == (32, 64)

    t2 = tmp_path / "s" / "scans" / "DDH1_T2.img"  # a re-scanned tray (new mtime) is redone
    os.utime(t2, ns=(t2.stat().st_atime_ns, t2.stat().st_mtime_ns + 5 * 10**9))
    (out / "DDH2" / "T3.png").unlink()  # a half-written tray is redone
    run_batch(manifest, out, LIB, workers=0)
    assert _statuses(out) == {"T1": "skipped", "T2": "done", "T3": "done", "BAD": "skipped"}
    assert _digest(out / "DDH1" / "T1.h5") == before["T1"]

    run_batch(manifest, out, BatchConfig(library="usgs_splib07", windows="f2200:2180-2228"), workers=0)
    assert set(_statuses(out).values()) == {"done"}  # other processing options: everything redone


def test_local_pool_and_dask_give_identical_files(tmp_path, make_session):
    distributed = pytest.importorskip("distributed")
    manifest = make_session(tmp_path / "s", TRAYS[:2], lines=24)
    cfg = BatchConfig(library="usgs_splib07", threads=1)
    pool = run_batch(manifest, tmp_path / "pool", cfg, workers=2)
    assert pool.exit_code == 0 and load_run(tmp_path / "pool")["executor"] == {"kind": "local", "workers": 2}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        dask = run_batch(manifest, tmp_path / "dask", cfg, scheduler=cluster.scheduler_address)
    assert dask.exit_code == 0, dask.failed
    assert load_run(tmp_path / "dask")["executor"]["kind"] == "dask"
    for _, tray, _, _ in TRAYS[:2]:
        for ext in (".h5", ".img", ".hdr", ".png"):
            a = (tmp_path / "pool" / "DDH1" / f"{tray}{ext}").read_bytes()
            b = (tmp_path / "dask" / "DDH1" / f"{tray}{ext}").read_bytes()
            assert a == b, f"{tray}{ext} differs between the local pool and Dask"


KILLER = textwrap.dedent('''
    import os, signal
    from pathlib import Path

    def run(job, config, out):
        marker = Path(out) / (job.tray_id + ".attempts")
        n = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(n + 1))
        if job.tray_id == "KILL_ALWAYS" or (job.tray_id == "KILL_ONCE" and n == 0):
            os.kill(os.getpid(), signal.SIGKILL)
        return {"status": "done", "error": None, "seconds": 0.0}
''')


def test_killed_worker_tray_is_retried_and_a_persistent_killer_fails_alone(tmp_path, monkeypatch):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "hsimin_test_killer.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(mod))  # spawned workers inherit sys.path
    import hsimin_test_killer
    out = tmp_path / "out"
    out.mkdir()
    jobs = [TrayJob("H", t, "/nowhere") for t in ("A", "KILL_ONCE", "B", "KILL_ALWAYS", "C")]
    results = {}
    stop = _Stop(lambda text: None)
    _run_local(jobs, LIB, str(out), 2, 2, lambda j, r: results.__setitem__(j.tray_id, r), stop,
               fn=hsimin_test_killer.run)
    assert set(results) == {"A", "KILL_ONCE", "B", "KILL_ALWAYS", "C"}
    assert results["KILL_ONCE"]["status"] == "done" and results["KILL_ONCE"]["attempts"] == 2
    assert results["KILL_ALWAYS"]["status"] == "failed" and "worker process died" in results["KILL_ALWAYS"]["error"]
    assert int((out / "KILL_ALWAYS.attempts").read_text()) == 2
    assert all(results[t]["status"] == "done" for t in "ABC")


def test_ctrl_c_finishes_in_flight_trays_and_the_next_run_resumes(tmp_path, make_session):
    trays = [("H", f"T{i}", float(i), i + 0.4) for i in range(5)]
    manifest = make_session(tmp_path / "s", trays, lines=24)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hsimin", "batch", str(manifest), "-o", str(out), "--library", "usgs_splib07",
           "--workers", "1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        run = load_run(out)
        if run and any(t["status"] == "done" for t in run["trays"]):
            break
        if p.poll() is not None:
            break
        time.sleep(0.2)
    assert p.poll() is None, f"the run ended before it could be interrupted: {p.communicate()}"
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=240)
    assert p.returncode == 130, (p.returncode, stderr)
    assert "Traceback" not in stderr
    run = load_run(out)
    assert run["status"] == "interrupted"
    st = [t["status"] for t in run["trays"]]
    assert set(st) <= {"done", "pending"} and "pending" in st and "done" in st
    assert not [f for f in out.rglob("*") if f.name.endswith(".part")]
    for t in run["trays"]:
        if t["status"] == "done":
            assert hsimin.open_map(out / "H" / f"{t['tray_id']}.h5").labels.shape == (24, 64)
    r = run_batch(manifest, out, BatchConfig(library="usgs_splib07"), workers=0)
    assert r.exit_code == 0
    again = {t["tray_id"]: t["status"] for t in load_run(out)["trays"]}
    assert {k for k, v in again.items() if v == "skipped"} == {t["tray_id"] for t in run["trays"]
                                                             if t["status"] == "done"}


def test_setup_errors_come_before_any_tray(tmp_path, make_session):
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=16)
    with pytest.raises(LibraryError, match="no library 'nope'"):
        run_batch(manifest, tmp_path / "out", BatchConfig(library="nope"), workers=0)
    assert not (tmp_path / "out" / "run.json").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        run_batch(manifest, tmp_path / "file", LIB, workers=0)
    with pytest.raises(ConfigError, match="workers"):
        run_batch(manifest, tmp_path / "out", LIB, workers=-1)
    with pytest.raises(ConfigError, match="no such session"):
        run_batch(tmp_path / "missing.csv", tmp_path / "out", LIB, workers=0)


def test_ids_from_a_manifest_never_write_outside_out(tmp_path, make_tray):
    hdr = make_tray(tmp_path / "s" / "t.hdr", lines=16)
    m = tmp_path / "s" / "m.csv"
    m.write_text(f"hole_id,tray_id,depth_from_m,depth_to_m,path\n../../escape,../../../evil,1,2,{hdr}\n"
                 f"/abs/hole,\"x/../../y\",2,3,{hdr}\n")
    out = tmp_path / "deep" / "out"
    r = run_batch(m, out, LIB, workers=0)
    assert r.exit_code == 0
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {p for p in (tmp_path / "s").rglob("*")}
    assert written and all(out.resolve() in p.resolve().parents for p in written), written
    assert (out / "___.._escape" / "___.._.._evil.h5").is_file()  # one harmless name each, in OUT
    assert (out / "_abs_hole" / "x_.._.._y.h5").is_file()
    mm = hsimin.open_map(out / "___.._escape" / "___.._.._evil.h5")
    assert mm.meta.tray_id == "../../../evil"  # the id itself is kept, only the file name is made safe
