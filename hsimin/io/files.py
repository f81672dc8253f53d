"""Reading the small text inputs (headers, manifests, recipes, configs, site lists) safely.

A path given as a manifest or a recipe may be anything: ``/dev/zero`` or ``/dev/urandom`` (an endless read that
fills memory), a FIFO (``open`` blocks until someone writes to it: the verb hangs), a socket, or a 40 GB file given
by mistake. :func:`read_text_file` reads regular files only, at most ``max_bytes``, and turns every refusal and
every OS error into one :class:`~hsimin.core.errors.HsiminError` naming the file.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..core.errors import ConfigError, HsiminError

__all__ = ["MAX_TEXT_BYTES", "read_bytes_file", "read_text_file"]

MAX_TEXT_BYTES = 64 * 2**20
"""Default limit of a text input: 64 MiB (a manifest of a million trays is about 100 MB less than that)."""


def read_bytes_file(path: str | os.PathLike, *, what: str = "the file", max_bytes: int = MAX_TEXT_BYTES,
                    error: type[HsiminError] = ConfigError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ``error`` (naming the path) for anything else:
    missing, a folder, a device, a FIFO or a socket, too large, or unreadable."""
    p = Path(path)
    try:
        st = os.stat(p)
    except (OSError, ValueError) as exc:   # ValueError: a NUL in the name
        raise error(f"cannot read {what} ({getattr(exc, 'strerror', None) or exc})", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} is a folder; give a file", path=p)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} is not a regular file (a device, FIFO or socket); give a file", path=p)
    if st.st_size > max_bytes:
        raise error(f"{what} has {st.st_size} bytes, more than the {max_bytes} hsimin reads for it; is it the "
                    "right file?", path=p)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO after the stat, open does not hang
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise error(f"{what} is not a regular file; give a file", path=p)
            data = fh.read(max_bytes + 1)   # a file that grew since the stat is still bounded
    except OSError as exc:
        raise error(f"cannot read {what} ({exc.strerror or exc})", path=p) from None
    if len(data) > max_bytes:
        raise error(f"{what} has more than {max_bytes} bytes; is it the right file?", path=p)
    return data


def read_text_file(path: str | os.PathLike, *, what: str = "the file", max_bytes: int = MAX_TEXT_BYTES,
                   error: type[HsiminError] = ConfigError, encoding: str = "utf-8") -> str:
    """:func:`read_bytes_file`, decoded (``encoding``; ``utf-8-sig`` drops a byte-order mark). Text that does not
    decode raises ``error`` naming the file."""
    data = read_bytes_file(path, what=what, max_bytes=max_bytes, error=error)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise error(f"{what} is not {encoding.replace('-sig', '').upper()} text; save it as UTF-8",
                    path=path) from None
