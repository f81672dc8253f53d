"""Where a batch's trays run: a local process pool (spawned workers that die with the batch and are restarted
when one dies), in-process (one worker), or an existing Dask distributed cluster; and the signal handling that lets
Ctrl-C finish or abandon the trays in flight.

Each executor calls ``fn(job, config, out)`` (:func:`hsimin.batch.tray.process_tray`) for every job and hands
each result to ``on_result``; :mod:`hsimin.batch.runner` owns the run record and the resume logic.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from ..core.errors import ConfigError, HsiminError, import_optional
from .config import BatchConfig
from .session import TrayJob
from .tray import process_tray
from .tray_files import remove_outputs

__all__ = ["Stop", "run_dask", "run_inline", "run_local", "scheduler_client"]

class Stop:
    """SIGINT/SIGTERM/SIGHUP handling: first SIGINT -> stop submitting (``requested``); second, or SIGTERM or SIGHUP
    -> abandon (``abandon``; with ``interrupt_main`` also a KeyboardInterrupt in the main thread, for trays run
    in-process). :meth:`fail` stops submitting for a reason that is not the user's (a full disk): ``fatal``."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self, notify: Callable[[str], None], interrupt_main: bool = False):
        self.requested = threading.Event()
        self.abandon = threading.Event()
        self.notify = notify
        self.interrupt_main = interrupt_main
        self.fatal: HsiminError | None = None
        self._old: dict = {}

    def fail(self, error: HsiminError) -> None:
        """Start no further tray (those in flight finish): the session cannot go on. Nothing is printed here: the
        error is raised when the trays in flight are in, and the CLI prints it as its one line."""
        if self.fatal is None:
            self.fatal = error
        self.requested.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and not self.requested.is_set():
            self.requested.set()
            self.notify("interrupt: finishing the trays in flight, then stopping (Ctrl-C again abandons them)")
        else:
            self.requested.set()
            self.abandon.set()
            self.notify("interrupt: abandoning the trays in flight")
            if self.interrupt_main:
                raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# --------------------------------------------------------------------------------------------- executors

PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal this process gets when its parent dies."""


def _worker_init(parent_pid: int | None = None, quiet: bool = True) -> None:
    """Set up a local worker process: SIGINT is left to the parent (which decides whether to finish or abandon
    the trays), the worker dies with its parent (:func:`_die_with_parent`), and with ``quiet`` library warnings are
    silenced as the CLI silences them (spawned workers do not inherit the parent's warning filters; a matplotlib
    glyph warning printed by a worker would break the CLI's one-line promise)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if quiet:
        warnings.simplefilter("ignore")
    if parent_pid is not None:
        _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Exit when the process ``parent_pid`` (the batch that started this worker) dies, however it dies: a worker
    whose batch was killed (SIGKILL: no cleanup ran) would otherwise finish its tray for nobody, holding ~440 MB.

    Linux: the kernel sends this process SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), even while it
    is deep in compiled code. Everywhere, also: a daemon thread that checks every ``poll_s`` seconds whether the
    parent is still the parent (a dead parent's children are re-parented), which also covers a parent that died
    before the prctl took effect."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError, TypeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="hsimin-parent-watch", daemon=True).start()


def _died_record(job: TrayJob, attempts: int) -> dict:
    return {"status": "failed", "attempts": attempts,
            "error": f"the worker process died while processing this tray ({attempts} attempt"
                     f"{'s' if attempts != 1 else ''}: killed, or out of memory; try fewer --workers or a smaller "
                     "--block-mb)"}


def run_local(jobs: list[TrayJob], config: BatchConfig, out: str, workers: int, max_attempts: int,
               on_result: Callable[[TrayJob, dict], None], stop: Stop, fn: Callable = process_tray) -> list[TrayJob]:
    """Run ``fn(job, config, out)`` (default :func:`process_tray`) for every job on a local process pool;
    returns the jobs that were abandoned (in flight at a hard stop)."""
    ctx = multiprocessing.get_context("spawn")
    queue: deque[tuple[TrayJob, int]] = deque((j, 1) for j in jobs)
    in_flight: dict = {}
    solo = False  # a retried tray runs alone, so a tray that kills its worker is told apart from its neighbours

    quiet = os.environ.get("HSIMIN_DEBUG") != "1"

    def new_pool():
        return ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), mp_context=ctx,
                                   initializer=_worker_init, initargs=(os.getpid(), quiet))

    pool = new_pool()
    abandoned: list[TrayJob] = []
    try:
        while queue or in_flight:
            if stop.abandon.is_set():
                abandoned = [j for j, _ in in_flight.values()]
                _terminate(pool)
                in_flight.clear()
                break
            while queue and not stop.requested.is_set() and not solo and len(in_flight) < workers:
                job, attempt = queue[0]
                if attempt > 1 and in_flight:
                    break
                queue.popleft()
                in_flight[pool.submit(fn, job, config, out)] = (job, attempt)
                if attempt > 1:
                    solo = True
            if not in_flight:
                break  # stop requested: nothing left running
            done, _ = wait(list(in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job, attempt = in_flight.pop(fut)
                if attempt > 1:
                    solo = False
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if attempt < max_attempts:
                        queue.appendleft((job, attempt + 1))
                    else:
                        remove_outputs(job, out)
                        on_result(job, _died_record(job, attempt))
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                    res = {"status": "failed", "error": f"unexpected {type(exc).__name__}: {exc}"}
                res["attempts"] = attempt
                on_result(job, res)
            if broken:
                for fut, (job, attempt) in list(in_flight.items()):
                    if fut.done() and not fut.cancelled() and fut.exception() is None:  # finished just before
                        res = fut.result()
                        res["attempts"] = attempt
                        on_result(job, res)
                    elif attempt < max_attempts:
                        queue.appendleft((job, attempt + 1))
                    else:
                        remove_outputs(job, out)
                        on_result(job, _died_record(job, attempt))
                in_flight.clear()
                solo = False
                # every worker of the broken pool ended here, before the pool lets go of its list of them (shutdown
                # clears it): a worker the pool started for a submit that raced its own break-up is missed by its
                # clean-up, and the interpreter then hangs at exit, joining it
                _terminate(pool)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=not abandoned and not stop.abandon.is_set(), cancel_futures=True)
    return abandoned


def run_inline(jobs: list[TrayJob], config: BatchConfig, out: str, on_result: Callable[[TrayJob, dict], None],
                stop: Stop, fn: Callable = process_tray) -> list[TrayJob]:
    """Run the jobs one after the other in this process (``workers=0``: debugging, tests; no isolation from a
    tray that crashes the interpreter). Returns the job abandoned at a hard stop, if any."""
    for job in jobs:
        if stop.requested.is_set():
            break
        try:
            res = fn(job, config, out)
        except KeyboardInterrupt:
            return [job]
        res["attempts"] = 1
        on_result(job, res)
    return []


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Terminate (SIGTERM, then SIGKILL after 5 s) every worker process of ``pool``."""
    procs = list(getattr(pool, "_processes", {}).values()) if getattr(pool, "_processes", None) else []
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)


_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):(?P<port>\d{1,5})/?$")


def scheduler_client(address: str):
    """A ``distributed.Client`` for ``tcp://HOST:PORT`` (or ``HOST:PORT``, ``tls://...``). The address is checked
    and, for plain TCP, the port probed first, so a wrong address fails in seconds with one clear line."""
    m = _ADDRESS.match(str(address).strip())
    if not m or not 0 < int(m.group("port")) < 65536:
        raise ConfigError(f"--scheduler {address!r} is not a scheduler address; write tcp://HOST:PORT "
                          "(e.g. tcp://10.0.0.5:8786)")
    Client = import_optional("distributed", extra="dask", needed_for="--scheduler", package="distributed").Client
    scheme = m.group("scheme") or "tcp"
    if scheme == "tcp":
        import socket
        host = m.group("host").strip("[]")
        try:
            with socket.create_connection((host, int(m.group("port"))), timeout=10):
                pass
        except OSError as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address}: {exc.strerror or exc}; is "
                              "dask-scheduler running there, and reachable from here?") from None
    try:
        return Client(address if m.group("scheme") else f"tcp://{address}", timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address}: {' '.join(str(exc).split())}") \
            from None


def run_dask(jobs: list[TrayJob], config: BatchConfig, out: str, client, max_attempts: int,
              on_result: Callable[[TrayJob, dict], None], stop: Stop) -> list[TrayJob]:
    """Run jobs on a Dask cluster (``client``: a connected ``distributed.Client``, closed here); returns the jobs
    abandoned at a stop."""
    try:
        token = hashlib.sha256(f"{out}{time.time()}{os.getpid()}".encode()).hexdigest()[:12]
        futures = {}
        for i, job in enumerate(jobs):
            f = client.submit(process_tray, job, config, out, key=f"hsimin-tray-{token}-{i}", pure=False,
                              retries=max(0, max_attempts - 1))
            futures[f] = job
        remaining = dict(futures)
        cancelled_pending = False
        while remaining:
            if stop.abandon.is_set():
                client.cancel(list(remaining))
                return list(remaining.values())
            if stop.requested.is_set() and not cancelled_pending:
                running = {k for keys in client.processing().values() for k in keys}
                waiting = [f for f in remaining if f.key not in running and not f.done()]
                client.cancel(waiting)
                for f in waiting:
                    remaining.pop(f)
                cancelled_pending = True
            progressed = False
            for f in list(remaining):
                if not f.done():
                    continue
                job = remaining.pop(f)
                progressed = True
                try:
                    res = f.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker and friends: that tray failed
                    name = type(exc).__name__
                    msg = " ".join(str(exc).split())
                    if name == "KilledWorker":
                        res = {"status": "failed", "error": "the Dask worker died while processing this tray, on "
                                                            "every attempt (killed, or out of memory)"}
                    else:
                        res = {"status": "failed", "error": f"{name}: {msg}"}
                on_result(job, res)
            if not progressed:
                time.sleep(0.1)
        return []
    finally:
        with contextlib.suppress(Exception):
            client.close()


