"""Plain Python values (and JSON text) from the numpy-laden values hsimin passes around: one converter for
checkpoint metadata, HDF5 ``attrs_json``, reports, ``hsimin info --json`` and napari layer metadata.

:func:`to_plain` turns numpy scalars and arrays, tuples and (sorted) sets into Python numbers and lists, and
mappings into dicts with string keys. Two strictness levels, because the callers need two:

- ``strict=True`` (checkpoints, model specs, recipes): anything else, and a non-string key, raises
  :class:`~hsimin.core.errors.InputError` naming ``where``: a checkpoint must never hold an object that
  ``torch.load(weights_only=True)`` would refuse or a reader would have to unpickle.
- ``strict=False`` (metadata and reports): paths and anything else become ``str``; keys become ``str``.

``nonfinite="null"`` writes NaN/inf as ``None`` (JSON ``null``, for files other tools read: strict JSON has no
NaN); ``"keep"`` leaves them (Python's json writes ``NaN``, which hsimin's own readers take back).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np

from .errors import InputError

__all__ = ["json_text", "to_plain"]


def to_plain(value: Any, *, where: str = "value", strict: bool = False, nonfinite: str = "keep") -> Any:
    """``value`` as str, int, float, bool, None, list and dict (str keys), recursively (see the module docstring).

    Parameters
    ----------
    where : how error messages name the value (strict mode)
    strict : refuse what is not plain data instead of turning it into text
    nonfinite : 'keep' or 'null' (NaN and infinities -> None)
    """
    if nonfinite not in ("keep", "null"):
        raise InputError(f"nonfinite must be 'keep' or 'null', got {nonfinite!r}")
    return _plain(value, where, strict, nonfinite == "null")


def _plain(value: Any, where: str, strict: bool, null: bool) -> Any:
    if value is None or type(value) in (str, bool, int):
        return value
    if type(value) is float:
        return None if (null and not math.isfinite(value)) else value
    for typ in (bool, str, int, float):  # subclasses (IntEnum, TorchVersion, np.float64...) as the plain type
        if isinstance(value, typ):
            return _plain(typ(value), where, strict, null)
    if isinstance(value, np.generic):
        return _plain(value.item(), where, strict, null)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where, strict, null)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", strict, null) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                if strict:
                    raise InputError(f"{where} has a non-string key {k!r}; use string keys")
                k = str(k)
            out[k] = _plain(v, f"{where}[{k!r}]", strict, null)
        return out
    if strict:
        raise InputError(f"{where} is a {type(value).__name__}; model specs, recipes and checkpoint metadata hold "
                         "only str, int, float, bool, None, lists and dicts (convert it to one of those)")
    if isinstance(value, (set, frozenset)):
        return [_plain(v, f"{where}[]", strict, null) for v in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_text(value: Any, *, indent: int | None = None, sort_keys: bool = False, nonfinite: str = "null",
              strict: bool = False) -> str:
    """``json.dumps`` of :func:`to_plain` (``value``); with ``nonfinite='null'`` (the default) the text is strict
    JSON that any tool reads."""
    return json.dumps(to_plain(value, strict=strict, nonfinite=nonfinite), indent=indent, sort_keys=sort_keys,
                      ensure_ascii=False, allow_nan=nonfinite == "keep")
