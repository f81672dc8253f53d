"""Band-interleaved raw files (BSQ, BIL, BIP; ENVI's data files and Specim's captures): where the numbers are
and how to read lines of them fast, as band-last float32.

:class:`RawLayout` describes a file (offset, dtype with byte order, lines x samples x bands, interleave) and reads
lines with positioned reads (``os.preadv``) into page-aligned buffers, converting and transposing them to
band-last chunk by chunk (a few MiB, so the work stays in cache), on a few threads for large reads, with a
numba-compiled tiled transpose for BSQ when numba is available. Positioned reads rather than a memmap: a file
that shrinks under a memmap kills the process with SIGBUS, while a short read here raises
:class:`~hsimin.core.errors.TruncatedDataError`. :class:`EnviLazyArray` is the lazy (H, W, B) reflectance view of
such a file (scale factor and ignore value applied).
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import FormatError, TruncatedDataError
from .lazy import LazyCubeArray

__all__ = ["BSQ_CHUNK_BYTES", "CHUNK_BYTES", "EnviLazyArray", "IO_THREADS", "RawLayout", "THREAD_MIN_BYTES"]


# Positioned reads: raw bytes per chunk (the unit of work of one thread). BIL/BIP chunks are whole lines in
# one read; BSQ needs one read per band, so its chunks are larger to keep those reads long.
CHUNK_BYTES = 2 * 2**20
BSQ_CHUNK_BYTES = 16 * 2**20
THREAD_MIN_BYTES = 8 * 2**20
"""Reads smaller than this (float32 output) stay on the calling thread."""


def _default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(4, n))


IO_THREADS = _default_threads()
"""Threads used by large reads (positioned reads and numpy copies release the GIL)."""


# --------------------------------------------------------------------------------------------- raw reads

def _aligned_empty(shape, dtype, align: int = 4096) -> np.ndarray:
    """Uninitialised C-contiguous array whose data start on an ``align``-byte boundary.

    The kernel copies file pages into a page-aligned buffer about three times faster than into numpy's
    default 16-byte-aligned one (measured: 6.6 vs 2.2 GB/s), so every read lands in one of these.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(n + align, np.uint8)
    off = (-buf.ctypes.data) % align
    return buf[off:off + n].view(dtype).reshape(shape)


def _band_index(order: np.ndarray | None, n: int):
    """A numpy index for the band axis: None (keep), a reversing slice (a view, no copy) or the order."""
    if order is None:
        return None
    if np.array_equal(order, np.arange(n - 1, -1, -1)):
        return slice(None, None, -1)
    return order


class _PositionalFile:
    """A file opened for positioned reads: ``os.preadv`` where it exists, else seek + readinto."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.f = open(path, "rb", buffering=0)
        except OSError as exc:
            raise FormatError(f"cannot open the data file ({exc.strerror or exc})", path=path) from None
        self._preadv = getattr(os, "preadv", None)

    def read_at(self, arr: np.ndarray, offset: int) -> None:
        """Fill the contiguous array ``arr`` with the bytes at ``offset``."""
        mv = memoryview(arr.reshape(-1).view(np.uint8))
        done, n = 0, mv.nbytes
        try:
            while done < n:
                if self._preadv is not None:
                    got = self._preadv(self.f.fileno(), [mv[done:]], offset + done)
                else:
                    self.f.seek(offset + done)
                    got = self.f.readinto(mv[done:])
                if not got:
                    raise TruncatedDataError(f"the data file ended at byte {offset + done} while reading "
                                             f"{n} bytes at {offset}; it is shorter than its header says "
                                             "(was it truncated after opening?)", path=self.path)
                done += got
        except OSError as exc:
            raise FormatError(f"cannot read the data file ({exc.strerror or exc})", path=self.path) from None

    def close(self) -> None:
        self.f.close()


def _transpose_tiles(src, out, order):
    """out[i, w, j] = src[i, order[j], w] for src (k, B, W) float32 (any strides), out (k, W, B) C-contiguous.

    Tiles of 8 bands x 32 samples keep the strided reads within a few pages at a time; numpy's own
    transposing copy walks one band per page and runs at about half this speed on BSQ chunks.
    """
    k, n_bands, n_samples = src.shape
    for i in range(k):
        for j0 in range(0, n_bands, 8):
            j1 = min(j0 + 8, n_bands)
            for w0 in range(0, n_samples, 32):
                w1 = min(w0 + 32, n_samples)
                for w in range(w0, w1):
                    for j in range(j0, j1):
                        out[i, w, j] = src[i, order[j], w]


_KERNEL: list = []


def _transpose_kernel():
    """The numba-compiled :func:`_transpose_tiles` (compiled on first large read, cached on disk), or None
    when numba is unavailable or fails, in which case numpy's transposing copy is used."""
    if not _KERNEL:
        try:
            import numba

            from .._numba import JIT_OPTIONS
            # One explicit signature: other file types are cast to float32 first, so one compilation serves all.
            fn = numba.njit("void(float32[:, :, :], float32[:, :, ::1], intp[::1])", **JIT_OPTIONS)(
                _transpose_tiles)
        except Exception:  # noqa: BLE001 - numba is an accelerator here, never a requirement
            fn = None
        _KERNEL.append(fn)
    return _KERNEL[0]


