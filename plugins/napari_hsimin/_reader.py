"""napari reader contribution: delegates to hsimin.io.open_cube and keeps wavelengths in the layer metadata."""
from __future__ import annotations

import os
from pathlib import Path


def get_reader(path):
    """Return a reader function if hsimin can open ``path`` (an ENVI .hdr, an HDF5 file or a Specim folder)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(os.fspath(path))
    if p.suffix.lower() in (".hdr", ".h5", ".hdf5") or (p.is_dir() and (p / "capture").is_dir()) \
            or (p.is_dir() and p.name == "capture"):
        return read_cube
    return None


def read_cube(path):
    """napari LayerData for a cube: an image layer, channel axis = bands, wavelengths in metadata."""
    from ._convert import cube_to_layer_data
    from hsimin.io import open_cube
    if isinstance(path, (list, tuple)):
        path = path[0]
    return [cube_to_layer_data(open_cube(path))]
