"""ENVI cubes: a tolerant header parser, a fast lazy reader and a streaming, atomic writer.

Reading
-------
:func:`open_envi` accepts a header (``NAME.hdr``) or its data file (``NAME``, ``NAME.img``, ``.dat``, ``.raw``,
``.bsq``, ``.bil``, ``.bip``, or the header's ``data file`` key). It understands BSQ, BIL and BIP; data types
1, 2, 3, 4, 5, 12, 13, 14, 15 (complex types are refused); byte order 0 and 1; ``header offset``; keys in any
case; ``wavelength units`` (nm, um/micrometers/microns, mm, cm-1, or none/unknown: then the magnitude decides,
see :func:`hsimin.core.units.infer_unit`); ``fwhm``; ``bbl``; ``data ignore value``; ``reflectance scale
factor`` (one value, or one per band). Bands are put in increasing-wavelength order once, at open.

The header is parsed by hsimin's own parser rather than ``spectral.io.envi.read_envi_header``: SPy's fails on
blank lines inside ``{...}``, warns on capitalised keys and raises bare exceptions, while every failure here
must become a :class:`~hsimin.core.errors.HeaderError` that names the header and the key.

Data are never loaded at open (unless ``load=True``): :attr:`Cube.data` is an :class:`EnviLazyArray` that
reads the lines it is asked for with positioned reads (``os.preadv``) into page-aligned buffers, converts and
transposes them to band-last chunk by chunk (a few MiB, so the work stays in cache), on a few threads for
large reads, with a numba-compiled tiled transpose for BSQ when numba is available. Positioned reads rather than a
memmap: a file that shrinks under a memmap kills the process with SIGBUS, while a short read here raises
:class:`TruncatedDataError`. A read-only ``np.memmap`` of the file is still available as
:meth:`RawLayout.memmap` for raw access.

``data ignore value``: values equal to it (compared after the cast to float32, before scaling) read as NaN,
and ``mask`` is False where a pixel holds it in every band. Building that mask reads the first band at open
(for BIP files that touches every page of the file) and then the lines that hold candidates; memory stays
bounded.

A header without a ``wavelength`` list is refused (:class:`WavelengthError`) unless ``wavelengths=`` (nm) is
given: hsimin never invents a wavelength axis, because a cube on a made-up axis would be silently misaligned
with every library and model.

Writing
-------
:func:`write_envi_cube` writes ``NAME.hdr`` plus ``NAME.img`` (BIL float32 by default), streaming the cube block
by block, atomically (data renamed into place first, header last). hsimin's own header keys carry what ENVI
has no key for, so a written cube reads back with the same metadata:

``hole id``, ``tray id``, ``depth from m``, ``depth to m``, ``pixel size mm``
    :class:`~hsimin.core.types.ScanMeta` fields (``sensor type`` holds ``ScanMeta.sensor``).
``hsimin mask file``
    The name of a sidecar file, ``NAME_mask.img`` beside the header: ``lines x samples`` bytes, row-major,
    1 = core (mask True), 0 = not core. Written only when the cube has a mask. ENVI and SPy ignore the key.
``hsimin spectrum table``, ``hsimin spectrum table types``
    The cube's per-spectrum table (:attr:`Cube.table`, e.g. a TSG package's depths and TSA answers) as a
    sidecar CSV, ``NAME_spectra.csv``, and its column types (:mod:`hsimin.io.table_csv`). Written only when the
    cube has a table; the name must be a plain file name beside the header.

Float outputs round-trip bit for bit (NaN included). Integer outputs store round(reflectance x scale) with a
``data ignore value`` for NaN, so on reading back all-NaN pixels also get mask False.
"""
from __future__ import annotations

import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.blocks import iter_blocks
from ..core.errors import (FormatError, HeaderError, HsiminError, InputError, OutputError, TruncatedDataError,
                           WavelengthError)
from ..core.types import Cube, ScanMeta
from ..core.units import infer_unit, normalise_unit, sort_order, to_nanometers
from .atomic import atomic_outputs, ensure_space
from .lazy import LazyCubeArray
from .registry import Reader, register_reader
from .table_csv import column_types, read_table_csv, table_csv_text

__all__ = ["ENVI_DTYPES", "EnviHeader", "EnviInfo", "EnviLazyArray", "RawLayout", "find_envi_files",
           "inspect_envi", "open_envi", "parse_envi_header", "read_envi_header", "sniff_envi",
           "write_envi_cube"]

