"""Output-folder locks: one hsimin run writes into an output folder at a time.

Two ``hsimin batch`` runs on one folder would both exit 0 with their trays interleaved and ``run.json``
describing settings some files were not written with. :class:`FolderLock` prevents that: the first run holds an
advisory lock on ``OUT/.hsimin.lock`` (``flock``) for as long as it runs; a second run fails at once with
:class:`~hsimin.core.errors.OutputInUseError` naming the folder and the process that holds it.

A lock outlives no process: the kernel drops an ``flock`` when its holder exits, however it exits (SIGKILL, a
power cut of the machine holding a local disk), so a lock file left by a killed run is *stale* and the next run
takes it over (and says so, :attr:`FolderLock.took_over`). Where ``flock`` is not available (some network
filesystems), the lock file is created exclusively and a stale one is recognised by its holder's process id no
longer running on this host.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
from pathlib import Path

from ..core.errors import OutputInUseError
from .atomic import output_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["LOCK_NAME", "FolderLock"]

LOCK_NAME = ".hsimin.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, another user's
        return True
    except OSError:
        return False
    return True


class FolderLock:
    """An exclusive lock on an output folder, as a context manager::

        with FolderLock(out, "hsimin batch") as lock:
            if lock.took_over: ...          # the previous run was killed

    ``what`` names the holder in the error a second run gets. Raises :class:`OutputInUseError` (naming the folder
    and the holder's pid, host and start time) when another live process holds the folder, :class:`OutputError`
    when the lock file cannot be made.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "hsimin"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.took_over: dict | None = None   # the stale holder's record, when a killed run's lock was taken over
        self._fd: int | None = None
        self._flock = fcntl is not None

    # ---------------------------------------------------------------------------------- public

    def acquire(self) -> "FolderLock":
        if self._fd is not None:
            return self
        if self._flock:
            try:
                self._acquire_flock()
                return self
            except _NoFlock:
                self._flock = False
        self._acquire_exclusive()
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (removal first, while still holding it, so nobody locks a file
        that is about to disappear; see :meth:`_acquire_flock`)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    # ---------------------------------------------------------------------------------- internals

    def _record(self) -> dict:
        return {"what": self.what, "pid": os.getpid(), "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")}

    @staticmethod
    def _read(fd: int) -> dict | None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 4096).decode("utf-8", "replace")
            doc = json.loads(text) if text.strip() else None
            return doc if isinstance(doc, dict) else None
        except (OSError, ValueError):
            return None

    def _write(self, fd: int) -> None:
        data = json.dumps(self._record()).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data + b"\n")

    def _in_use(self, holder: dict | None) -> OutputInUseError:
        who = ""
        if holder:
            who = (f" ({holder.get('what', 'hsimin')}, pid {holder.get('pid')} on {holder.get('host')}, since "
                   f"{holder.get('started')})")
        return OutputInUseError(f"the output folder is in use by another running hsimin{who}; wait for it to "
                                "finish, or give another output folder", path=self.folder)

    def _open(self, flags: int) -> int:
        try:
            return os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            raise
        except OSError as exc:
            raise output_error(exc, self.folder, "cannot create the lock file in the output folder") from None

    def _acquire_flock(self) -> None:
        for _ in range(20):
            fd = self._open(os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = self._read(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._in_use(holder) from None
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    raise _NoFlock() from None
                raise output_error(exc, self.folder, "cannot lock the output folder") from None
            # A holder that released between our open and our flock unlinked the file first: then we hold a lock
            # on a file nobody else will see. Lock the file that is there now instead.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if not same:
                os.close(fd)
                continue
            previous = self._read(fd)
            if previous:
                self.took_over = previous       # its holder died without releasing it (killed)
            try:
                self._write(fd)
            except OSError as exc:
                os.close(fd)
                raise output_error(exc, self.folder, "cannot write the lock file") from None
            self._fd = fd
            return
        raise self._in_use(None)

    def _acquire_exclusive(self) -> None:
        """Without flock: create the lock file exclusively; a file whose holder is gone (same host, pid not
        running) is stale and replaced."""
        for _ in range(3):
            try:
                fd = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                try:
                    fd_old = os.open(self.path, os.O_RDONLY)
                    holder = self._read(fd_old)
                    os.close(fd_old)
                except OSError:
                    holder = None
                stale = (holder is not None and holder.get("host") == socket.gethostname()
                         and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]))
                if not stale:
                    raise self._in_use(holder) from None
                self.took_over = holder
                with contextlib.suppress(OSError):
                    self.path.unlink()
                continue
            self._write(fd)
            self._fd = fd
            return
        raise self._in_use(None)


class _NoFlock(Exception):
    """This filesystem does not do flock: fall back to an exclusive lock file."""
