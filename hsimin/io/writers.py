"""Small atomic writers every output needs: bytes, text, JSON and matplotlib figures as PNG.

Each writes to a temporary file beside the final one and renames it into place
(:func:`hsimin.io.atomic.atomic_output`), so a crash or a full disk never leaves a half-written file that looks
finished; inside :func:`hsimin.io.output_group` the renames wait for the group.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.plain import json_text
from .atomic import atomic_output

__all__ = ["save_figure", "write_bytes", "write_json", "write_text"]


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(obj: Any, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write JSON (numpy scalars/arrays converted, :func:`hsimin.core.plain.to_plain`; NaN/inf written as null, so
    any JSON reader takes it), indented, atomically."""
    return write_text(path, json_text(obj, indent=2) + "\n", overwrite=overwrite)


def save_figure(fig, path: str | os.PathLike, *, dpi: float | None = None, overwrite: bool = False) -> Path:
    """Save a matplotlib figure as PNG, atomically, at ``dpi`` (default: the figure's own), with ``Software:
    hsimin`` in the PNG metadata instead of matplotlib's version, so the same figure gives the same bytes on
    machines with another matplotlib. Figures made with ``matplotlib.figure.Figure`` need no closing; pyplot
    figures are the caller's to close."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi if dpi is None else dpi, metadata={"Software": "hsimin"})
    return Path(path)
