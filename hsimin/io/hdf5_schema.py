"""The hsimin HDF5 schema's names and version, shared by its writer (:mod:`hsimin.io.hdf5_write`) and its reader
(:mod:`hsimin.io.hdf5`); the layout itself is described in :mod:`hsimin.io.hdf5` and ``docs/formats.md``."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..core.errors import FormatError, HeaderError
from ..core.plain import json_text

SCHEMA_VERSION = 1
"""Version of the hsimin HDF5 schema this module writes (root attribute ``hsimin_schema``)."""

CUBE_GROUP = "cube"
MAPS_GROUP = "maps"
DEFAULT_MAP_NAME = "mineral"
FEATURES_GROUP = "features"
RESERVED_GROUPS = (CUBE_GROUP, MAPS_GROUP)

CHUNK_TARGET_BYTES = 8 * 2**20
"""Target size of one chunk of ``/cube/data`` (whole lines): 8 MiB."""

_META_STR = ("hole_id", "tray_id", "sensor", "source")
_META_FLOAT = ("depth_from_m", "depth_to_m", "pixel_size_mm")

TABLE_GROUP = "table"


def _dumps(obj) -> str:
    return json_text(obj, sort_keys=True, nonfinite="keep")

def _schema_version(f: h5py.File, path: Path) -> int | None:
    """The file's ``hsimin_schema`` (None for a generic HDF5 file); refuses newer schemas."""
    if "hsimin_schema" not in f.attrs:
        return None
    try:
        v = int(np.asarray(f.attrs["hsimin_schema"]).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise HeaderError(f"root attribute hsimin_schema is {f.attrs['hsimin_schema']!r}, not an integer",
                          path=path) from None
    if v > SCHEMA_VERSION:
        raise FormatError(f"written with hsimin HDF5 schema {v}, this hsimin ({__version__}) reads schema "
                          f"<= {SCHEMA_VERSION}; upgrade hsimin", path=path)
    return v
