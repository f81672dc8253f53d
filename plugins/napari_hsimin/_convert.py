"""The one module that knows both napari layer data and hsimin types."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def cube_to_layer_data(cube):
    """(data, kwargs, 'image') with the band axis first so napari's slider walks bands; wavelengths (nm),
    fwhm and scan metadata go into the layer metadata."""
    data = np.moveaxis(np.asarray(cube.data, dtype=np.float32), -1, 0)  # (B, H, W) for the band slider
    name = Path(cube.meta.source).stem if cube.meta.source else "cube"
    meta = {"wavelengths": np.asarray(cube.wavelengths), "fwhm": cube.fwhm, "bad_bands": cube.bad_bands,
            "mask": cube.mask, "scan_meta": cube.meta.to_dict(), "hsimin_kind": "cube"}
    return data, {"name": name, "metadata": meta}, "image"