ENVI_DTYPES: dict[int, str] = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8",
                               15: "u8"}
"""ENVI ``data type`` code -> numpy dtype (byte order added from ``byte order``)."""

_DTYPE_CODES = {np.dtype(v).name: k for k, v in ENVI_DTYPES.items()}
_COMPLEX_CODES = {6: "complex64", 9: "complex128"}
DATA_EXTENSIONS = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", "")
"""Data-file names tried beside ``NAME.hdr``, in order (after the ``data file`` key)."""

MAX_HEADER_BYTES = 64 * 2**20
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

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


# --------------------------------------------------------------------------------------------- header

@dataclass
class EnviHeader:
    """A parsed ENVI header: lower-case keys (runs of spaces collapsed) -> raw value text.

    Values that were written in ``{...}`` hold the text between the braces (newlines kept); ``braced``
    lists their keys. Typed access (:meth:`get_int`, :meth:`get_float`, :meth:`get_floats`) raises
    :class:`HeaderError` naming the header and the key.
    """

    path: Path
    fields: dict[str, str]
    braced: set[str] = field(default_factory=set)

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def text(self, key: str) -> str | None:
        """The value as one line of text (runs of whitespace collapsed), or None if absent/empty."""
        v = self.fields.get(key)
        if v is None:
            return None
        v = " ".join(v.split())
        return v or None

    def get_int(self, key: str, default: int | None = None, *, minimum: int | None = None) -> int:
        """An integer value; ``default`` if absent (absent without a default -> HeaderError)."""
        raw = self.text(key)
        if raw is None:
            if default is None:
                raise HeaderError(f"the header has no `{key}`; add `{key} = <integer>`", path=self.path)
            return default
        try:
            value = int(raw)
        except ValueError:
            try:
                f = float(raw)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f.is_integer()):
                raise HeaderError(f"`{key} = {raw[:40]}` is not an integer", path=self.path) from None
            value = int(f)
        if minimum is not None and value < minimum:
            raise HeaderError(f"`{key} = {value}` must be at least {minimum}", path=self.path)
        return value

    def get_float(self, key: str) -> float | None:
        """A finite number, or None if absent."""
        raw = self.text(key)
        if raw is None:
            return None
        vals = self.get_floats(key)
        if vals.size != 1:
            raise HeaderError(f"`{key}` holds {vals.size} values, want one number", path=self.path)
        return float(vals[0])

    def get_floats(self, key: str, count: int | None = None) -> np.ndarray | None:
        """A list of finite numbers (float64), or None if absent. ``count``: required length."""
        raw = self.fields.get(key)
        if raw is None:
            return None
        items = [s for s in re.split(r"[,\s]+", raw.strip()) if s]
        try:
            vals = np.array([float(s) for s in items], dtype=np.float64)
        except ValueError:
            bad = next(s for s in items if not _is_number(s))
            raise HeaderError(f"`{key}` holds {bad[:30]!r}, which is not a number", path=self.path) from None
        if vals.size == 0:
            raise HeaderError(f"`{key}` is empty", path=self.path)
        if not np.all(np.isfinite(vals)):
            raise HeaderError(f"`{key}` holds NaN or infinite values", path=self.path)
        if count is not None and vals.size != count:
            raise HeaderError(f"`{key}` has {vals.size} values for {count} bands; give one per band",
                              path=self.path)
        return vals


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def parse_envi_header(text: str, path: str | os.PathLike = "<header>") -> EnviHeader:
    """Parse ENVI header text. Keys are case-insensitive; ``{...}`` values may span lines; ``;`` starts a
    comment line. Raises :class:`HeaderError` if the text does not start with ``ENVI`` or a brace never
    closes."""
    path = Path(path)
    lines = text.splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].strip().lstrip("\ufeff").upper().startswith("ENVI"):
        raise HeaderError("not an ENVI header (the first line is not 'ENVI')", path=path)
    i += 1
    fields: dict[str, str] = {}
    braced: set[str] = set()
    while i < len(lines):
        line = lines[i].strip()
        start = i + 1
        i += 1
        if not line or line.startswith(";") or "=" not in line:
            continue  # blank lines, comments and stray text carry nothing ENVI would read
        key, _, value = line.partition("=")
        key = " ".join(key.split()).lower()
        value = value.strip()
        if not key:
            continue
        if value.startswith("{"):
            # Collect the value's lines and test only each new line for the closing brace: testing the whole
            # growing value every time made an unclosed brace quadratic (83 s for 640 000 short lines).
            parts = [value[1:]]
            closed = "}" in parts[0]
            while not closed:
                if i >= len(lines):
                    raise HeaderError(f"the value of `{key}` opens '{{' on line {start} and never closes it "
                                      "(add the closing '}')", path=path)
                nxt = lines[i]
                i += 1
                if nxt.strip().startswith(";"):
                    continue
                parts.append(nxt)
                closed = "}" in nxt
            fields[key] = "\n".join(parts).partition("}")[0].strip()
            braced.add(key)
        else:
            fields[key] = value
            braced.discard(key)
    return EnviHeader(path, fields, braced)


