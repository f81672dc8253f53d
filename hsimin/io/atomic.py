"""Atomic output: write to a temporary file in the destination folder, then rename it into place.

A crash, a Ctrl-C, a SIGTERM or a full disk never leaves a half-written file under the final name, so a map that
exists is a map that was finished. Three rules carry that to outputs of several files and to the errors users see:

* **The file that makes an output visible goes last.** :func:`atomic_outputs` renames its files in the order given
  (ENVI: data, mask, header last). On overwrite it first removes the old header, so a process killed between two
  renames leaves new data without a header (no cube), never new data under the old header (a cube that opens
  without error and reads scrambled).
* **Outputs written by several writers commit together.** Inside :func:`output_group` (``hsimin classify``'s PNG,
  ENVI Classification and HDF5; a batch tray's files) no writer renames anything: every file is written to its
  temporary name first, and only when all succeeded are they renamed, in the order written (the completion mark,
  the HDF5 file, last). If any writer fails, none of the outputs appears and every temporary file is removed.
* **OS errors become one line.** An ``OSError`` while writing becomes an :class:`OutputError` naming the output and
  the OS's reason (:func:`output_error`); a full disk or a spent quota becomes :class:`DiskFullError`.

Temporary files are hidden (``.NAME.XXXXXXXX.part``). A name too long to carry that decoration is cut and given a
short hash (:func:`temp_prefix`), so every output name the filesystem accepts can be written.
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..core.errors import DiskFullError, OutputError, OutputExistsError

__all__ = ["PART_SUFFIX", "atomic_output", "atomic_outputs", "check_not_input", "check_output_folder",
           "check_output_path", "ensure_space", "is_temp_of", "output_error", "output_group", "temp_prefix"]

PART_SUFFIX = ".part"
_RANDOM_CHARS = 8          # what tempfile.mkstemp puts between prefix and suffix
DISK_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)
"""errno values that mean 'the output does not fit' (no space, quota exceeded)."""


# --------------------------------------------------------------------------------------------- errors

def output_error(exc: OSError, path: str | os.PathLike, what: str = "cannot write the output") -> OutputError:
    """The :class:`OutputError` for an ``OSError`` met while writing ``path``: ``<path>: <what> (<OS reason>)``;
    a :class:`DiskFullError` when the disk is full or the quota spent."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    cls = DiskFullError if exc.errno in DISK_FULL_ERRNOS else OutputError
    return cls(f"{what} ({reason})", path=path)


def _free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    # root may use the reserved blocks too
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return int(blocks) * int(st.f_frsize)


def ensure_space(path: str | os.PathLike, nbytes: int) -> None:
    """Raise :class:`DiskFullError` (naming ``path``) before any writing when the folder of ``path`` has less than
    ``nbytes`` free, so a large output fails in a second instead of after filling the disk. Writers call it with
    the size of their data; the OS still has the last word (a disk filled by others meanwhile gives the same error
    from the write itself)."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    free = _free_bytes(folder)
    if free is not None and free < int(nbytes):
        raise DiskFullError(f"the output needs about {_size(nbytes)} but the disk has {_size(free)} free "
                            f"({os.strerror(errno.ENOSPC)}); free some space or write elsewhere", path=p)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


# --------------------------------------------------------------------------------------------- names

def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def temp_prefix(final: str | os.PathLike) -> str:
    """The prefix of ``final``'s temporary files: ``.NAME.``, or ``.CUT~HASH.`` when ``NAME`` is too long for the
    temporary name (prefix, 8 random characters, ``.part``) to fit the folder's name limit (255 bytes)."""
    p = Path(final)
    folder = p.parent if str(p.parent) else Path(".")
    limit = _name_max(folder) - _RANDOM_CHARS - len(PART_SUFFIX) - 2        # the two dots of '.NAME.'
    raw = os.fsencode(p.name)
    if len(raw) <= limit:
        return f".{p.name}."
    digest = hashlib.sha256(raw).hexdigest()[:10]
    cut = p.name
    while len(os.fsencode(cut)) > limit - len(digest) - 1:                  # cut whole characters, not bytes
        cut = cut[:-1]
    return f".{cut}~{digest}."


def is_temp_of(name: str, final: str | os.PathLike) -> bool:
    """True when the file name ``name`` is a temporary file of the output ``final`` (left by a killed writer)."""
    return name.startswith(temp_prefix(final)) and name.endswith(PART_SUFFIX)


def _temp_name(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=temp_prefix(final), suffix=PART_SUFFIX, dir=final.parent)
    os.close(fd)
    return Path(name)


def _probe_folder(folder: Path, final: Path | None = None) -> None:
    """Create and remove a temporary file in ``folder`` as a writer would: the only test that catches a read-only
    mount, an immutable folder (root ignores permission bits), a full inode table or a name that is too long."""
    try:
        tmp = _temp_name(final if final is not None else folder / "hsimin-probe")
    except OSError as exc:
        raise output_error(exc, folder, "cannot create a file in the output folder") from None
    with contextlib.suppress(OSError):
        tmp.unlink()


# --------------------------------------------------------------------------------------------- checks

def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output path before any work is done.

    Raises :class:`OutputError` if the folder is missing, not a folder or not writable (tested by creating a file
    there), or the name is longer than the filesystem allows, and :class:`OutputExistsError` if the file exists
    and ``overwrite`` is False.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        if not parent.exists():
            raise OutputError("the output folder does not exist; create it first", path=parent)
        if not parent.is_dir():
            raise OutputError("the output's parent is not a folder", path=parent)
        limit = _name_max(parent)
        if len(os.fsencode(p.name)) > limit:
            raise OutputError(f"the file name is {len(os.fsencode(p.name))} bytes long; this filesystem allows "
                              f"{limit}", path=p)
        if p.is_dir():
            raise OutputError("the output path is a folder; give a file name", path=p)
        exists = p.exists()
    except OSError as exc:       # a name too long to stat, a path through a file
        raise output_error(exc, p, "unusable output path") from None
    if exists and not overwrite:
        raise OutputExistsError("the output exists already; pass --overwrite (overwrite=True) to replace it",
                                path=p)
    _probe_folder(parent, p)
    return p


