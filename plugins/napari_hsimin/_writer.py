"""napari writer contribution: a Labels layer -> a mineral map file through :func:`hsimin.io.save_map`
(``.h5``/``.hdf5``: hsimin HDF5 with class names, scores and confidence when the layer came from a map;
``.hdr``: ENVI Classification with class names and colours). Class names come from the layer's metadata or
its ``class`` feature column."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_labels"]


def write_labels(path: str, data, attributes: dict) -> list[str]:
    """Write one Labels layer as a mineral map; returns the paths written (the header and data file for ENVI)."""
    from hsimin.io import save_map

    from ._convert import labels_to_map

    mineral_map = labels_to_map(data, attributes)
    p = Path(os.fspath(path))
    if p.suffix == "":
        p = p.with_suffix(".h5")
    written = save_map(mineral_map, p, overwrite=True)  # napari's save dialog has asked about replacing already
    if Path(written).suffix.lower() == ".hdr":
        from hsimin.io.envi_classification import envi_paths
        hdr, data_file = envi_paths(written)
        return [str(hdr), str(data_file)]
    return [str(written)]
