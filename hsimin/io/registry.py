"""Reader registry and the ``open_cube`` dispatcher.

A reader is registered with :func:`register_reader` (built-in readers) or through the entry-point group
``hsimin.readers`` (third-party packages: the entry point names a :class:`Reader`). ``open_cube`` asks each
reader in priority order whether it recognises the path (``sniff``), and opens it with the first that does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import FormatError, HsiminError, UnknownFormatError
from ..core.types import Cube

ENTRY_POINT_GROUP = "hsimin.readers"


@dataclass(frozen=True)
class Reader:
    """A cube reader.

    name : short id (``envi``, ``hdf5``, ``specim``)
    sniff : ``sniff(path) -> bool``, cheap: looks at the name and a few bytes, never loads data
    open : ``open(path, **options) -> Cube``
    priority : lower is asked first
    description : one line for error messages and ``--help``
    """

    name: str
    sniff: Callable[[Path], bool]
    open: Callable[..., Cube]
    priority: int = 100
    description: str = ""


_READERS: dict[str, Reader] = {}
_ENTRY_POINTS_LOADED = False


def register_reader(reader: Reader) -> Reader:
    """Add (or replace) a reader."""
    _READERS[reader.name] = reader
    return reader


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception:  # noqa: BLE001 - a broken plug-in must not break hsimin's own readers
            continue
        if isinstance(obj, Reader):
            _READERS.setdefault(obj.name, obj)


def _load_builtin() -> None:
    # Importing the modules registers their readers; done lazily so `import hsimin` stays light.
    from . import envi, hdf5, specim, tsg  # noqa: F401


def list_readers() -> list[Reader]:
    """Registered readers, in the order ``open_cube`` asks them."""
    _load_builtin()
    _load_entry_points()
    return sorted(_READERS.values(), key=lambda r: (r.priority, r.name))


def get_reader(name: str) -> Reader:
    readers = {r.name: r for r in list_readers()}
    if name not in readers:
        raise UnknownFormatError(f"no reader named {name!r}; readers: {', '.join(readers)}")
    return readers[name]


def open_cube(path: str | os.PathLike, *, reader: str | None = None, **options) -> Cube:
    """Open a hyperspectral cube as a :class:`~hsimin.core.Cube` in reflectance, wavelengths in nm.

    Parameters
    ----------
    path : an ENVI header (``.hdr``) or its data file, an HDF5 file (hsimin schema or a generic file with
        one 3-D dataset), or a Specim scan folder (holding ``capture/``) or capture folder.
    reader : force one reader by name (see :func:`list_readers`)
    options : passed to the reader (e.g. ``dataset=`` and ``wavelengths=`` for generic HDF5, ``load=True``
        to read the data into memory instead of memory-mapping it)

    Data are memory-mapped or read lazily, never loaded whole unless asked for.
    """
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file or folder", path=p)
    if reader is not None:
        return get_reader(reader).open(p, **options)
    tried = []
    for r in list_readers():
        try:
            ok = r.sniff(p)
        except HsiminError:
            raise
        except Exception:  # noqa: BLE001 - a sniff that crashes just does not recognise the file
            ok = False
        tried.append(r.name)
        if ok:
            return r.open(p, **options)
    raise UnknownFormatError(f"not a format hsimin reads (tried readers: {', '.join(tried)})", path=p)
