"""Output-folder locks (issue 14: two `hsimin batch` runs on one folder interleaved; a killed run's lock must be
taken over)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from hsimin.core import OutputInUseError
from hsimin.io.locks import LOCK_NAME, FolderLock


def test_a_second_holder_is_refused_naming_the_folder_and_the_holder(tmp_path):
    with FolderLock(tmp_path, "hsimin batch"):
        with pytest.raises(OutputInUseError) as err:
            FolderLock(tmp_path, "hsimin batch").acquire()
        assert err.value.path == str(tmp_path)
        assert f"pid {os.getpid()}" in str(err.value) and "hsimin batch" in str(err.value)
    assert not (tmp_path / LOCK_NAME).exists()            # released: the file is gone
    with FolderLock(tmp_path) as again:                   # and the folder can be locked again
        assert again.took_over is None


def test_the_lock_of_a_killed_holder_is_stale_and_taken_over(tmp_path):
    """A real SIGKILL: the holder never releases; the kernel drops its lock and the next run takes it over."""
    code = ("import sys, time; from hsimin.io.locks import FolderLock; "
            f"FolderLock({str(tmp_path)!r}, 'hsimin batch').acquire(); print('locked', flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(OutputInUseError):
            FolderLock(tmp_path).acquire()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert (tmp_path / LOCK_NAME).exists()                # left behind by the killed run
    with FolderLock(tmp_path, "hsimin batch") as lock:
        assert lock.took_over is not None and lock.took_over["pid"] == child.pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_without_flock_a_dead_pid_is_stale_and_a_live_one_is_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": host, "what": "hsimin batch"}))
    lock = FolderLock(tmp_path)
    lock._flock = False                                    # the path of filesystems without flock
    with lock:
        assert lock.took_over["pid"] == dead.pid
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": host, "started": time.ctime()}))
    lock = FolderLock(tmp_path)
    lock._flock = False
    with pytest.raises(OutputInUseError):
        lock.acquire()
