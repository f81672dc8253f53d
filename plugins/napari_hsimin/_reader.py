"""napari reader contribution: cubes through :func:`hsimin.io.open_cube`, and mineral maps (hsimin HDF5 maps,
ENVI Classification) through :func:`hsimin.io.open_map`. Wavelengths go into the layer metadata; the band slider
is labelled in nm.

Which paths it takes is asked of hsimin's reader registry (:func:`hsimin.io.list_readers`: ENVI, HDF5, Specim
capture folders, TSG packages, and any reader a package registers through the ``hsimin.readers`` entry point),
so a reader added to hsimin opens in napari with no change here."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["get_reader", "read_path"]

_HDF5 = (".h5", ".hdf5")


def get_reader(path):
    """:func:`read_path` if one of hsimin's registered readers recognises ``path`` (their cheap ``sniff``), else
    None, so napari offers the path to other plugins."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(os.fspath(path))
    if not p.exists():
        return None
    from hsimin.io import list_readers
    for reader in list_readers():
        try:
            if reader.sniff(p):
                return read_path
        except Exception:  # noqa: BLE001 - a sniff that fails just does not claim the path
            continue
    return None


def read_path(path):
    """LayerData for everything hsimin finds at ``path``: the cube as an Image layer (bands first) and any
    mineral maps as Labels layers with their class names and colours."""
    from hsimin.core import FormatError, HsiminError
    from hsimin.io import open_cube, open_map

    from ._convert import cube_to_layer_data, map_to_layer_data
    from ._dims import watch_current_viewer

    if isinstance(path, (list, tuple)):
        path = path[0]
    p = Path(os.fspath(path))
    layers: list = []
    cube_error: HsiminError | None = None
    if p.suffix.lower() == ".hdr":
        try:  # an ENVI Classification header is a map, every other header a cube
            layers.extend(map_to_layer_data(open_map(p), name=p.stem))
            return layers
        except FormatError:
            pass
    try:
        layers.append(cube_to_layer_data(open_cube(p)))
    except HsiminError as exc:
        cube_error = exc
    if p.suffix.lower() in _HDF5:
        from hsimin.io.hdf5 import list_maps_hdf5, read_map_hdf5
        try:
            names = list_maps_hdf5(p)
        except HsiminError:
            names = []
        for name in names:
            label = p.stem if len(names) == 1 and not layers else f"{p.stem} {name}"
            layers.extend(map_to_layer_data(read_map_hdf5(p, name), name=label))
    if not layers:
        if cube_error is not None:
            raise cube_error
        raise FormatError("holds neither a cube nor a mineral map hsimin can read", path=p)
    watch_current_viewer()
    return layers
