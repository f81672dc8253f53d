"""napari_hsimin: the napari plugin of hsimin, a thin adapter over the public hsimin API.

Readers (ENVI ``.hdr``, HDF5, Specim capture folders; mineral maps), a writer (Labels layer -> mineral map), the
sample tray as sample data, and four dock widgets: the spectrum inspector, the mineral map, the attribution map
and label -> retrain -> re-map. Importing this package needs no display and no Qt: the widget classes are
imported on first use (napari imports them when a widget is opened).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from ._reader import get_reader, read_path  # noqa: E402
from ._sample_data import sample_tray, sample_tray_truth, sample_tray_with_truth  # noqa: E402
from ._writer import write_labels  # noqa: E402

_WIDGETS = {"AttributionMapWidget", "LabelTrainWidget", "MapWidget", "SpectrumInspector"}

__all__ = ["AttributionMapWidget", "LabelTrainWidget", "MapWidget", "SpectrumInspector", "get_reader", "read_path",
           "sample_tray", "sample_tray_truth", "sample_tray_with_truth", "write_labels"]


def __getattr__(name: str):
    if name in _WIDGETS:
        value = getattr(importlib.import_module("napari_hsimin._widgets"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'napari_hsimin' has no attribute {name!r}")