def check_output_folder(path: str | os.PathLike, *, create: bool = False) -> Path:
    """Validate an output folder before any work is done (``batch``, ``prospect``, ``train``): it is a folder, or
    does not exist yet but could be created, and a file can be created in it. ``create`` makes it (and missing
    parents). Returns the absolute path.

    Raises :class:`OutputError` naming the folder (or its nearest existing parent) otherwise.
    """
    out = Path(path).expanduser()
    out = Path(os.path.abspath(out))
    try:
        if out.exists() and not out.is_dir():
            raise OutputError("the output path exists and is not a folder; give a folder", path=out)
        base = out
        while not base.exists():
            base = base.parent
        if not base.is_dir():
            raise OutputError("the output folder's parent is not a folder", path=base)
    except OSError as exc:
        raise output_error(exc, out, "unusable output folder") from None
    _probe_folder(base)
    if create and not out.exists():
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(exc, out, "cannot create the output folder") from None
        _probe_folder(out)
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_not_input(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse (:class:`OutputError`) an output that is one of the input files, e.g. ``classify X.h5 -o X.h5
    --overwrite``: the writer would replace the file the cube is still being read from. Compares files (links and
    other spellings of one file count), and resolved paths for outputs that do not exist yet."""
    ins = [Path(i) for i in inputs]
    resolved = {os.path.realpath(i) for i in ins}
    for o in outputs:
        op = Path(o)
        if os.path.realpath(op) in resolved or any(_same_file(op, i) for i in ins):
            raise OutputError("the output is one of the input's files; writing it would destroy the data being "
                              "read; give another output name", path=op)


# --------------------------------------------------------------------------------------------- groups

@dataclass
class _Unit:
    """The files of one writer call: temporary and final paths, the last final being the visibility mark."""

    temps: list[Path]
    finals: list[Path]
    overwrite: bool


@dataclass
class _Group:
    units: list[_Unit] = field(default_factory=list)

    def discard(self) -> None:
        for u in self.units:
            for t in u.temps:
                with contextlib.suppress(OSError):
                    t.unlink()
        self.units.clear()

    def commit(self) -> None:
        _commit(self.units)
        self.units.clear()


_GROUP: contextvars.ContextVar[_Group | None] = contextvars.ContextVar("hsimin_output_group", default=None)


@contextlib.contextmanager
def output_group() -> Iterator[None]:
    """Commit every atomic output written inside the block as one unit (see the module docstring).

    The outputs are renamed into place when the block ends without error, in the order they were written, so write
    the file that marks completion last. On any error (or interrupt) inside the block no output is renamed and every
    temporary file is removed. A group inside a group joins the outer one.
    """
    if _GROUP.get() is not None:
        yield
        return
    group = _Group()
    token = _GROUP.set(group)
    try:
        yield
    except BaseException:
        _GROUP.reset(token)
        group.discard()
        raise
    _GROUP.reset(token)
    try:
        group.commit()
    except BaseException:
        group.discard()
        raise


def _commit(units: Sequence[_Unit]) -> None:
    """Rename every unit's temporary files onto their final names.

    First the visibility marks that would otherwise describe the wrong files are removed: the last file of every
    multi-file unit (an ENVI header) and the last file of all (the group's completion mark), where they exist and
    overwriting is allowed. Then every file is renamed, in order.
    """
    if not units:
        return
    marks = {u.finals[-1] for u in units if len(u.finals) > 1 and u.overwrite}
    if units[-1].overwrite and len(units) > 1:
        marks.add(units[-1].finals[-1])
    for m in marks:
        try:
            if m.exists():
                m.unlink()
        except OSError as exc:
            raise output_error(exc, m, "cannot remove the old output before replacing it") from None
    for u in units:
        for t, f in zip(u.temps, u.finals):
            with contextlib.suppress(OSError):
                os.chmod(t, 0o644)       # mkstemp makes 0600; outputs are for others to read too
            try:
                os.replace(t, f)
            except OSError as exc:
                raise output_error(exc, f, "cannot move the finished output into place") from None


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike], overwrite: bool = False) -> Iterator[list[Path]]:
    """Context manager: yields one temporary path per final path (same folder); on success renames each
    temporary file onto its final path, in the order given (put the file that makes the output visible,
    e.g. an ENVI header, last; on overwrite the old one is removed before the others are renamed). On any error
    the temporary files are removed and nothing is renamed; an ``OSError`` of the writer becomes an
    :class:`OutputError` naming the output (:class:`DiskFullError` for a full disk). Inside :func:`output_group`
    the renames wait for the end of the group.

    Raises :class:`OutputError` / :class:`OutputExistsError` before yielding if an output cannot be made.
    """
    finals = [check_output_path(p, overwrite) for p in paths]
    temps: list[Path] = []
    unit = _Unit(temps, finals, overwrite)
    try:
        for f in finals:
            try:
                temps.append(_temp_name(f))
            except OSError as exc:
                raise output_error(exc, f.parent, "cannot create a file in the output folder") from None
        try:
            yield temps
        except OSError as exc:
            raise output_error(exc, finals[-1]) from None
        for t, f in zip(temps, finals):
            if not t.exists():
                raise OutputError("the writer produced no file", path=f)
        group = _GROUP.get()
        if group is not None:
            group.units.append(unit)     # renamed, or removed, at the end of the group
            return
        _commit([unit])
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
