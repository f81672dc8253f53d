"""ENVI Classification files: a mineral map that opens in ENVI, SPy and QGIS with names and colours.

Layout written (see ``docs/formats.md``): one band, BSQ, ``data type = 1`` (uint8; 2 = int16 beyond
255 classes), little-endian, no header offset; pixel value 0 is ``Unclassified`` and mineral ``i`` of the
map is value ``i + 1``. The header carries ``file type = ENVI Classification``, ``classes = K + 1``,
``class names = {Unclassified, ...}`` and ``class lookup`` (r, g, b per class, from
:mod:`hsimin.io.colors`), plus hsimin's own keys (``hsimin produced by`` and the scan metadata) that
other readers ignore. The data file is written first and the header last, both atomically.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..core.errors import FormatError, HeaderError, InputError, OutputError, TruncatedDataError
from ..core.types import MineralMap, ScanMeta
from .atomic import atomic_outputs
from .colors import class_colors
from .envi_header import DATA_EXTENSIONS, data_file_candidates, find_data_file, read_envi_header

UNCLASSIFIED_NAME = "Unclassified"

# where a classification's data may be: ENVI's usual names and ``.cls``
_DATA_EXTENSIONS = (*DATA_EXTENSIONS, ".cls")
_DTYPES = {1: np.uint8, 2: np.int16, 3: np.int32, 12: np.uint16, 13: np.uint32, 14: np.int64, 15: np.uint64}
_UNCLASSIFIED_RE = re.compile(r"unclass|unknown|masked|no[\s_]?data|^none$|^background$|^$", re.I)
_META_KEYS = {"hsimin hole id": "hole_id", "hsimin tray id": "tray_id", "hsimin depth from m": "depth_from_m",
              "hsimin depth to m": "depth_to_m", "hsimin sensor": "sensor", "hsimin pixel size mm": "pixel_size_mm",
              "hsimin source": "source"}


def envi_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(header, data file) for an output path: ``map.hdr`` -> (map.hdr, map.img); ``map.img`` ->
    (map.img.hdr, map.img); ``map`` -> (map.hdr, map)."""
    p = Path(path)
    if p.suffix.lower() == ".hdr":
        return p, p.with_suffix(".img")
    return p.with_name(p.name + ".hdr"), p


def _header_text(value: str) -> str:
    """A value safe inside an ENVI header list: no commas, braces or line breaks."""
    return re.sub(r"[,{}\r\n]+", "_", str(value)).strip()


