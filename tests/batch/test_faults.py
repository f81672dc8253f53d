"""Batch sessions under faults (issue 14): a full disk stops the session cleanly, an output folder in use is
locked, workers die with their parent, manifest rows fail alone, a failed tray leaves no files, hostile run.json
and ids."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hsimin.batch import BatchConfig, load_run, run_batch
from hsimin.core.errors import DiskFullError, OutputError, OutputInUseError
from hsimin.io.locks import LOCK_NAME, FolderLock

LIB = BatchConfig(library="usgs_splib07", interval_m=0.5)
TRAYS = [("DDH1", "T1", 100.0, 100.4), ("DDH1", "T2", 100.4, 100.8), ("DDH1", "T3", 100.8, 101.2)]


def _statuses(out):
    return {t["tray_id"]: t["status"] for t in load_run(out)["trays"]}


def _tray_files(out, hole="DDH1"):
    d = out / hole
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# --------------------------------------------------------------------------------------------- full disk

def test_a_full_disk_stops_the_session_without_retrying_and_leaves_no_partial_tray(tmp_path, make_session,
                                                                                    monkeypatch):
    """A full disk made every tray 'worker died … out of memory', retried each and left per-tray .hdr/.img/.png.
    Fault injection: the disk fills up while the second tray's HDF5 file is written."""
    manifest = make_session(tmp_path / "s", TRAYS, lines=24)
    out = tmp_path / "out"
    from hsimin.io import hdf5
    real = hdf5.write_hdf5
    calls = []

    def filling(path, **kw):
        calls.append(Path(path).name)
        if Path(path).name == "T2.h5":
            raise DiskFullError("writing the HDF5 file failed (No space left on device)", path=path)
        return real(path, **kw)
    monkeypatch.setattr(hdf5, "write_hdf5", filling)
    events = []
    with pytest.raises(DiskFullError) as err:
        run_batch(manifest, out, LIB, workers=0, progress=events.append)
    msg = str(err.value)
    assert err.value.path == str(out) and "T2.h5" in msg and "No space left on device" in msg
    assert "session stopped" in msg and "resume" in msg
    assert _statuses(out) == {"T1": "done", "T2": "failed", "T3": "pending"}
    run = load_run(out)
    assert run["status"] == "stopped" and "not started: the disk filled up" in run["trays"][2]["error"]
    assert calls.count("T2.h5") == 1                                   # never retried
    assert _tray_files(out) == ["T1.h5", "T1.hdr", "T1.img", "T1.png"]  # nothing of T2, not even its ENVI/PNG
    assert not (out / "report.html").exists()                           # products are not written on a full disk
    assert not any(e["kind"] == "message" for e in events)             # the error is the one line, said once
    monkeypatch.setattr(hdf5, "write_hdf5", real)                      # space freed: the same command resumes
    r = run_batch(manifest, out, LIB, workers=0)
    assert r.exit_code == 0 and _statuses(out) == {"T1": "skipped", "T2": "done", "T3": "done"}


def test_a_failed_tray_has_its_files_removed_even_those_of_an_earlier_run(tmp_path, make_session):
    manifest = make_session(tmp_path / "s", TRAYS[:2], lines=24)
    out = tmp_path / "out"
    assert run_batch(manifest, out, LIB, workers=0).exit_code == 0
    assert "T2.h5" in _tray_files(out)
    (tmp_path / "s" / "scans" / "DDH1_T2.img").write_bytes(b"truncated")    # the tray changed and is now broken
    r = run_batch(manifest, out, LIB, workers=0)
    assert r.exit_code == 1 and _statuses(out) == {"T1": "skipped", "T2": "failed"}
    assert [n for n in _tray_files(out) if n.startswith("T2")] == []


# --------------------------------------------------------------------------------------------- one run per folder

def test_an_output_folder_in_use_is_refused_at_once(tmp_path, make_session):
    """Two runs on one folder both exited 0, interleaved, and run.json described settings the files were not
    written with."""
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=24)
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out, "hsimin batch"):
        with pytest.raises(OutputInUseError) as err:
            run_batch(manifest, out, LIB, workers=0)
    assert err.value.path == str(out) and "in use by another running hsimin" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == []                 # the refused run wrote nothing


def test_the_stale_lock_of_a_killed_run_is_taken_over(tmp_path, make_session):
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=24)
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"what": "hsimin batch", "pid": 999999, "host": "x", "started": "t"}))
    events = []
    r = run_batch(manifest, out, LIB, workers=0, progress=events.append)
    assert r.exit_code == 0
    assert any(e["kind"] == "message" and "took over the lock" in e["text"] and "999999" in e["text"]
               for e in events)
    assert not (out / LOCK_NAME).exists()


