"""Format dispatch for writers and map readers: the output format is chosen by the file extension.

``.h5``/``.hdf5`` -> HDF5 (hsimin schema v1, see docs/formats.md); ``.hdr`` -> ENVI (cube or ENVI
Classification); ``.png`` -> quicklook image. Every writer is atomic (see :mod:`hsimin.io.atomic`).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import FormatError, HsiminError, OutputError
from ..core.types import Cube, MineralMap

HDF5_EXT = (".h5", ".hdf5", ".he5", ".nc")
ENVI_EXT = (".hdr",)
PNG_EXT = (".png",)


def source_files(path: str | os.PathLike) -> list[Path]:
    """The files a cube or map at ``path`` is read from, for refusing an output that would overwrite its own
    input (:func:`hsimin.io.atomic.check_not_input`): an ENVI header with its data file and hsimin mask sidecar,
    an HDF5 file, a TSG package's .tsg and .bip, or every file of a folder (a Specim scan). Missing or unreadable paths give what can be found."""
    p = Path(path)
    try:
        if p.is_dir():
            return sorted(f for f in p.rglob("*") if f.is_file())
        files = [p]
        if p.suffix.lower() in HDF5_EXT:
            return files
        if p.suffix.lower() in (".tsg", ".bip"):
            from .tsg import find_tsg_files
            return list(find_tsg_files(p))
        from .envi_header import find_envi_files, read_envi_header
        hdr, data = find_envi_files(p)
        files += [hdr] + ([data] if data is not None else [])
        mask = read_envi_header(hdr).text("hsimin mask file")
        if mask:
            files.append(hdr.parent / mask)
        return list(dict.fromkeys(files))
    except (HsiminError, OSError, ValueError):
        return [p]


def output_format(path: str | os.PathLike, allowed: tuple[str, ...] = ("hdf5", "envi", "png")) -> str:
    """``'hdf5'``, ``'envi'`` or ``'png'`` from the output's extension; :class:`OutputError` otherwise."""
    ext = Path(path).suffix.lower()
    fmt = "hdf5" if ext in HDF5_EXT else "envi" if ext in ENVI_EXT else "png" if ext in PNG_EXT else None
    if fmt is None or fmt not in allowed:
        want = ", ".join({"hdf5": ".h5/.hdf5", "envi": ".hdr", "png": ".png"}[a] for a in allowed)
        raise OutputError(f"cannot tell the output format from the extension {ext or '(none)'!r}; use {want}",
                          path=path)
    return fmt


def save_cube(cube: Cube, path: str | os.PathLike, *, overwrite: bool = False, **options) -> Path:
    """Write a cube: ``.h5`` (hsimin HDF5 schema v1), ``.hdr`` (ENVI, BIL float32 unless ``interleave=``),
    ``.png`` (false-colour quicklook). Streams block by block; atomic. Returns the path written."""
    fmt = output_format(path)
    if fmt == "hdf5":
        from .hdf5 import write_cube_hdf5
        return write_cube_hdf5(cube, path, overwrite=overwrite, **options)
    if fmt == "envi":
        from .envi import write_envi_cube
        return write_envi_cube(cube, path, overwrite=overwrite, **options)
    from .quicklook import save_quicklook
    return save_quicklook(cube, path, overwrite=overwrite, **options)


def save_map(mineral_map: MineralMap, path: str | os.PathLike, *, overwrite: bool = False, **options) -> Path:
    """Write a mineral map: ``.h5`` (labels, class names, scores, confidence, provenance), ``.hdr`` (ENVI
    Classification: class names and lookup colours, opens in ENVI and SPy), ``.png`` (colour map with
    legend). Atomic. Returns the path written."""
    fmt = output_format(path)
    if fmt == "hdf5":
        from .hdf5 import write_map_hdf5
        return write_map_hdf5(mineral_map, path, overwrite=overwrite, **options)
    if fmt == "envi":
        from .envi_classification import write_envi_classification
        return write_envi_classification(mineral_map, path, overwrite=overwrite, **options)
    from .quicklook import save_map_png
    return save_map_png(mineral_map, path, overwrite=overwrite, **options)


def open_map(path: str | os.PathLike) -> MineralMap:
    """Read a mineral map written by :func:`save_map` (``.h5`` or ENVI Classification ``.hdr``)."""
    p = Path(path)
    if not p.exists():
        raise FormatError("no such file", path=p)
    ext = p.suffix.lower()
    if ext in HDF5_EXT:
        from .hdf5 import read_map_hdf5
        return read_map_hdf5(p)
    if ext in ENVI_EXT:
        from .envi_classification import read_envi_classification
        return read_envi_classification(p)
    raise FormatError("not a mineral map file (want .h5/.hdf5 or an ENVI Classification .hdr)", path=p)