def _header_value(value) -> str:
    """A plain (unbraced) one-line header value: line breaks become spaces, no leading brace."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(value)).strip().lstrip("{").strip()


def write_envi_classification(mineral_map: MineralMap, path: str | os.PathLike, *,
                              overwrite: bool = False) -> Path:
    """Write the labels and class names of a mineral map as an ENVI Classification file.

    Parameters
    ----------
    mineral_map : labels (H, W) int16 with -1 = unclassified, classes K names
    path : the header (``map.hdr``; data go to ``map.img``) or the data file (``map.img``; header
        ``map.img.hdr``)
    overwrite : replace existing files

    Pixel value 0 = Unclassified, mineral ``i`` -> ``i + 1``; uint8 up to 255 classes, int16 beyond.
    Class names keep their spelling except commas, braces and line breaks, which ENVI lists cannot hold
    (each becomes ``_``). Scores, confidence and extra arrays are not written (use HDF5 for them).
    Returns the header path.
    """
    hdr, data = envi_paths(path)
    labels = np.asarray(mineral_map.labels)
    H, W = labels.shape
    classes = list(mineral_map.classes)
    n = len(classes) + 1
    if n > np.iinfo(np.int16).max:
        raise InputError(f"{len(classes)} classes do not fit an ENVI Classification (at most 32766)")
    code, dtype = (1, np.uint8) if n <= 256 else (2, np.int16)
    values = (labels.astype(np.int32) + 1).astype(dtype)
    names = [UNCLASSIFIED_NAME] + [_header_text(c) or f"class_{i}" for i, c in enumerate(classes)]
    rgb = np.vstack([np.zeros((1, 3), np.uint8), class_colors(classes).reshape(-1, 3)])
    lines = [
        "ENVI",
        "description = {hsimin mineral map (ENVI Classification; 0 = Unclassified)}",
        f"samples = {W}",
        f"lines = {H}",
        "bands = 1",
        "header offset = 0",
        "file type = ENVI Classification",
        f"data type = {code}",
        "interleave = bsq",
        "byte order = 0",
        f"classes = {n}",
        "class names = {" + ", ".join(names) + "}",
        "class lookup = {" + ", ".join(str(int(v)) for v in rgb.ravel()) + "}",
        "band names = {mineral}",
    ]
    if mineral_map.produced_by:
        lines.append(f"hsimin produced by = {_header_value(mineral_map.produced_by)}")
    meta = mineral_map.meta or ScanMeta()
    for key, field in _META_KEYS.items():
        v = getattr(meta, field)
        if v is not None:
            lines.append(f"{key} = {_header_value(repr(v) if isinstance(v, float) else v)}")
    text = "\n".join(lines) + "\n"
    with atomic_outputs([data, hdr], overwrite=overwrite) as (tmp_data, tmp_hdr):
        try:
            values.astype(np.dtype(dtype).newbyteorder("<"), copy=False).tofile(tmp_data)
            tmp_hdr.write_text(text, encoding="utf-8")
        except OSError as exc:  # disk full, quota, I/O error
            raise OutputError(f"writing the classification failed ({exc.strerror or exc})", path=hdr) from None
    return hdr


def read_envi_classification(path: str | os.PathLike) -> MineralMap:
    """Read an ENVI Classification file (header path, or its data file) as a :class:`MineralMap`.

    Class 0 is taken as unclassified (label -1) when its name says so (``Unclassified``, ``unknown``,
    ``masked``, ``no data``, ``background``), as ENVI writes it; otherwise every class is kept. Other
    classes become labels 0..K-1 with their header names.
    """
    p = Path(path)
    hdr = p if p.suffix.lower() == ".hdr" else p.with_name(p.name + ".hdr")
    if not hdr.is_file() and p.suffix.lower() != ".hdr":
        hdr = p.with_suffix(".hdr")
    if not hdr.is_file():
        raise FormatError("no such ENVI header", path=hdr)
    h = read_envi_header(hdr)
    ftype = (h.text("file type") or "").lower()
    if ftype != "envi classification":
        raise FormatError(f"file type is {h.text('file type')!r}, not 'ENVI Classification'; open cubes with "
                          "hsimin.open_cube", path=hdr)
    W, H = h.get_int("samples", minimum=1), h.get_int("lines", minimum=1)
    bands = h.get_int("bands", 1)
    if bands != 1:
        raise HeaderError(f"an ENVI Classification has 1 band, this header says {bands}", path=hdr)
    code = h.get_int("data type")
    if code not in _DTYPES:
        raise HeaderError(f"data type {code} is not an integer type a classification can use", path=hdr)
    order = h.get_int("byte order", 0)
    if order not in (0, 1):
        raise HeaderError(f"`byte order = {order}`; use 0 (little-endian) or 1 (big-endian)", path=hdr)
    offset = h.get_int("header offset", 0, minimum=0)
    names = [n.strip() for n in h.get("class names", "").split(",")] if h.get("class names") else []
    n = h.get_int("classes", len(names) or 0)
    if not names:
        names = [UNCLASSIFIED_NAME] + [f"class_{i}" for i in range(1, n)]
    if n != len(names):
        raise HeaderError(f"'classes = {n}' but 'class names' has {len(names)} names", path=hdr)
    data_file = find_data_file(hdr, h, _DATA_EXTENSIONS)
    if data_file is None:
        tried = ", ".join(c.name for c in data_file_candidates(hdr, h, _DATA_EXTENSIONS)[:6])
        raise FormatError(f"no data file beside the header (looked for {tried})", path=hdr)
    dt = np.dtype(_DTYPES[code]).newbyteorder(">" if order == 1 else "<")
    need = offset + H * W * dt.itemsize
    size = data_file.stat().st_size
    if size < need:
        raise TruncatedDataError(f"data file has {size} bytes, the header needs {need}", path=data_file)
    raw = np.fromfile(data_file, dtype=dt, count=H * W, offset=offset).reshape(H, W).astype(np.int64)
    if raw.size and (raw.min() < 0 or raw.max() >= n):
        raise FormatError(f"pixel values run from {raw.min()} to {raw.max()}, outside the {n} classes",
                          path=data_file)
    first_unclassified = bool(names) and bool(_UNCLASSIFIED_RE.search(names[0]))
    if first_unclassified:
        labels, classes = raw - 1, names[1:]
    else:
        labels, classes = raw, names
    kw = {field: h.text(key) for key, field in _META_KEYS.items() if h.text(key) is not None}
    try:
        meta = ScanMeta(**kw)
    except InputError:
        meta = ScanMeta()
    meta = ScanMeta(**{**meta.to_dict(), "attrs": {"format": "envi classification", "header": str(hdr),
                                                   "data file": str(data_file)}})
    return MineralMap(labels=labels.astype(np.int16), classes=classes, meta=meta,
                      produced_by=h.text("hsimin produced by") or "")
