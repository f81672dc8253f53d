"""Which torch device a ``device=`` / ``--device`` value names: the one resolution every torch-side entry point
(training, prediction, the napari widgets) uses, so they accept the same values and fail the same way."""
from __future__ import annotations

import torch

from ..core.errors import InputError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cpu"`` (also None), ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"`` (CUDA when present, else CPU) as a
    :class:`torch.device`.

    Raises :class:`InputError` for CUDA where this machine has none, and for text that is not a torch device; both
    messages name the value and say what to use instead."""
    d = "cpu" if device is None else str(device).strip()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {d!r}: CUDA is not available on this machine; use cpu (or auto)")
    try:
        return torch.device(d)
    except (RuntimeError, ValueError):
        raise InputError(f"device {d!r} is not a torch device; use cpu, cuda, cuda:N or auto") from None