@dataclass(frozen=True)
class RawLayout:
    """Where an ENVI cube's numbers are on disk.

    data_file : path of the binary file
    offset : header offset in bytes
    dtype : numpy dtype with the file's byte order
    lines, samples, bands : H, W, B
    interleave : 'bsq', 'bil' or 'bip'
    """

    data_file: str
    offset: int
    dtype: np.dtype
    lines: int
    samples: int
    bands: int
    interleave: str

    @property
    def nbytes(self) -> int:
        """Bytes of data (header offset excluded)."""
        return self.lines * self.samples * self.bands * self.dtype.itemsize

    @property
    def file_shape(self) -> tuple[int, int, int]:
        L, S, B = self.lines, self.samples, self.bands
        return {"bsq": (B, L, S), "bil": (L, B, S), "bip": (L, S, B)}[self.interleave]

    def memmap(self) -> np.memmap:
        """Read-only memmap of the data in file order (:attr:`file_shape`)."""
        return np.memmap(self.data_file, dtype=self.dtype, mode="r", offset=self.offset, shape=self.file_shape)

    def chunk_lines(self) -> int:
        """Lines per unit of work: a few MiB of raw bytes."""
        line = self.samples * self.bands * self.dtype.itemsize
        budget = BSQ_CHUNK_BYTES if self.interleave == "bsq" else CHUNK_BYTES
        return max(1, budget // max(1, line))

    def _direct(self, band_order) -> bool:
        """True when the file's bytes are already the float32 BIP output (read straight into it)."""
        return self.interleave == "bip" and self.dtype.kind == "f" and self.dtype.itemsize == 4 \
            and band_order is None

    def _fill(self, f: _PositionalFile, dest: np.ndarray, a: int, b: int, bidx, order: np.ndarray,
              scratch: np.ndarray | None, cast: np.ndarray | None, kernel) -> None:
        """Lines a:b as float32 (b - a, W, B) in increasing-wavelength band order, into ``dest``.

        ``scratch`` holds the raw bytes of one chunk, ``cast`` (if given) one chunk as float32 for ``kernel``
        (the compiled transpose) when the file is not float32.
        """
        k, L, S, B = b - a, self.lines, self.samples, self.bands
        isz = self.dtype.itemsize
        if self._direct(bidx):
            f.read_at(dest, self.offset + a * S * B * isz)
            if not self.dtype.isnative:
                dest.view(np.uint32).byteswap(inplace=True)
            return
        if self.interleave == "bsq":
            raw = scratch[:B * k * S * isz].view(self.dtype).reshape(B, k, S)
            # Read each band into its sorted slot: the reorder costs nothing here.
            for j, band in enumerate(order):
                f.read_at(raw[j], self.offset + (int(band) * L + a) * S * isz)
        elif self.interleave == "bil":
            raw = scratch[:k * B * S * isz].view(self.dtype).reshape(k, B, S)
            f.read_at(raw, self.offset + a * B * S * isz)
        else:
            raw = scratch[:k * S * B * isz].view(self.dtype).reshape(k, S, B)
            f.read_at(raw, self.offset + a * S * B * isz)
        if not self.dtype.isnative and isz > 1:
            # Swap in the small, cached scratch buffer, so the cast below is a native one.
            raw.byteswap(inplace=True)
            raw = raw.view(self.dtype.newbyteorder("="))
        if self.interleave == "bip":
            np.copyto(dest, raw if bidx is None else raw[:, :, bidx], casting="unsafe")
            return
        if kernel is not None:
            if raw.dtype != np.float32:
                c = cast[:raw.size].reshape(raw.shape)
                np.copyto(c, raw, casting="unsafe")
                raw = c
            src = raw.transpose(1, 0, 2) if self.interleave == "bsq" else raw          # (k, B, W)
            kernel(src, dest, self._identity if self.interleave == "bsq" else order)
            return
        if self.interleave == "bsq":
            src = raw.transpose(1, 2, 0)
        else:
            src = (raw if bidx is None else raw[:, bidx, :]).transpose(0, 2, 1)
        np.copyto(dest, src, casting="unsafe")

    @property
    def _identity(self) -> np.ndarray:
        return np.arange(self.bands, dtype=np.intp)

    def read_into(self, out: np.ndarray, r0: int, band_order: np.ndarray | None = None,
                  finish: Callable[[np.ndarray, int], None] | None = None, threads: int | None = None) -> None:
        """Fill ``out`` ((h, W, B) float32, C-contiguous) with lines ``r0:r0+h`` converted to float32, bands in
        ``band_order`` (file band indices, or None for file order). ``finish(chunk, first_line)`` is applied to
        each chunk right after it is filled, while it is still in cache (scale, ignore value, calibration)."""
        h = out.shape[0]
        if h == 0:
            return
        if r0 < 0 or r0 + h > self.lines:
            raise IndexError(f"lines {r0}:{r0 + h} out of range for {self.lines} lines")
        bidx = _band_index(band_order, self.bands)
        order = self._identity if band_order is None else np.ascontiguousarray(band_order, np.intp)
        k = self.chunk_lines()
        chunks = [(a, min(a + k, h)) for a in range(0, h, k)]
        large = out.nbytes >= THREAD_MIN_BYTES
        n_threads = threads if threads is not None else IO_THREADS
        n_threads = max(1, min(n_threads if large else 1, len(chunks)))
        # The compiled tiled transpose only for BSQ: there numpy's transposing copy walks one band plane per page.
        # A BIL chunk (k, B, W) is a stack of small (B, W) planes that stay in cache, and numpy's own transposing
        # (and casting) copy runs 2.5-3x faster than the kernel on them.
        kernel = _transpose_kernel() if (large and self.interleave == "bsq") else None
        chunk_values = min(k, h) * self.samples * self.bands
        scratch_bytes = 0 if self._direct(bidx) else chunk_values * self.dtype.itemsize
        cast_values = chunk_values if (kernel is not None and self.dtype.newbyteorder("=") != np.float32) else 0
        path = Path(self.data_file)

        def work(t: int) -> None:
            f = _PositionalFile(path)
            try:
                scratch = _aligned_empty((scratch_bytes,), np.uint8) if scratch_bytes else None
                cast = _aligned_empty((cast_values,), np.float32) if cast_values else None
                for a, b in chunks[t::n_threads]:
                    dest = out[a:b]
                    self._fill(f, dest, r0 + a, r0 + b, bidx, order, scratch, cast, kernel)
                    if finish is not None:
                        finish(dest, r0 + a)
            finally:
                f.close()

        if n_threads == 1:
            work(0)
            return
        with ThreadPoolExecutor(n_threads, thread_name_prefix="hsimin-read") as ex:
            futures = [ex.submit(work, t) for t in range(n_threads)]
            for fut in futures:
                fut.result()

    def read_lines(self, r0: int, r1: int, band_order: np.ndarray | None = None,
                   finish: Callable[[np.ndarray, int], None] | None = None) -> np.ndarray:
        """Lines r0:r1 as a new page-aligned (r1 - r0, W, B) float32 array (see :meth:`read_into`)."""
        out = _aligned_empty((max(0, r1 - r0), self.samples, self.bands), np.float32)
        self.read_into(out, r0, band_order, finish)
        return out


class EnviLazyArray(LazyCubeArray):
    """(H, W, B) float32 reflectance of an ENVI file, read on demand.

    ``scale`` (scalar or (B,) in sorted band order) divides the values; ``ignore`` (in file units) becomes
    NaN before scaling. Pickles as its description (path, layout), not as data.
    """

    def __init__(self, layout: RawLayout, band_order: np.ndarray | None = None, scale=None, ignore=None):
        super().__init__((layout.lines, layout.samples, layout.bands))
        self.layout = layout
        self.band_order = None if band_order is None else np.asarray(band_order, np.intp)
        self.scale = None if scale is None else np.asarray(scale, np.float32)
        # Values are compared after the cast to float32, so the ignore value is cast the same way.
        with np.errstate(over="ignore"):
            self.ignore = None if ignore is None or not math.isfinite(ignore) else np.float32(ignore)

    def _finish(self, chunk: np.ndarray, first_line: int) -> None:
        if self.ignore is not None:
            np.copyto(chunk, np.float32(np.nan), where=chunk == self.ignore)
        if self.scale is not None:
            with np.errstate(over="ignore"):  # a float file's absurd values may overflow: inf, not a crash
                np.divide(chunk, self.scale, out=chunk)

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        fin = self._finish if (self.ignore is not None or self.scale is not None) else None
        return self.layout.read_lines(r0, r1, self.band_order, fin)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.layout.data_file!r}, shape={self.shape}, "
                f"{self.layout.interleave}, {self.layout.dtype.str})")
