"""Writing HDF5 safely under a full disk: h5py writes through :class:`GuardedFile`, which keeps write errors
away from HDF5 (whose failure modes under ``ENOSPC`` include crashing the interpreter) and reports them to the
writer; :func:`guarded_h5` is the context manager every HDF5 writer in hsimin (cubes, maps, rasters) uses.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import h5py

from ..core.errors import OutputError
from .atomic import output_error

__all__ = ["GuardedFile", "guarded_h5"]


class GuardedFile(io.RawIOBase):
    """The file h5py writes through (its ``fileobj`` driver), which keeps HDF5 away from write errors.

    HDF5 does not survive an ``ENOSPC`` well: the write fails, the close that follows fails again, h5py prints
    dozens of "Exception ignored" tracebacks and the interpreter may die with SIGSEGV or SIGBUS ("Can't decrement
    id ref count"). So no write error ever reaches HDF5: the first one is kept in :attr:`error`, and from then on
    writes land in memory (reads see them), so HDF5 finishes and closes cleanly. The writer checks :meth:`check`
    between blocks and after the close, and raises the error itself; the temporary file is then discarded.
    Memory after a failure is what HDF5 still writes before the writer notices: metadata and one block.
    """

    def __init__(self, path: Path, mode: str):
        super().__init__()
        self._f = open(path, mode, buffering=0)
        self.error: OSError | None = None
        self._spill: list[tuple[int, bytes]] = []   # (offset, bytes) written after the error, in order

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buf) -> int:
        start = self._f.tell()
        n = self._f.readinto(buf) or 0
        if self._spill:
            mv = memoryview(buf).cast("B")
            want = len(mv)
            mv[n:] = bytes(want - n)             # a hole before spilled bytes reads as zeros, as on disk
            for off, data in self._spill:        # later writes win, as on disk
                lo, hi = max(off, start), min(off + len(data), start + want)
                if lo < hi:
                    mv[lo - start:hi - start] = data[lo - off:hi - off]
                    n = max(n, hi - start)
            self._f.seek(start + n)
        return n

    def write(self, buf) -> int:
        data = memoryview(buf).cast("B")
        n = len(data)
        done = 0
        if self.error is None:
            try:
                while done < n:
                    done += self._f.write(data[done:])
                return n
            except OSError as exc:
                self.error = exc
        pos = self._f.tell()
        self._spill.append((pos, bytes(data[done:])))
        self._f.seek(pos + n - done)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._f.tell() if size is None else int(size)
        if self.error is None:
            try:
                return self._f.truncate(size)
            except OSError as exc:
                self.error = exc
        return size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()

    def check(self, path: Path) -> None:
        """Raise the first write error as an :class:`OutputError` naming ``path`` (DiskFullError for ENOSPC)."""
        if self.error is not None:
            raise output_error(self.error, path, "writing the HDF5 file failed")


@contextlib.contextmanager
def guarded_h5(tmp: str | os.PathLike, final: str | os.PathLike, mode: str = "w"):
    """Open the temporary file ``tmp`` of the output ``final`` for writing with h5py, through
    :class:`GuardedFile`. Yields ``(file, check)``: ``check()`` raises the first write error as an
    :class:`OutputError` naming ``final`` (:class:`DiskFullError` for a full disk); call it between large writes so
    a full disk stops the writer at once. Checked again after the close. ``mode``: ``'w'`` (new) or ``'r+'``."""
    final = Path(final)
    guard = GuardedFile(Path(tmp), "r+b")
    try:
        try:
            f = h5py.File(guard, mode)
        except OSError as exc:
            guard.check(final)
            raise OutputError(f"cannot create the HDF5 file ({' '.join(str(exc).split())[:200]})", path=final) \
                from None
        try:
            with f:
                yield f, lambda: guard.check(final)
            guard.check(final)       # the close flushes metadata: a full disk may show only now
        except OSError as exc:       # an I/O error HDF5 reports itself (the guard keeps disk errors from it)
            guard.check(final)
            raise OutputError(f"writing the HDF5 file failed ({' '.join(str(exc).split())[:200]})",
                              path=final) from None
    finally:
        guard.close()
