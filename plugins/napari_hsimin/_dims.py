"""The band slider in nm: the band axis of a cube layer is labelled with the wavelength of the band shown.

napari's slider shows a band index; hsimin keeps the wavelengths in the layer metadata and, for every viewer it
is used in, relabels the band axis (``layer.axis_labels[0]``) with the current band's wavelength, e.g.
``2203.5 nm``, whenever the slider moves. napari events only, no Qt.
"""
from __future__ import annotations

import weakref

import numpy as np

from ._convert import band_label, is_cube_layer

__all__ = ["update_band_labels", "watch_current_viewer", "watch_viewer"]

_WATCHED: "weakref.WeakSet" = weakref.WeakSet()


def update_band_labels(viewer) -> None:
    """Label the band axis of every cube layer with the wavelength of the band the viewer shows."""
    point = tuple(viewer.dims.point)
    for layer in list(viewer.layers):
        if not is_cube_layer(layer):
            continue
        try:
            pos = layer.world_to_data(point[-layer.ndim:])
        except (ValueError, IndexError):
            continue
        band = int(np.clip(np.floor(float(pos[0]) + 0.5), 0, layer.data.shape[0] - 1))
        label = band_label(layer.metadata["wavelengths"], band)
        labels = tuple(layer.axis_labels)
        if labels[0] != label:
            layer.axis_labels = (label, *labels[1:])


def watch_viewer(viewer) -> None:
    """Keep the band-axis labels of ``viewer``'s cube layers in nm (idempotent)."""
    if viewer is None or viewer in _WATCHED:
        return
    _WATCHED.add(viewer)
    ref = weakref.ref(viewer)

    def _update(event=None):
        v = ref()
        if v is not None:
            update_band_labels(v)

    viewer.dims.events.current_step.connect(_update)
    viewer.layers.events.inserted.connect(_update)
    _update()


def watch_current_viewer() -> None:
    """:func:`watch_viewer` on napari's current viewer, if there is one (readers and sample data get no viewer)."""
    try:
        import napari
        viewer = napari.current_viewer()
    except Exception:  # noqa: BLE001 - no napari or no viewer: nothing to label
        return
    watch_viewer(viewer)
