"""hsimin: hyperspectral drill-core scans to mineral maps.

The top level re-exports the numpy-side public API lazily, so ``import hsimin`` is fast and never
imports torch, captum or napari. Torch-side packages (``hsimin.models``, ``hsimin.train``, ...) are
imported explicitly.
"""
from __future__ import annotations

import importlib

from .core import (Cube, HsiminError, MineralMap, Raster, ScanMeta, SpectralLibrary, SpectrumTable,  # noqa: F401
                   UNCLASSIFIED)

__version__ = "0.1.0"

# name -> module that defines it; resolved on first access (PEP 562).
_LAZY = {
    "open_cube": "hsimin.io",
    "save_cube": "hsimin.io",
    "open_map": "hsimin.io",
    "save_map": "hsimin.io",
    "iter_blocks": "hsimin.io",
    "load_library": "hsimin.io.libraries",
    "list_libraries": "hsimin.io.libraries",
}

__all__ = ["Cube", "HsiminError", "MineralMap", "Raster", "ScanMeta", "SpectralLibrary", "SpectrumTable", "UNCLASSIFIED",
           "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hsimin' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
