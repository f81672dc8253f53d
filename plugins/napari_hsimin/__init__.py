"""napari_hsimin: the napari plugin of hsimin, a thin adapter over the public hsimin API.

Importing this package needs no display and no Qt: widgets are imported by napari on demand.
"""
__version__ = "0.1.0"

from ._reader import get_reader  # noqa: E402

__all__ = ["get_reader"]
