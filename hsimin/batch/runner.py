"""Running a session: jobs, ``run.json``, resume, Ctrl-C, and retries of killed workers (the executors themselves
and the signal handling are in :mod:`hsimin.batch.executors`).

:func:`run_batch` turns a session into one :func:`hsimin.batch.tray.process_tray` job per tray and runs them

* on a **local process pool** (default; ``workers`` processes, started with ``spawn`` because torch, numba and
  OpenMP are not fork-safe), or
* on an existing **Dask distributed cluster** (``scheduler='tcp://HOST:PORT'``): the same function is submitted
  to it. Workers write the outputs themselves, so the input and output paths must be the same on the workers as
  here (one machine, or a shared filesystem).

Outputs are identical whichever way a tray runs, provided it runs with the same number of threads
(``BatchConfig.threads``; by default derived from this machine's cores and the session's size, the same for both
executors).

**Never losing work.** ``OUT/run.json`` is rewritten atomically after every tray: the config and its hash, the
classifier (model hash, or library id, method and file checksum), package versions, and for every tray its
status (``done``, ``skipped``, ``failed``, ``pending``, ``interrupted``), seconds, one-line error, input
fingerprint, outputs and QA. A re-run of the same command skips a tray whose outputs are complete and whose HDF5
file records the same input fingerprint (path, size and mtime of every input file) and config hash (status
``skipped``, files untouched) and redoes everything else: failed, interrupted, half-written or changed trays.

**Failures.** A tray that cannot be read or processed is recorded ``failed`` with its error and the session goes
on. A worker process that dies (killed, out of memory) breaks the local pool: the pool is restarted and the trays
that were in flight are retried one at a time, so the tray that kills its worker is found and recorded
``failed`` after ``max_attempts`` while the others complete. On Dask the scheduler reschedules a dead worker's
task itself.

**Ctrl-C.** The first SIGINT stops submitting trays and waits for the ones in flight (their outputs complete);
a second SIGINT (or SIGTERM, or SIGHUP) abandons them: workers are terminated, their temporary files removed, and
they are recorded ``interrupted``. Either way ``run.json`` is consistent and the next run resumes.

**A full disk** is not a problem of one tray: the tray that did not fit is recorded ``failed`` (not retried), no
further tray is started, the ones in flight finish, and :class:`~hsimin.core.errors.DiskFullError` is raised
(``run.json`` is updated as far as the disk allows; the next run resumes where this one stopped).

**One run per output folder.** The output folder is checked (a file can be created in it) before anything slow,
and locked (:class:`hsimin.io.locks.FolderLock`) for the whole run: a second run on it fails at once with
:class:`~hsimin.core.errors.OutputInUseError`; the lock of a killed run is stale and taken over.

**Workers die with the batch.** Each local worker asks the kernel to kill it when its parent dies (Linux
``PR_SET_PDEATHSIG``) and watches its parent's pid, so a batch killed with SIGKILL leaves no worker running with no
one to report to. Workers also silence library warnings (matplotlib's glyph warnings), as the CLI does, unless
``HSIMIN_DEBUG=1``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..core.errors import (ConfigError, DiskFullError, HsiminError, LibraryError, ModelError, OutputError)
from ..core.plain import to_plain
from ..core.text import printable
from .session import Session, TrayJob, discover_session, input_fingerprint
from .config import BatchConfig, config_hash
from .executors import Stop, run_dask, run_inline, run_local, scheduler_client
from .tray_files import expected_outputs, outputs_complete, remove_partial

__all__ = ["BatchResult", "RUN_FILE", "available_cores", "default_parallelism", "load_run", "resolve_classifier",
           "run_batch"]

RUN_FILE = "run.json"
RUN_FORMAT = 1
EXIT_OK, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 130

ProgressFn = Callable[[dict], Any]


# --------------------------------------------------------------------------------------------- helpers

def available_cores() -> int:
    """Cores this process may use (CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_parallelism(n_trays: int, workers: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """(worker processes, threads per tray) for a session of ``n_trays`` trays.

    Workers default to the cores, at most one per tray; threads share the cores out among them. Both depend on
    the session's size, not on how many trays are left to do, so a resumed run computes every tray with the
    same number of threads as the first (and gives identical outputs)."""
    cores = available_cores() if cores is None else max(1, int(cores))
    n = max(1, int(n_trays))
    w = min(cores, n) if workers is None else max(1, int(workers))
    return w, max(1, cores // min(w, n))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * 2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions(model: bool, dask: bool) -> dict:
    from importlib.metadata import PackageNotFoundError, version
    names = ["numpy", "scipy", "h5py", "scikit-learn", "numba", "spectral", "matplotlib"]
    if model:
        names.append("torch")
    if dask:
        names += ["dask", "distributed"]
    out = {"hsimin": __version__, "python": platform.python_version()}
    for n in names:
        with contextlib.suppress(PackageNotFoundError):
            out[n] = version(n)
    return out


def _library_files(ids) -> list[dict]:
    """[{'id', 'file', 'sha256'}] of library ids (bundled) or files; LibraryError for an unknown one."""
    from ..io.libraries import LIBRARY_FILES, list_libraries, spectral_libs_dir
    files = []
    for lib_id in ids:
        if lib_id in LIBRARY_FILES:
            f = spectral_libs_dir() / LIBRARY_FILES[lib_id]
            if not f.is_file():
                raise LibraryError(f"the library {lib_id!r} is missing its file; reinstall hsimin", path=f)
        else:
            f = Path(lib_id).expanduser()
            if not f.is_file():
                raise LibraryError(f"no library {lib_id!r}; bundled libraries: {', '.join(list_libraries())}, or "
                                   "give a path to a .h5, .sli/.hdr or .csv library file")
        files.append({"id": lib_id, "file": str(f.resolve()), "sha256": _sha256_file(f)})
    return files


def _interpretation_files() -> list[dict]:
    """The files the SWIR interpretation's answers depend on (its references and its per-mineral fit floors,
    :mod:`hsimin.classical.calibration`), with their checksums: a tray done with other ones is done again."""
    from ..classical.calibration import FLOORS_PATH
    return (_library_files(["usgs_splib07", "usgs_supplement", "usgs_artefacts"])
            + [{"id": "swir_fit_r2_floors", "sha256": _sha256_file(FLOORS_PATH)}])


def resolve_classifier(config: BatchConfig) -> BatchConfig:
    """The config with ``classifier_id`` filled in, checking the model or library now (before any tray runs).

    Model: ``'default'`` becomes :func:`hsimin.models.default_model_path`; the checkpoint is loaded (a bad one
    fails here, with :class:`ModelError`) and its weight hash, classes and wavelengths recorded, with the
    checksums of the libraries the tray-artefact screen uses. Library: the file of the id (or the path given) and
    its SHA-256, plus the ``usgs_artefacts`` file when artefacts are added, and the method's parameters.
    """
    if config.model is not None:
        from ..models.default import model_path
        p = model_path(config.model)
        if not p.is_file():
            raise ModelError("no model checkpoint here; give --model PATH of a .pt file or --model default", path=p)
        from ..classical.artefacts import has_artefact_classes
        from ..models import load_model
        loaded = load_model(p)
        screen = config.artefacts and not has_artefact_classes(loaded.class_names)
        from ..predict.workflow import ASPECTRAL_CLASS
        # the library gate decides aspectral and unknown (unless turned off)
        gated = config.library_gate and ASPECTRAL_CLASS in list(loaded.class_names)
        ident = {"kind": "model", "path": str(p.resolve()), "model_hash": loaded.model_hash,
                 "classes": list(loaded.class_names), "bands": int(len(loaded.wavelengths)),
                 "patch_size": loaded.patch_size, "artefact_screen": bool(screen),
                 "screen_files": _library_files(["usgs_splib07", "usgs_artefacts"]) if screen else [],
                 "library_gate": _interpretation_files() if gated else None}
        return dataclasses.replace(config, model=str(p.resolve()), classifier_id=ident)
    from ..classical.mapping import make_identifier
    from ..io.libraries import LIBRARY_FILES
    ids = [config.library] + (["usgs_artefacts"] if config.artefacts and config.library != "usgs_artefacts" else [])
    files = _library_files(ids)
    library = config.library if config.library in LIBRARY_FILES else str(Path(config.library).expanduser().resolve())
    if config.method == "unmix":
        from ..classical.swir import SpectralUnmixer
        import inspect
        params = {k: v.default for k, v in inspect.signature(SpectralUnmixer.__init__).parameters.items()
                  if v.default is not inspect.Parameter.empty and isinstance(v.default, (int, float, str, bool))}
        files += _library_files(["usgs_supplement"]) if config.library == "usgs_splib07" else []
        files += [f for f in _interpretation_files() if f["id"] == "swir_fit_r2_floors"]
    else:
        params = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                  for k, v in make_identifier(config.method).get_params().items() if k != "wavelengths"}
    ident = {"kind": "library", "library": config.library, "method": config.method, "params": params,
             "files": files, "artefacts": config.artefacts}
    return dataclasses.replace(config, library=library, classifier_id=ident)


def load_run(out) -> dict | None:
    """``OUT/run.json`` as a dict, or None when missing, unreadable or not an hsimin run record."""
    try:
        doc = _previous_run(Path(out))
    except HsiminError:
        return None
    return doc or None


def _previous_run(out: Path) -> dict:
    """The previous run's record in ``out`` ({} when there is none). A ``run.json`` that is not an hsimin run record
    (not JSON, the wrong shape) raises :class:`OutputError`: the folder holds something else, and rewriting that file
    would destroy it."""
    from ..io.files import read_text_file
    p = out / RUN_FILE
    if not p.exists():
        return {}
    text = read_text_file(p, what="run.json", error=OutputError)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise OutputError(f"run.json is not valid JSON ({exc}); it is not an hsimin run record: give another output "
                          "folder, or remove the file", path=p) from None
    trays = doc.get("trays") if isinstance(doc, dict) else None
    if not (isinstance(doc, dict) and "hsimin_run" in doc and isinstance(trays, list)
            and all(isinstance(t, dict) for t in trays)):
        what = type(doc).__name__ if not isinstance(doc, dict) else f"keys {sorted(map(str, doc))[:6]}"
        raise OutputError(f"run.json holds {what}, not an hsimin run record (hsimin_run, trays); give another output "
                          "folder, or remove the file", path=p)
    return doc


# --------------------------------------------------------------------------------------------- state

@dataclass
class BatchResult:
    """What :func:`run_batch` did. ``trays``: the run.json tray records, in session order."""

    out: Path
    run_file: Path
    report: Path | None
    trays: list[dict]
    status: str  # complete | interrupted
    seconds: float
    products_error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for t in self.trays if t.get("status") == status)

    @property
    def failed(self) -> list[dict]:
        return [t for t in self.trays if t.get("status") == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every tray is done or skipped, 1 when some failed, 130 when interrupted."""
        if self.status == "interrupted":
            return EXIT_INTERRUPTED
        if self.failed or self.products_error:
            return EXIT_SOME_FAILED
        return EXIT_OK


class _RunState:
    """run.json in memory; :meth:`save` writes it atomically."""

    def __init__(self, out: Path, doc: dict):
        self.out = out
        self.doc = doc
        self.lock = threading.Lock()
        self.index = {t["key"]: i for i, t in enumerate(doc["trays"])}

    def update(self, key: str, record: dict) -> None:
        with self.lock:
            i = self.index[key]
            self.doc["trays"][i] = {**self.doc["trays"][i], **record}
            self._summarise()

    def _summarise(self) -> None:
        counts: dict[str, int] = {}
        for t in self.doc["trays"]:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        self.doc["summary"] = counts

    def save(self) -> None:
        from ..io.writers import write_text
        with self.lock:
            self._summarise()
            text = json.dumps(self.doc, indent=1, default=str, allow_nan=False)
            write_text(self.out / RUN_FILE, text + "\n", overwrite=True)

    def try_save(self) -> HsiminError | None:
        """:meth:`save`, returning its error instead of raising it (a full disk must not stop the loop that
        collects the trays in flight; the previous run.json stays intact, it is written atomically)."""
        try:
            self.save()
        except HsiminError as exc:
            return exc
        return None


def _record_base(job: TrayJob) -> dict:
    return {"key": job.key, "hole_id": job.hole_id, "tray_id": job.tray_id, "source": job.path,
            "depth_from_m": job.depth_from_m, "depth_to_m": job.depth_to_m, "status": "pending", "error": None,
            "seconds": None, "attempts": 0}


# --------------------------------------------------------------------------------------------- run

def run_batch(session: Session | str | os.PathLike, out: str | os.PathLike, config: BatchConfig, *,
              workers: int | None = None, scheduler: str | None = None, progress: ProgressFn | None = None,
              max_attempts: int = 2, products: bool = True) -> BatchResult:
    """Run a batch session (see the module docstring).

    Parameters
    ----------
    session : a :class:`Session`, or a folder of trays / a manifest CSV (:func:`discover_session`)
    out : output folder (created); ``OUT/<hole>/<tray>.*``, ``OUT/run.json``, session products
    config : :class:`BatchConfig`; ``threads=0`` means: derive from the cores and the session's size
    workers : local worker processes (default: one per core, at most one per tray); 0 runs the trays one by one in
        this process (no isolation: for debugging); ignored with ``scheduler``
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler: run the trays there instead
    progress : ``progress(event)`` with ``event['kind']`` ``'start'`` (``total``, ``todo``, ``skipped``),
        ``'tray'`` (``record``: the tray's run.json record), ``'message'`` (``text``) or ``'end'``
    max_attempts : tries per tray when its worker process dies
    products : write the down-hole logs, mosaics and report at the end

    Returns a :class:`BatchResult` (``exit_code``: 0 all done, 1 some failed, 130 interrupted). Raises
    :class:`~hsimin.core.errors.HsiminError` before any tray runs when the session, the output folder, the model
    or the library cannot be used; :class:`~hsimin.core.errors.OutputInUseError` when another run holds the output
    folder; :class:`~hsimin.core.errors.DiskFullError` when the disk filled up (the session stopped).
    """
    from ..io.atomic import check_output_folder
    from ..io.locks import FolderLock

    t_start = time.perf_counter()
    out = Path(out).expanduser().resolve()
    if workers is not None and int(workers) < 0:
        raise ConfigError(f"--workers must be >= 0 (0: in this process), got {workers}")
    if max_attempts < 1:
        raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
    check_output_folder(out)          # before anything slow: a read-only or unusable -o fails in a second
    if not isinstance(session, Session):
        src = Path(session).expanduser()
        if src.is_dir() and src.resolve() == out:
            raise OutputError("the output folder is the session folder: outputs would be mixed with the trays; give "
                              "another output folder (one inside the session folder is fine)", path=out)
        session = discover_session(session, exclude=[out])
    emit = progress or (lambda event: None)
    check_output_folder(out, create=True)
    with FolderLock(out, "hsimin batch") as lock:
        if lock.took_over:
            old = lock.took_over
            emit({"kind": "message", "text": f"took over the lock of an earlier run that was killed (pid "
                                             f"{old.get('pid')}, started {old.get('started')})"})
        return _run_locked(session, out, config, workers=workers, scheduler=scheduler, emit=emit,
                           max_attempts=max_attempts, products=products, t_start=t_start)


def _run_locked(session: Session, out: Path, config: BatchConfig, *, workers, scheduler, emit, max_attempts: int,
                products: bool, t_start: float) -> BatchResult:
    """The body of :func:`run_batch`, with the output folder checked, created and locked."""
    previous = _previous_run(out)       # a folder holding another program's run.json is refused, not clobbered
    config = resolve_classifier(config)
    client = scheduler_client(scheduler) if scheduler is not None else None
    inline = scheduler is None and workers is not None and int(workers) == 0
    n_workers, threads = default_parallelism(len(session), None if inline else workers)
    if scheduler is not None:
        n_workers = None
    if int(config.threads) <= 0:
        config = dataclasses.replace(config, threads=threads)
    chash = config_hash(config)

    prev_by_key = {t.get("key"): t for t in previous.get("trays", [])}
    records, todo = [], []
    for job in session.trays:
        rec = _record_base(job)
        fp = input_fingerprint(job.path)
        done = outputs_complete(job, out, fp, chash) if fp else None
        if done is not None:
            prev = prev_by_key.get(job.key, {})
            rec.update({"status": "skipped", "seconds": 0.0, "attempts": 0, "fingerprint": fp,
                        "qa": done.get("qa"), "depth_from_m": done.get("depth_from_m"),
                        "depth_to_m": done.get("depth_to_m"),
                        "outputs": {k: str(v) for k, v in expected_outputs(job, out).items()},
                        "class_pixels": prev.get("class_pixels"), "first_done": prev.get("first_done")
                        or prev.get("finished")})
        else:
            todo.append(job)
            remove_partial(job, out)
        records.append(rec)

    doc = {
        "hsimin_run": RUN_FORMAT, "session": session.source, "session_kind": session.kind, "output": str(out),
        "started": _now(), "finished": None, "status": "running",
        "executor": ({"kind": "dask", "scheduler": scheduler} if scheduler is not None
                     else {"kind": "inline"} if inline
                     else {"kind": "local", "workers": min(n_workers, max(1, len(todo)))}),
        "threads_per_tray": config.threads, "config": to_plain(config.to_dict(), nonfinite="null"), "config_hash": chash,
        "classifier": config.classifier_id, "versions": _versions(config.model is not None, scheduler is not None),
        "interval_m": config.interval_m, "trays": records, "summary": {},
    }
    state = _RunState(out, doc)
    try:
        state.save()
    except HsiminError:
        if client is not None:
            client.close()
        raise
    emit({"kind": "start", "total": len(session), "todo": len(todo), "skipped": len(session) - len(todo)})
    for rec in records:
        if rec["status"] == "skipped":
            emit({"kind": "tray", "record": rec})
    save_errors: list[HsiminError] = []

    with Stop(lambda text: emit({"kind": "message", "text": text}), interrupt_main=inline) as stop:
        def on_result(job: TrayJob, res: dict) -> None:
            res = to_plain(dict(res), nonfinite="null")
            res.pop("traceback", None)
            disk_full = bool(res.pop("disk_full", False))
            if res.get("status") == "done":
                res["finished"] = _now()
            rec = {k: v for k, v in res.items() if k not in ("hole_id", "tray_id", "source")}
            state.update(job.key, rec)
            err = state.try_save()
            if err is not None:
                save_errors.append(err)
            emit({"kind": "tray", "record": state.doc["trays"][state.index[job.key]]})
            if disk_full or isinstance(err, DiskFullError):
                stop.fail(DiskFullError(
                    f"the disk is full: tray {printable(job.hole_id)}/{printable(job.tray_id)} could not be written "
                    f"({res.get('error') or err}); the session stopped, no further tray was started; free some "
                    "space and run the same command again to resume", path=out))

        if todo:
            if inline:
                abandoned = run_inline(todo, config, str(out), on_result, stop)
            elif scheduler is not None:
                abandoned = run_dask(todo, config, str(out), client, max_attempts, on_result, stop)
            else:
                abandoned = run_local(todo, config, str(out), n_workers, max_attempts, on_result, stop)
        else:
            abandoned = []
            if client is not None:
                client.close()
        interrupted = stop.requested.is_set() and stop.fatal is None
        fatal = stop.fatal
    for job in abandoned:
        remove_partial(job, out)
        state.update(job.key, {"status": "interrupted", "error": "abandoned at Ctrl-C; the next run redoes it"})
    for t in state.doc["trays"]:
        if t["status"] == "pending" and (interrupted or fatal is not None):
            t["error"] = ("not started: the disk filled up; the next run does it" if fatal is not None else
                          "not started: the run was interrupted; the next run does it")

    report, products_error = None, None
    if products and not interrupted and fatal is None:
        from .products import write_session_products
        try:
            report = write_session_products(out, session, state.doc, interval_m=config.interval_m)
        except DiskFullError as exc:
            fatal = exc
        except (HsiminError, OSError, ValueError) as exc:
            products_error = " ".join(str(exc).split())
    state.doc["status"] = "stopped" if fatal is not None else "interrupted" if interrupted else "complete"
    state.doc["finished"] = _now()
    state.doc["seconds"] = round(time.perf_counter() - t_start, 3)
    if products_error:
        state.doc["products_error"] = products_error
    if report is not None:
        state.doc["report"] = str(report)
    if fatal is not None:
        state.doc["error"] = str(fatal)
        state.try_save()           # as far as the disk allows; the last run.json that fitted stays intact
        emit({"kind": "end"})
        raise fatal
    err = state.try_save()
    emit({"kind": "end"})
    if err is not None or save_errors:
        raise err or save_errors[-1]
    return BatchResult(out=out, run_file=out / RUN_FILE, report=report, trays=list(state.doc["trays"]),
                       status=state.doc["status"], seconds=state.doc["seconds"], products_error=products_error)
