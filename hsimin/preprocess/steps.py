"""What a preprocessing step is: the :class:`Step` base class, the band set it acts on (:class:`Bands`), the
registry (:data:`STEPS`, :func:`register_step`) and the parameter checks every step uses (``param_*``).

A new step is a frozen dataclass subclass of :class:`Step`, decorated with ``@register_step("name")``, that
checks its parameters in ``__post_init__`` with the ``param_*`` functions (so a bad value raises
:class:`~hsimin.core.errors.ConfigError` naming the step and parameter), says how it changes the band set in
``bands`` and how it changes spectra in ``apply``; then it is a recipe step like the built-in ones
(:mod:`hsimin.preprocess.recipe`) — saved in checkpoints, replayed at inference, written to TOML.
``docs/howto_add_preprocessing_step.md`` walks through one (:mod:`hsimin.preprocess.absorbance`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..core.errors import ConfigError, InputError
from .bands import check_windows

__all__ = ["Bands", "STEPS", "Step", "param_bool", "param_choice", "param_error", "param_float", "param_grid",
           "param_int", "param_windows", "register_step"]


class Bands(NamedTuple):
    """The band set spectra are on: wavelengths (B,) nm, fwhm (B,) nm or None, bad_bands (B,) bool or None."""

    wavelengths: np.ndarray
    fwhm: np.ndarray | None = None
    bad_bands: np.ndarray | None = None

    def take(self, keep) -> "Bands":
        """The subset ``keep`` (slice or indices) of every per-band array."""
        return Bands(self.wavelengths[keep], None if self.fwhm is None else self.fwhm[keep],
                     None if self.bad_bands is None else self.bad_bands[keep])


STEPS: dict[str, type["Step"]] = {}
"""Registered steps: name -> class."""


def register_step(name: str):
    """Class decorator: register a :class:`Step` subclass under ``name`` (its ``step`` key when serialised)."""

    def deco(cls):
        if name in STEPS and STEPS[name] is not cls:
            raise ValueError(f"a recipe step named {name!r} is registered already ({STEPS[name].__name__})")
        cls.name = name
        STEPS[name] = cls
        return cls

    return deco


# --------------------------------------------------------------------------- parameter coercion

def param_error(step: str, param: str, msg: str) -> ConfigError:
    """The error for a bad parameter: ``recipe step '<step>': <param>: <msg>``."""
    return ConfigError(f"recipe step {step!r}: {param}: {msg}")


def param_int(step, param, v, lo=None) -> int:
    """``v`` as an int (integral floats accepted), at least ``lo``."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise param_error(step, param, f"must be an integer, got {v!r}")
    if float(v) != math.floor(float(v)) or not math.isfinite(float(v)):
        raise param_error(step, param, f"must be an integer, got {v!r}")
    v = int(v)
    if lo is not None and v < lo:
        raise param_error(step, param, f"must be >= {lo}, got {v}")
    return v


def param_float(step, param, v) -> float:
    """``v`` as a finite float."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise param_error(step, param, f"must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise param_error(step, param, f"must be finite, got {v}")
    return v


def param_choice(step, param, v, choices) -> str:
    """``v``, which must be one of ``choices``."""
    if not isinstance(v, str) or v not in choices:
        raise param_error(step, param, f"must be one of {', '.join(map(repr, choices))}, got {v!r}")
    return v


def param_bool(step, param, v) -> bool:
    """``v``, which must be a bool."""
    if not isinstance(v, (bool, np.bool_)):
        raise param_error(step, param, f"must be true or false, got {v!r}")
    return bool(v)


def param_windows(step, param, v) -> tuple[tuple[float, float], ...]:
    """``v`` as wavelength windows ((lo, hi), ...) in nm (:func:`~hsimin.preprocess.bands.check_windows`)."""
    try:
        return check_windows(v, param)
    except InputError as exc:
        raise param_error(step, param, exc.message) from None


def param_grid(step, param, v, n=None) -> tuple[float, ...]:
    """``v`` as a non-empty tuple of finite numbers (nm), ``n`` of them if given."""
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise param_error(step, param, "must be a list of numbers (nm)") from None
    if arr.ndim != 1 or arr.size == 0:
        raise param_error(step, param, f"must be a non-empty list of numbers (nm), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise param_error(step, param, "must hold finite numbers")
    if n is not None and arr.size != n:
        raise param_error(step, param, f"has {arr.size} values for {n} target bands")
    return tuple(float(x) for x in arr)


# --------------------------------------------------------------------------- steps

@dataclass(frozen=True)
class Step:
    """One preprocessing step. Subclasses are frozen dataclasses registered with :func:`register_step`.

    ``bands(b)`` returns the band set after the step; ``apply(spectra, b)`` returns the processed spectra
    (..., B') for spectra (..., B) on band set ``b``. ``params()`` is the JSON-able parameter dict.
    """

    name: ClassVar[str] = ""

    def bands(self, b: Bands) -> Bands:
        return b

    def apply(self, spectra: np.ndarray, b: Bands) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            out[f.name] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, **self.params()}
