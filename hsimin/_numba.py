"""Shared machinery of hsimin's compiled (numba) kernels: compile options and a row-parallel runner.

Compilation
-----------
Kernels are compiled with :func:`jit`: ``cache=True`` (compiled once per machine and argument types, then loaded
from ``__pycache__``), ``nogil=True`` (the GIL is released while they run), ``fastmath=False`` (NaN must stay
NaN and sums keep their order) and ``error_model="numpy"`` (float division by zero gives inf/NaN as in numpy
instead of raising; without it numba guards every division with a branch, which also stops LLVM from
vectorising loops that divide).

Parallelism
-----------
Kernels are serial over a range of rows; :func:`parallel_rows` runs them on row chunks from several threads,
handing chunks out one at a time (dynamic scheduling). This is used instead of numba's ``parallel=True``
because (a) a machine shared with other work deschedules threads at random, and a statically split
``prange`` then waits for its slowest thread while dynamic chunks keep every running thread busy; (b) numba's
OpenMP layer spin-waits, burning CPU that other processes need; (c) its ``workqueue`` layer aborts the process
when two Python threads launch kernels at once; (d) serial kernels compile several times faster.

:func:`parallel_chunks` is the coarser runner for a whole per-chunk pipeline (numpy steps and kernels, as in the
SWIR interpretation): fixed chunks, several in flight, each with its kernels and numpy's BLAS on one thread, so
that the numpy steps, which release the GIL but run on one core, use every core too.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numba

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
"""Keyword arguments of :func:`numba.njit` for hsimin's kernels."""

MIN_CHUNK_ROWS = 1024
"""Fewest rows per chunk: below about a millisecond of work, handing a chunk to a thread costs more than it saves."""

MAX_CHUNK_ROWS = 16384
"""Most rows per chunk, so that a thread descheduled in the middle of one holds the others up briefly."""


def jit(func=None, **overrides):
    """``numba.njit`` with :data:`JIT_OPTIONS` (overridable); usable bare (``@jit``) or called (``@jit(...)``)."""
    opts = {**JIT_OPTIONS, **overrides}
    if func is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(func)


