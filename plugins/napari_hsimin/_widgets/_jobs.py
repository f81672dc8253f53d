"""Background jobs for the widgets: a napari ``thread_worker`` with a progress bar, a status line and a cancel
button.

The job function gets a ``report(done, total, message=None)`` callback. It is called from the worker thread;
it forwards the progress to the main thread through a Qt signal (queued connection) and raises
:class:`JobCancelled` once cancel was pressed, which unwinds the library call that was reporting (hsimin's
long functions all take a ``progress`` callback and call it between blocks).
"""
from __future__ import annotations

from typing import Any, Callable

from qtpy.QtCore import QObject, Signal

__all__ = ["Job", "JobCancelled"]


class JobCancelled(Exception):
    """Raised inside a job when its cancel button was pressed."""


class _Relay(QObject):
    progress = Signal(int, int)
    message = Signal(str)


class Job:
    """Runs one background job at a time for a widget.

    Parameters
    ----------
    bar : magicgui ``ProgressBar``
    status : magicgui ``Label`` for one line of status
    cancel : magicgui ``PushButton`` that cancels the running job
    buttons : magicgui buttons to disable while a job runs
    """

    def __init__(self, bar, status, cancel, buttons=()):
        self.bar, self.status, self.cancel_button = bar, status, cancel
        self.buttons = list(buttons)
        self.worker = None
        self.error: BaseException | None = None
        self.result: Any = None
        self.cancelled = False
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._relay.message.connect(self._on_message)
        self.cancel_button.enabled = False
        self.cancel_button.changed.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, fn: Callable[[Callable], Any], on_done: Callable[[Any], None], *, what: str = "working"):
        """Run ``fn(report)`` in a worker thread; ``on_done(result)`` runs in the main thread when it returns."""
        from napari.qt.threading import create_worker

        if self.running:
            raise RuntimeError("a job is running already; cancel it or wait for it to finish")
        self.error, self.result, self.cancelled = None, None, False
        relay = self._relay
        holder: dict = {}

        def report(done, total, message=None):
            w = holder.get("worker")
            if w is not None and w.abort_requested:
                raise JobCancelled()
            relay.progress.emit(int(done), int(max(total, 1)))
            if message:
                relay.message.emit(str(message))

        def returned(result):
            self.result = result
            self._set_status(f"done: {what}")
            try:
                on_done(result)           # may put a more telling status
            except Exception as exc:  # noqa: BLE001 - shown to the user, kept for tests
                self._fail(exc)

        worker = create_worker(fn, report, _start_thread=False,
                               _connect={"returned": returned, "errored": self._on_error,
                                         "finished": self._on_finished})
        holder["worker"] = worker
        self.worker = worker
        self.bar.value = 0
        self._set_status(f"{what}...")
        self.cancel_button.enabled = True
        for b in self.buttons:
            b.enabled = False
        worker.start()
        return worker

    def cancel(self, *_):
        if self.worker is not None:
            self.worker.quit()
            self._set_status("cancelling...")

    def wait(self, timeout_s: float = 120.0) -> None:
        """Process Qt events until the job has finished (for scripts and tests)."""
        import time

        from qtpy.QtWidgets import QApplication

        t0 = time.perf_counter()
        while self.running:
            QApplication.processEvents()
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"the job did not finish in {timeout_s:g} s")
            time.sleep(0.01)
        QApplication.processEvents()

    # ------------------------------------------------------------------ slots (main thread)
    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.value = text
        self.status.native.setStyleSheet("color: #ff6060;" if error else "")

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.max = total
        self.bar.value = min(done, total)

    def _on_message(self, text: str) -> None:
        self._set_status(text)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._set_status(f"error: {exc}", error=True)
        try:
            from napari.utils.notifications import show_error
            show_error(f"hsimin: {exc}")
        except Exception:  # noqa: BLE001 - a notification is a nicety
            pass

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled):
            self.cancelled = True
            self._set_status("cancelled")
            self.bar.value = 0
        else:
            self._fail(exc)

    def _on_finished(self) -> None:
        self.worker = None
        self.cancel_button.enabled = False
        for b in self.buttons:
            b.enabled = True
