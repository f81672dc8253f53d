"""Shared configuration of hsimin's compiled (numba) kernels.

Every kernel is compiled with ``cache=True`` (so it is compiled once per machine and per argument types, and
loaded from ``__pycache__`` afterwards), ``nogil=True`` (so a caller's thread pool can overlap it with I/O) and
without ``fastmath`` unless a kernel says why it needs one of its flags (NaN must stay NaN).

Parallel kernels run on numba's thread pool, whose size is the number of cores unless ``NUMBA_NUM_THREADS`` or
:func:`num_threads` says otherwise. When numba falls back to its ``workqueue`` threading layer (no TBB or OpenMP
installed), two Python threads launching parallel kernels at once abort the process; :func:`parallel_section`
serialises the launches, at no cost to throughput because each launch already uses every core.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numba

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
"""Keyword arguments of :func:`numba.njit` for hsimin's serial kernels.

``error_model="numpy"``: float division by zero gives inf/NaN as in numpy instead of raising
``ZeroDivisionError``; without it numba guards every division with a branch, which also stops LLVM from
vectorising loops that divide."""

PARALLEL_JIT_OPTIONS = {**JIT_OPTIONS, "parallel": True}
"""Keyword arguments of :func:`numba.njit` for hsimin's parallel (``prange``) kernels."""

_LAUNCH_LOCK = threading.RLock()


def jit(func=None, **overrides):
    """``numba.njit`` with :data:`JIT_OPTIONS` (overridable); usable bare (``@jit``) or called (``@jit()``)."""
    opts = {**JIT_OPTIONS, **overrides}
    if func is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(func)


def parallel_jit(func=None, **overrides):
    """``numba.njit`` with :data:`PARALLEL_JIT_OPTIONS` (overridable)."""
    opts = {**PARALLEL_JIT_OPTIONS, **overrides}
    if func is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(func)


@contextlib.contextmanager
def parallel_section() -> Iterator[None]:
    """Hold this while a parallel kernel runs: launches from several Python threads then take turns.

    Re-entrant, so a kernel wrapper may call another wrapper inside it.
    """
    with _LAUNCH_LOCK:
        yield


def get_num_threads() -> int:
    """Threads a parallel kernel launched from this thread uses."""
    return int(numba.get_num_threads())


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[int]:
    """Run the enclosed parallel kernels on ``n`` threads (None: leave as is); restores the count afterwards.

    ``n`` is clipped to ``1..numba.config.NUMBA_NUM_THREADS`` (the pool's size, fixed at start-up). The setting
    is per calling thread, as in numba.
    """
    old = numba.get_num_threads()
    if n is None:
        yield old
        return
    n = max(1, min(int(n), int(numba.config.NUMBA_NUM_THREADS)))
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(old)


def row_chunks(n_rows: int, min_rows: int = 64) -> int:
    """How many chunks to split ``n_rows`` independent rows into for a ``prange`` loop.

    Each chunk allocates its scratch buffers once, so chunks must be few; a few per thread smooth out rows that
    cost more than others (spectra with long hulls or NaN gaps). Never more chunks than ``n_rows / min_rows``.
    """
    if n_rows <= 0:
        return 0
    per_thread = 4
    return int(max(1, min(get_num_threads() * per_thread, -(-n_rows // max(1, min_rows)))))
