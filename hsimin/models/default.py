"""The pretrained default model shipped with hsimin (``hsimin classify --model default``).

``weights/default_swir.pt`` is a pixel classifier for SWIR core scans (1000-2500 nm), trained by
``hsimin train configs/default_model.toml`` on USGS splib07 spectra with the samples of the bundled sample tray
held out; ``weights/README.md`` says how it was made and how accurate it is.
"""
from __future__ import annotations

from pathlib import Path

from ..core.errors import ModelError

__all__ = ["DEFAULT_MODEL_FILE", "default_model_path"]

DEFAULT_MODEL_FILE = "default_swir.pt"
"""File name of the shipped model inside ``hsimin/models/weights/``."""


def default_model_path() -> Path:
    """Path of the shipped default model checkpoint (a ``.pt`` file that loads with
    ``torch.load(path, weights_only=True)``; load it with :func:`hsimin.models.load_model`).

    Raises :class:`ModelError` if the file is missing from this installation.
    """
    path = Path(__file__).resolve().parent / "weights" / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise ModelError("the shipped default model is missing from this installation; reinstall hsimin or pass "
                         "--model PATH", path=path)
    return path
