"""The pretrained default model shipped with hsimin (``hsimin classify --model default``).

``weights/default_swir.pt`` is a pixel classifier for SWIR core scans (1300-2480 nm on the HyLogger band grid; other
cubes are resampled), trained by ``hsimin train configs/default_model.toml`` on scanner-like spectra simulated from
USGS splib07 spectra (:mod:`hsimin.train.simulated`) with the samples of the bundled sample tray held out;
``weights/README.md`` says how it was made and how accurate it is.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ModelError

__all__ = ["DEFAULT_MODEL_FILE", "DEFAULT_MODEL_NAME", "default_model_path", "model_path"]

DEFAULT_MODEL_FILE = "default_swir.pt"
"""File name of the shipped model inside ``hsimin/models/weights/``."""

DEFAULT_MODEL_NAME = "default"
"""What ``--model`` (and ``model=`` of the public functions) says for the shipped model."""


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


def model_path(model: str | os.PathLike | None) -> Path:
    """The checkpoint a ``--model`` value names: :data:`DEFAULT_MODEL_NAME` (any case) or None is the shipped
    model (:func:`default_model_path`), anything else a path (``~`` expanded). Every entry point (``classify``,
    ``explain``, ``batch``, :func:`hsimin.predict.workflow.classify_cube`) resolves the alias here."""
    if model is None or str(model).strip().lower() == DEFAULT_MODEL_NAME:
        return default_model_path()
    return Path(os.fspath(model)).expanduser()