def _default_threads() -> int:
    env = os.environ.get("HSIMIN_NUM_THREADS") or os.environ.get("NUMBA_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_state = threading.local()
_DEFAULT_THREADS = _default_threads()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def get_num_threads() -> int:
    """Threads :func:`parallel_rows` uses for calls from this thread (default: the CPUs this process may use,
    or ``$HSIMIN_NUM_THREADS`` / ``$NUMBA_NUM_THREADS``)."""
    return getattr(_state, "n", _DEFAULT_THREADS)


def set_num_threads(n: int) -> None:
    """Set the thread count of hsimin's kernels for calls from this thread: :func:`parallel_rows` and, within
    the size of numba's pool, numba's own ``prange`` kernels."""
    n = max(1, int(n))
    _state.n = n
    numba.set_num_threads(min(n, int(numba.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[int]:
    """Run the enclosed hsimin kernels on ``n`` threads (None: leave as is); restores the counts afterwards."""
    old = get_num_threads()
    old_numba = numba.get_num_threads()
    if n is None:
        yield old
        return
    set_num_threads(n)
    try:
        yield get_num_threads()
    finally:
        _state.n = old
        numba.set_num_threads(old_numba)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            # A larger pool replaces a smaller one; the old one finishes its queued work and is let go.
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hsimin-kernel")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def parallel_rows(n_rows: int, fn: Callable[[int, int], None], *, min_rows: int = MIN_CHUNK_ROWS) -> None:
    """Call ``fn(r0, r1)`` on consecutive row ranges covering ``0..n_rows``, from up to
    :func:`get_num_threads` threads (the calling thread included), chunks handed out dynamically.

    ``fn`` must release the GIL to run in parallel (a ``nogil`` numba kernel) and must touch only its own rows.
    The first exception raised by any chunk is re-raised here after all threads stop.
    """
    if n_rows <= 0:
        return
    threads = get_num_threads()
    if threads <= 1 or n_rows < 2 * min_rows:
        fn(0, n_rows)
        return
    per = min(MAX_CHUNK_ROWS, max(min_rows, -(-n_rows // (8 * threads))))
    _run_bounds([(r0, min(n_rows, r0 + per)) for r0 in range(0, n_rows, per)], fn, threads)


def parallel_chunks(n_rows: int, fn: Callable[[int, int], None], chunk: int) -> None:
    """Call ``fn(r0, r1)`` on the row chunks ``[0, chunk), [chunk, 2 chunk), ...`` of ``0..n_rows``, several at
    once from up to :func:`get_num_threads` threads, each call with hsimin's kernels on one thread (inside
    :func:`num_threads` (1)); one thread: the chunks in order, here.

    For a pipeline of numpy steps and compiled kernels per chunk: numpy releases the GIL in its array loops, so
    two chunks in flight keep two cores busy where one chunk at a time leaves the numpy steps on one. ``fn`` must
    touch only its own rows' outputs. The first exception is re-raised here after all threads stop."""
    if n_rows <= 0:
        return
    chunk = max(1, int(chunk))
    bounds = [(r0, min(n_rows, r0 + chunk)) for r0 in range(0, n_rows, chunk)]
    threads = get_num_threads()
    if threads <= 1 or len(bounds) < 2:
        for r0, r1 in bounds:
            fn(r0, r1)
        return

    def single(r0: int, r1: int) -> None:
        with num_threads(1):
            fn(r0, r1)

    # the chunks' matrix products on one BLAS thread each: several chunks each asking for every core's BLAS
    # thread oversubscribe the machine (OpenBLAS's threads spin while they wait: a third of the time lost)
    with _blas_threads(1):
        _run_bounds(bounds, single, threads)


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """numpy's BLAS on ``n`` threads inside (process-wide, by threadpoolctl, which scikit-learn brings), when
    called from the main thread; elsewhere nothing. OpenBLAS takes a thread count set from another thread only
    some of the time (and then may not take the restore either), so only the main thread sets and restores it;
    a chunked pipeline started from another thread runs with the BLAS as it is (slower, the same answers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:     # pragma: no cover - scikit-learn requires it
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _run_bounds(bounds: list, fn: Callable[[int, int], None], threads: int) -> None:
    """``fn`` on every ``(r0, r1)`` of ``bounds``, handed out one at a time to up to ``threads`` threads (the
    calling one included); the first exception is re-raised after all stop."""
    lock = threading.Lock()
    nxt = [0]
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
                if i >= len(bounds) or errors:
                    return
            try:
                fn(*bounds[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                with lock:
                    errors.append(exc)
                return

    helpers = min(threads, len(bounds)) - 1
    pool = _get_pool(helpers)
    futures = [pool.submit(worker) for _ in range(helpers)]
    worker()
    for f in futures:
        f.result()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- numba's own parallel kernels

PARALLEL_JIT_OPTIONS = {**JIT_OPTIONS, "parallel": True}
"""Keyword arguments of :func:`numba.njit` for kernels that use numba's ``prange`` (see :func:`parallel_jit`)."""

_LAUNCH_LOCK = threading.RLock()


def parallel_jit(func=None, **overrides):
    """``numba.njit`` with :data:`PARALLEL_JIT_OPTIONS` (overridable), for kernels parallelised with ``prange``.
    Launch them inside :func:`parallel_section`. (:func:`jit` + :func:`parallel_rows` is preferred: see the module
    docstring.)"""
    opts = {**PARALLEL_JIT_OPTIONS, **overrides}
    if func is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(func)


@contextlib.contextmanager
def parallel_section() -> Iterator[None]:
    """Hold this while a ``prange`` kernel runs, so that launches from several Python threads take turns (numba's
    workqueue threading layer aborts the process on concurrent launches). Re-entrant."""
    with _LAUNCH_LOCK:
        yield
