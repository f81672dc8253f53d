"""Atomic output: write to a temporary file in the destination folder, then rename it into place.

A crash, a Ctrl-C or a full disk never leaves a half-written file under the final name, so a map that
exists is a map that was finished. Multi-file formats (ENVI: header + data) rename the data first and the
header last: the header is what makes a cube visible to readers.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from ..core.errors import OutputError, OutputExistsError


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output path before any work is done.

    Raises :class:`OutputError` if the folder is missing, not a folder or not writable, and
    :class:`OutputExistsError` if the file exists and ``overwrite`` is False.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputError("the output folder does not exist; create it first", path=parent)
    if not parent.is_dir():
        raise OutputError("the output's parent is not a folder", path=parent)
    if p.is_dir():
        raise OutputError("the output path is a folder; give a file name", path=p)
    if p.exists() and not overwrite:
        raise OutputExistsError("the output exists already; pass --overwrite (overwrite=True) to replace it",
                                path=p)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError("the output folder is not writable", path=parent)
    return p


def _temp_name(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike], overwrite: bool = False) -> Iterator[list[Path]]:
    """Context manager: yields one temporary path per final path (same folder); on success renames each
    temporary file onto its final path, in the order given (put the file that makes the output visible,
    e.g. an ENVI header, last). On any error the temporary files are removed and nothing is renamed.

    Raises :class:`OutputError` / :class:`OutputExistsError` before yielding if an output cannot be made.
    """
    finals = [check_output_path(p, overwrite) for p in paths]
    temps: list[Path] = []
    try:
        for f in finals:
            try:
                temps.append(_temp_name(f))
            except OSError as exc:
                raise OutputError(f"cannot create a file in the output folder ({exc.strerror or exc})",
                                  path=f.parent) from None
        yield temps
        for t, f in zip(temps, finals):
            if not t.exists():
                raise OutputError("the writer produced no file", path=f)
        for t, f in zip(temps, finals):
            try:
                os.chmod(t, 0o644)
            except OSError:
                pass
            os.replace(t, f)
    except BaseException:
        for t in temps:
            with contextlib.suppress(OSError):
                t.unlink()
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Single-file form of :func:`atomic_outputs`."""
    with atomic_outputs([path], overwrite=overwrite) as (tmp,):
        yield tmp