def test_a_second_batch_cli_on_a_busy_folder_exits_2_with_one_line(tmp_path, make_session):
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=24)
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out, "hsimin batch"):
        p = subprocess.run([sys.executable, "-m", "hsimin", "batch", str(manifest), "-o", str(out), "--library",
                            "usgs_splib07"], capture_output=True, text=True, timeout=300)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"hsimin: error: {out}: ")


def test_an_unwritable_output_folder_fails_before_the_session_is_read(tmp_path, monkeypatch):
    from hsimin.io import atomic
    import hsimin.batch.runner as runner

    def refuse(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(runner, "discover_session", lambda *a, **k: pytest.fail("the session was read first"))
    with pytest.raises(OutputError, match="Read-only file system"):
        run_batch(tmp_path / "anything", tmp_path / "ro" / "b", LIB, workers=0)


# --------------------------------------------------------------------------------------------- rows fail alone

def test_manifest_rows_with_unusable_paths_fail_alone(tmp_path, make_session):
    """One unreadable tray path (name too long, NUL byte) aborted the whole manifest batch."""
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=24)
    rows = manifest.read_text().rstrip("\n").split("\n")
    rows.append("DDH1,LONG,101,102," + "x" * 300 + "/t.hdr")
    rows.append("DDH1,NUL,102,103,scans/a\x00b.hdr")
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    r = run_batch(manifest, out, LIB, workers=0)
    assert r.exit_code == 1
    assert _statuses(out) == {"T1": "done", "LONG": "failed", "NUL": "failed"}
    err = {t["tray_id"]: t["error"] for t in load_run(out)["trays"]}
    assert "File name too long" in err["LONG"] and "a\x00b.hdr" in err["NUL"]


# --------------------------------------------------------------------------------------------- run.json, -o

@pytest.mark.parametrize("content", ["[1, 2, 3]", '{"trays": 5}', "not json {"])
def test_a_run_json_that_is_not_an_hsimin_run_record_is_refused_and_kept(tmp_path, make_session, content):
    """A run.json of the wrong shape gave 'unexpected AttributeError', exit 1."""
    manifest = make_session(tmp_path / "s", TRAYS[:1], lines=24)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(content)
    with pytest.raises(OutputError, match="run record|not valid JSON") as err:
        run_batch(manifest, out, LIB, workers=0)
    assert err.value.path == str(out / "run.json") and (out / "run.json").read_text() == content
    assert not (out / "DDH1").exists()


def test_the_session_folder_as_output_folder_is_refused_clearly(tmp_path, make_tray):
    """`hsimin batch sess -o sess` said 'no trays found'."""
    make_tray(tmp_path / "sess" / "T1.hdr")
    with pytest.raises(OutputError, match="the output folder is the session folder"):
        run_batch(tmp_path / "sess", tmp_path / "sess", LIB, workers=0)


# --------------------------------------------------------------------------------------------- workers

def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """SIGKILL of `hsimin batch` orphaned its workers (about 440 MB each, for minutes). A parent starts a worker the
    way the local pool does (spawn, _worker_init) and is killed; the worker must be gone soon after."""
    code = """
import multiprocessing, os, sys, time
from hsimin.batch.executors import _worker_init

def idle():
    time.sleep(600)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(), True))
    fut = pool.submit(idle)
    time.sleep(0.5)
    while not pool._processes:
        time.sleep(0.1)
    print(list(pool._processes)[0], flush=True)
    time.sleep(600)
"""
    script = tmp_path / "parent.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(parent.stdout.readline())
        time.sleep(1.0)                                 # the worker has run its initializer
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived its killed parent"
    finally:
        for pid in (parent.pid, worker):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_workers_are_quiet_unless_debugging():
    """Batch workers printed multi-line matplotlib glyph warnings, breaking the one-line rule."""
    code = ("import warnings; from hsimin.batch.executors import _worker_init; _worker_init(None, quiet=True); "
            "warnings.warn('Glyph 8238 missing from font(s) DejaVu Sans.')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stderr == ""


def test_hostile_ids_are_shown_escaped_and_written_under_safe_names(tmp_path, make_session, monkeypatch):
    """Ids with a right-to-left override were echoed raw (and drawn: matplotlib warned about the missing glyph)."""
    from hsimin.io import quicklook
    titles = []
    real = quicklook.save_map_png

    def spy(mm, path, **kw):
        titles.append(kw.get("title"))
        return real(mm, path, **kw)
    monkeypatch.setattr(quicklook, "save_map_png", spy)
    manifest = make_session(tmp_path / "s", [("DDH1", "T\u202e1", 100.0, 100.4)], lines=24)
    out = tmp_path / "out"
    assert run_batch(manifest, out, LIB, workers=0).exit_code == 0
    assert [n for n in _tray_files(out) if n.startswith("T")] == ["T_1.h5", "T_1.hdr", "T_1.img", "T_1.png"]
    assert titles and "\u202e" not in titles[0] and "\\u202e" in titles[0]