def read_envi_header(path: str | os.PathLike) -> EnviHeader:
    """Read and parse an ENVI header file (see :func:`parse_envi_header`)."""
    from .files import read_bytes_file
    path = Path(path)
    try:
        data = read_bytes_file(path, what="the header", max_bytes=MAX_HEADER_BYTES, error=HeaderError)
    except HeaderError as exc:
        if "cannot read" in exc.message:
            raise FormatError(exc.message, path=path) from None
        raise
    if b"\x00" in data:
        raise HeaderError("not an ENVI header (the file is binary); give the .hdr text file", path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # old headers write µm in Latin-1
    return parse_envi_header(text, path)


# --------------------------------------------------------------------------------------------- files

def _is_envi_header(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"ENVI")


def _sibling_header(data: Path) -> Path | None:
    """The header of a data file: NAME.hdr (for NAME.ext) or NAME.ext.hdr, if it is an ENVI header."""
    cands = [data.with_suffix(".hdr"), data.with_suffix(".HDR"), Path(str(data) + ".hdr"),
             Path(str(data) + ".HDR")] if data.suffix else [Path(str(data) + ".hdr"), Path(str(data) + ".HDR")]
    for c in cands:
        if c != data and c.is_file() and _is_envi_header(c):
            return c
    return None


def _data_candidates(hdr: Path, header: EnviHeader | None) -> list[Path]:
    out: list[Path] = []
    if header is not None and header.text("data file"):
        df = Path(header.text("data file"))
        out.append(df if df.is_absolute() else hdr.parent / df)
    stem = hdr.with_suffix("") if hdr.suffix.lower() == ".hdr" else hdr
    for ext in DATA_EXTENSIONS:
        for e in ((ext, ext.upper()) if ext else (ext,)):
            out.append(Path(str(stem) + e))
    return [c for c in dict.fromkeys(out) if c != hdr]


def find_envi_files(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """(header, data file) for a header or a data file. The data file is None if no candidate exists.

    Raises :class:`FormatError` if ``path`` is a data file without a header.
    """
    p = Path(path)
    if p.suffix.lower() == ".hdr" or (p.is_file() and _is_envi_header(p)):
        hdr = p
    else:
        hdr = _sibling_header(p)
        if hdr is None:
            raise FormatError(f"no ENVI header found beside this file (looked for {p.with_suffix('.hdr').name} "
                              f"and {p.name}.hdr)", path=p)
        if p.is_file():
            return hdr, p
    return hdr, _find_data(hdr, None)


def _find_data(hdr: Path, header: EnviHeader | None) -> Path | None:
    for c in _data_candidates(hdr, header):
        try:
            if c.is_file():
                return c
        except (OSError, ValueError):  # a `data file` value that is no usable name (too long, NUL bytes)
            continue
    return None


def sniff_envi(path: str | os.PathLike) -> bool:
    """True for an ENVI header (``.hdr`` or a file starting with ``ENVI``) or a data file with a sibling header."""
    p = Path(path)
    if not p.is_file():
        return False
    if p.suffix.lower() == ".hdr":
        return True
    with open(p, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_MAGIC):
        return False
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"ENVI"):
        return True
    return _sibling_header(p) is not None


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


# --------------------------------------------------------------------------------------------- open

@dataclass
class EnviInfo:
    """Everything :func:`open_envi` learns from a header, before touching the data.

    Band vectors are in increasing-wavelength order; ``band_order`` maps them to file bands (None: the
    file is in order already).
    """

    header: EnviHeader
    layout: RawLayout
    wavelengths: np.ndarray
    fwhm: np.ndarray | None
    bad_bands: np.ndarray | None
    band_order: np.ndarray | None
    scale: float | np.ndarray | None
    ignore: float | None
    meta: ScanMeta
    mask_file: Path | None
    wavelengths_unit: str | None
    table_file: Path | None = None


def _layout(header: EnviHeader, hdr: Path, data: Path | None) -> RawLayout:
    H = header
    samples = H.get_int("samples", minimum=1)
    lines = H.get_int("lines", minimum=1)
    bands = H.get_int("bands", minimum=1)
    code = H.get_int("data type")
    if code in _COMPLEX_CODES:
        raise HeaderError(f"`data type = {code}` is {_COMPLEX_CODES[code]}; hsimin reads real-valued cubes only",
                          path=hdr)
    if code not in ENVI_DTYPES:
        raise HeaderError(f"unknown `data type = {code}`; ENVI codes are "
                          f"{', '.join(map(str, sorted(ENVI_DTYPES)))}", path=hdr)
    interleave = H.text("interleave")
    if interleave is None:
        if bands != 1:
            raise HeaderError("the header has no `interleave`; add `interleave = bsq`, `bil` or `bip`", path=hdr)
        interleave = "bsq"
    interleave = interleave.lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise HeaderError(f"unknown `interleave = {interleave[:20]}`; use bsq, bil or bip", path=hdr)
    byte_order = H.get_int("byte order", 0)
    if byte_order not in (0, 1):
        raise HeaderError(f"`byte order = {byte_order}`; use 0 (little-endian) or 1 (big-endian)", path=hdr)
    offset = H.get_int("header offset", 0, minimum=0)
    dtype = np.dtype(ENVI_DTYPES[code]).newbyteorder("<" if byte_order == 0 else ">")
    if data is None:
        tried = ", ".join(c.name for c in _data_candidates(hdr, H)[:8])
        raise FormatError(f"the data file is missing (looked for {tried}); put it beside the header",
                          path=hdr)
    need = offset + lines * samples * bands * dtype.itemsize
    try:
        have = data.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read the data file ({exc.strerror or exc})", path=data) from None
    if have < need:
        raise TruncatedDataError(
            f"the data file has {have} bytes but {hdr.name} needs {need} ({offset} header offset + {lines} lines "
            f"x {samples} samples x {bands} bands x {dtype.itemsize} bytes): the file is truncated or the header "
            "is wrong", path=data)
    # Absolute, so a lazy array keeps working after a chdir or in another process.
    return RawLayout(os.path.abspath(data), offset, dtype, lines, samples, bands, interleave)


def _wavelengths(header: EnviHeader, hdr: Path, bands: int, given) -> tuple[np.ndarray, str | None, str | None]:
    """(wavelengths in nm, in file band order; canonical unit; unit as written)."""
    unit_text = header.text("wavelength units")
    if given is not None:
        wl = np.asarray(given, dtype=np.float64).ravel()
        if wl.size != bands or not np.all(np.isfinite(wl)):
            raise WavelengthError(f"wavelengths= has {wl.size} values for {bands} bands (want finite nm, one per "
                                  "band)", path=hdr)
        try:  # the header's unit still tells the unit of its fwhm list
            unit = normalise_unit(unit_text) or "nm"
        except WavelengthError:
            unit = "nm"
        return wl, unit, unit_text
    if "wavelength" not in header:
        ftype = (header.text("file type") or "").lower()
        if "classification" in ftype:
            raise FormatError("this is an ENVI Classification file (a mineral map); open it with hsimin.open_map",
                              path=hdr)
        raise WavelengthError("the header has no `wavelength` list, so the bands cannot be placed; add "
                              "`wavelength = {...}` and `wavelength units = Nanometers`, or pass wavelengths= "
                              "(nm) to open_cube", path=hdr)
    values = header.get_floats("wavelength")
    if values.size != bands:
        raise WavelengthError(f"the header lists {values.size} wavelengths for {bands} bands; give one per band",
                              path=hdr)
    try:
        unit = normalise_unit(unit_text)
        wl = to_nanometers(values, unit)
        unit = unit or infer_unit(values)
    except WavelengthError as exc:
        raise WavelengthError(exc.message, path=hdr) from None
    if np.any(wl <= 0):
        raise WavelengthError("wavelengths must be positive", path=hdr)
    return wl, unit, unit_text


def _fwhm_nm(fwhm: np.ndarray, wl_nm: np.ndarray, unit: str | None) -> np.ndarray:
    """FWHM in nm from the header's unit. For cm-1, a width dv at wavelength l (nm) spans
    dl = l^2 dv / 1e7 nm (the derivative of l = 1e7 / v)."""
    if unit == "um":
        return fwhm * 1000.0
    if unit == "mm":
        return fwhm * 1.0e6
    if unit == "cm-1":
        return wl_nm ** 2 * fwhm / 1.0e7
    return fwhm.astype(np.float64, copy=True)


def _scan_meta(header: EnviHeader, hdr: Path, attrs: dict) -> ScanMeta:
    """ScanMeta from the header: ``sensor type`` and hsimin's own keys (see the module docstring)."""
    sensor = header.text("sensor type")
    if sensor is not None and sensor.lower() == "unknown":
        sensor = None
    try:
        return ScanMeta(hole_id=header.text("hole id"), tray_id=header.text("tray id"),
                        depth_from_m=header.get_float("depth from m"), depth_to_m=header.get_float("depth to m"),
                        sensor=sensor, pixel_size_mm=header.get_float("pixel size mm"), source=str(hdr),
                        attrs=attrs)
    except HeaderError:
        raise
    except HsiminError as exc:  # e.g. depth to above depth from
        raise HeaderError(exc.message, path=hdr) from None


def inspect_envi(path: str | os.PathLike, *, wavelengths=None, apply_scale: bool = True) -> EnviInfo:
    """Parse and check an ENVI header and its data file's size; read no data.

    ``apply_scale=False`` ignores ``reflectance scale factor`` and ``data ignore value`` (raw DN, for
    calibration). Raises :class:`HeaderError`, :class:`FormatError` (missing data file),
    :class:`TruncatedDataError`, :class:`WavelengthError`.
    """
    hdr, _ = find_envi_files(path)
    p = Path(path)
    header = read_envi_header(hdr)
    data = p if (p != hdr and p.is_file()) else _find_data(hdr, header)
    layout = _layout(header, hdr, data)
    B = layout.bands
    wl_file, unit, unit_text = _wavelengths(header, hdr, B, wavelengths)
    try:
        order = sort_order(wl_file)
    except WavelengthError as exc:
        raise WavelengthError(exc.message, path=hdr) from None
    wl = wl_file if order is None else wl_file[order]

    fwhm = header.get_floats("fwhm", B)
    if fwhm is not None:
        fwhm = _fwhm_nm(fwhm, wl_file, unit)
        fwhm = fwhm if order is None else fwhm[order]
    bbl = header.get_floats("bbl", B)
    bad = None if bbl is None else (bbl == 0)
    if bad is not None and order is not None:
        bad = bad[order]

    scale = ignore = None
    if apply_scale:
        s = header.get_floats("reflectance scale factor")
        if s is not None:
            if s.size == 1:
                scale = float(s[0])
            elif s.size == B:
                scale = s if order is None else s[order]
            else:
                raise HeaderError(f"`reflectance scale factor` has {s.size} values; give one, or one per band "
                                  f"({B})", path=hdr)
            with np.errstate(over="ignore"):
                s32 = np.asarray(scale, np.float32)
            if np.any(s32 == 0) or not np.all(np.isfinite(s32)):
                raise HeaderError(f"`reflectance scale factor` is {header.text('reflectance scale factor')[:40]}; "
                                  "reflectance = value / factor needs a non-zero factor within float32 range",
                                  path=hdr)
            # the largest value the file can hold, divided by the factor, must stay a float32 number
            dt = layout.dtype
            vmax = float(np.iinfo(dt).max) if dt.kind in "iu" else 1.0
            if np.any(np.abs(s32.astype(np.float64)) * float(np.finfo(np.float32).max) < vmax):
                raise HeaderError(f"`reflectance scale factor` is {header.text('reflectance scale factor')[:40]}; so "
                                  f"small a factor turns {dt.name} values into infinities; give the factor that "
                                  "divides the stored values into reflectance (e.g. 10000)", path=hdr)
            if np.all(np.asarray(scale) == 1):
                scale = None
        ignore = header.get_float("data ignore value")

    table_file = None
    table_name = header.text("hsimin spectrum table")
    if table_name:
        if Path(table_name).name != table_name or table_name in (".", ".."):
            raise HeaderError(f"`hsimin spectrum table` must be a file name beside the header, not "
                              f"{table_name[:60]!r}", path=hdr)
        table_file = hdr.parent / table_name

    mask_file = None
    if header.text("hsimin mask file"):
        mask_file = Path(os.path.abspath(hdr.parent / header.text("hsimin mask file")))

    attrs = {
        "format": "envi",
        "interleave": layout.interleave,
        "dtype": np.dtype(layout.dtype).newbyteorder("=").name,
        "byte_order": header.get_int("byte order", 0),
        "header_offset": layout.offset,
        "data_file": layout.data_file,
        "file_type": header.text("file type"),
        "wavelength_units": unit_text,
        "bands_reordered": order is not None,
        "reflectance_scale_factor": (None if scale is None else
                                     float(scale) if np.ndim(scale) == 0 else [float(v) for v in scale]),
        "data_ignore_value": ignore,
        "description": header.text("description"),
    }
    if mask_file is not None:
        attrs["mask_file"] = str(mask_file)
    if table_file is not None:
        attrs["spectrum_table_file"] = str(table_file)
    meta = _scan_meta(header, hdr, attrs)
    return EnviInfo(header, layout, wl, fwhm, bad, order, scale, ignore, meta, mask_file, unit, table_file)


def _read_mask_file(mask_file: Path, hdr: Path, H: int, W: int) -> np.ndarray:
    try:
        size = mask_file.stat().st_size
    except OSError:
        raise FormatError(f"the mask file {mask_file.name} named by `hsimin mask file` is missing; put it "
                          "beside the header or delete the key", path=hdr) from None
    if size < H * W:
        raise TruncatedDataError(f"the mask file has {size} bytes, want {H * W} ({H} lines x {W} samples)",
                                 path=mask_file)
    raw = np.fromfile(mask_file, dtype=np.uint8, count=H * W).reshape(H, W)
    return raw != 0


def _ignore_mask(info: EnviInfo) -> np.ndarray | None:
    """(H, W) bool, False where a pixel holds the ignore value in every band; None if no pixel does.

    One band (the first in the file, the cheapest to read) finds the candidates; only the lines holding a
    candidate are then read in full to confirm them.
    """
    lay = info.layout
    with np.errstate(over="ignore"):
        ign = np.float32(info.ignore)
    mm = lay.memmap()
    first = {"bsq": lambda: mm[0], "bil": lambda: mm[:, 0, :], "bip": lambda: mm[:, :, 0]}[lay.interleave]()
    cand = np.asarray(first, dtype=np.float32) == ign
    del mm, first
    if not cand.any():
        return None
    mask = np.ones(cand.shape, bool)
    rows = np.flatnonzero(cand.any(axis=1))
    step = max(1, (64 * 2**20) // max(1, lay.samples * lay.bands * 4))
    i = 0
    while i < rows.size:
        r0 = int(rows[i])
        r1 = min(lay.lines, r0 + step)
        block = lay.read_lines(r0, r1)
        mask[r0:r1] &= ~((block == ign).all(axis=2) & cand[r0:r1])
        i = int(np.searchsorted(rows, r1))
    return None if mask.all() else mask


def open_envi(path: str | os.PathLike, *, load: bool = False, wavelengths=None) -> Cube:
    """Open an ENVI cube as a :class:`~hsimin.core.types.Cube`.

    Parameters
    ----------
    path : the ``.hdr`` header or its data file
    load : read the whole cube into memory (float32 ndarray) instead of reading lines on demand
    wavelengths : (B,) nm, file band order; used instead of the header's list (needed for headers that have
        none)

    Returns a Cube whose ``data`` is (lines, samples, bands) float32 reflectance (value / ``reflectance scale
    factor``; ``data ignore value`` -> NaN), bands sorted by increasing wavelength (nm); ``fwhm`` (nm) and
    ``bad_bands`` (from ``bbl``) in the same order; ``mask`` False where every band holds the ignore value or
    where hsimin's mask sidecar says so (None if neither applies); ``meta.attrs`` describes the file.
    """
    info = inspect_envi(path, wavelengths=wavelengths)
    lay = info.layout
    hdr = info.header.path
    mask = None
    if info.mask_file is not None:
        mask = _read_mask_file(info.mask_file, hdr, lay.lines, lay.samples)
    if info.ignore is not None and math.isfinite(info.ignore):
        ign_mask = _ignore_mask(info)
        if ign_mask is not None:
            mask = ign_mask if mask is None else (mask & ign_mask)
    table = None
    if info.table_file is not None:
        types = info.header.text("hsimin spectrum table types")
        types = None if not types else [t.strip() for t in types.strip("{} ").split(",") if t.strip()]
        table = read_table_csv(info.table_file, lay.lines * lay.samples, types)
    data = EnviLazyArray(lay, info.band_order, info.scale, info.ignore)
    if load:
        data = np.asarray(data)
    return Cube(data, info.wavelengths, fwhm=info.fwhm, bad_bands=info.bad_bands, mask=mask, meta=info.meta,
                table=table)


# --------------------------------------------------------------------------------------------- write

_WRITE_DTYPES = ("float32", "float64", "int16", "uint16", "int32")


def _header_value(value: Any) -> str:
    """One-line header text: no newlines or braces, which would end the value early."""
    return " ".join(re.sub(r"[{}]", " ", str(value)).split())


def _format_list(values, per_line: int = 8) -> str:
    items = list(values)
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n " + ",\n ".join(rows) + "}"


def _header_text(cube: Cube, interleave: str, dtype: np.dtype, scale: float | None, ignore: int | None,
                 mask_name: str | None, description: str | None, table_name: str | None = None) -> str:
    from .. import __version__
    H, W, B = cube.shape
    m = cube.meta
    out = ["ENVI",
           "description = {" + _header_value(description or m.attrs.get("description")
                                             or f"written by hsimin {__version__}") + "}",
           f"samples = {W}", f"lines = {H}", f"bands = {B}", "header offset = 0", "file type = ENVI Standard",
           f"data type = {_DTYPE_CODES[dtype.name]}", f"interleave = {interleave}", "byte order = 0"]
    if m.sensor:
        out.append(f"sensor type = {_header_value(m.sensor)}")
    out.append("wavelength units = Nanometers")
    out.append("wavelength = " + _format_list(repr(float(w)) for w in cube.wavelengths))
    if cube.fwhm is not None:
        out.append("fwhm = " + _format_list(repr(float(w)) for w in cube.fwhm))
    if cube.bad_bands is not None:
        out.append("bbl = " + _format_list(("0" if b else "1") for b in cube.bad_bands))
    if scale is not None:
        out.append(f"reflectance scale factor = {scale!r}")
    if ignore is not None:
        out.append(f"data ignore value = {ignore}")
    for key, value in (("hole id", m.hole_id), ("tray id", m.tray_id)):
        if value is not None and _header_value(value):
            out.append(f"{key} = {_header_value(value)}")
    for key, value in (("depth from m", m.depth_from_m), ("depth to m", m.depth_to_m),
                       ("pixel size mm", m.pixel_size_mm)):
        if value is not None:
            out.append(f"{key} = {float(value)!r}")
    if mask_name is not None:
        out.append(f"hsimin mask file = {mask_name}")
    if table_name is not None:
        out.append(f"hsimin spectrum table = {table_name}")
        out.append("hsimin spectrum table types = " + _format_list(column_types(cube.table), per_line=16))
    return "\n".join(out) + "\n"


def _encode(block: np.ndarray, dtype: np.dtype, scale: float | None, ignore: int | None) -> np.ndarray:
    """(h, W, B) float32 reflectance -> file values of ``dtype`` (little-endian)."""
    if dtype.kind == "f":
        return block.astype(dtype.newbyteorder("<"), copy=False)
    info = np.iinfo(dtype)
    lo, hi = (info.min + 1, info.max) if info.min < 0 else (info.min, info.max - 1)  # keep ``ignore`` free
    v = np.rint(block.astype(np.float64) * scale)
    nan = np.isnan(v)
    np.clip(v, lo, hi, out=v)
    v[nan] = ignore
    return v.astype(dtype.newbyteorder("<"))


def write_envi_cube(cube: Cube, path: str | os.PathLike, *, overwrite: bool = False, interleave: str = "bil",
                    dtype: str = "float32", scale_factor: float | None = None, description: str | None = None,
                    max_bytes: int | None = None) -> Path:
    """Write a cube as ENVI: ``path`` (the ``.hdr``), ``NAME.img`` beside it, and ``NAME_mask.img`` if the cube
    has a mask (see the module docstring).

    Parameters
    ----------
    cube : Cube, (H, W, B) float32 reflectance, possibly lazy; streamed with ``iter_blocks`` (``max_bytes``
        per block), never held whole
    interleave : 'bil' (default), 'bsq' or 'bip'
    dtype : 'float32' (default), 'float64', or 'int16' / 'uint16' / 'int32', stored as
        round(reflectance x ``scale_factor``) (default 10000) with ``reflectance scale factor`` and a
        ``data ignore value`` (the type's minimum for signed, maximum for unsigned) where data are NaN
    description : the header's description (default: the source's, else "written by hsimin <version>")

    Wavelengths are written in nm with full precision, so a cube reads back bit-identical (float types).
    A cube with a per-spectrum table gets ``NAME_spectra.csv`` beside the header (see the module docstring).
    Atomic: data first, mask, table, header last. Returns the header path.
    """
    hdr = Path(path)
    if hdr.suffix.lower() != ".hdr":
        raise OutputError("an ENVI output must be the header, NAME.hdr (the data go to NAME.img)", path=hdr)
    inter = str(interleave).lower()
    if inter not in ("bil", "bsq", "bip"):
        raise InputError(f"interleave {interleave!r}: use bil, bsq or bip")
    if str(dtype) not in _WRITE_DTYPES:
        raise InputError(f"dtype {dtype!r}: use one of {', '.join(_WRITE_DTYPES)}")
    dt = np.dtype(str(dtype))
    scale = ignore = None
    if dt.kind in "iu":
        scale = float(10000.0 if scale_factor is None else scale_factor)
        if not (math.isfinite(scale) and scale > 0):
            raise InputError(f"scale_factor must be a positive number, got {scale_factor!r}")
        ignore = int(np.iinfo(dt).min if dt.kind == "i" else np.iinfo(dt).max)
    elif scale_factor is not None:
        raise InputError("scale_factor applies to integer dtypes only (int16, uint16, int32)")
    H, W, B = cube.shape
    if H * W * B == 0:
        raise InputError(f"the cube is empty ({H} lines x {W} samples x {B} bands); ENVI cannot hold it")
    ensure_space(hdr, H * W * B * dt.itemsize + (H * W if cube.mask is not None else 0))
    data_path = hdr.with_suffix(".img")
    mask_path = hdr.with_name(hdr.stem + "_mask.img") if cube.mask is not None else None
    table_path = hdr.with_name(hdr.stem + "_spectra.csv") if cube.table is not None else None
    extra = [p for p in (mask_path, table_path) if p is not None]
    finals = [data_path] + extra + [hdr]
    text = _header_text(cube, inter, dt, scale, ignore, None if mask_path is None else mask_path.name,
                        description, None if table_path is None else table_path.name)
    with atomic_outputs(finals, overwrite=overwrite) as temps:
        tmp_data, tmp_hdr = temps[0], temps[-1]
        isz = dt.itemsize
        try:
            with open(tmp_data, "r+b") as f:
                f.truncate(H * W * B * isz)
                for blk in iter_blocks(cube, max_bytes=max_bytes):
                    r0, r1 = blk.rows.start, blk.rows.stop
                    v = _encode(blk.data, dt, scale, ignore)
                    if inter == "bip":
                        f.seek(r0 * W * B * isz)
                        f.write(np.ascontiguousarray(v).data)
                    elif inter == "bil":
                        f.seek(r0 * B * W * isz)
                        f.write(np.ascontiguousarray(v.transpose(0, 2, 1)).data)
                    else:
                        for b in range(B):
                            f.seek((b * H + r0) * W * isz)
                            f.write(np.ascontiguousarray(v[:, :, b]).data)
            if mask_path is not None:
                np.asarray(cube.mask, dtype=np.uint8).tofile(temps[1])
            if table_path is not None:
                temps[len(temps) - 2].write_text(table_csv_text(cube.table), encoding="utf-8")
            tmp_hdr.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the ENVI cube ({exc.strerror or exc})", path=hdr) from None
    return hdr


register_reader(Reader(name="envi", sniff=sniff_envi, open=open_envi, priority=10,
                       description="ENVI .hdr + data file (BSQ/BIL/BIP, any byte order)"))
