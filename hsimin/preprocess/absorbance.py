"""Apparent absorbance: reflectance R to A = -log(R), and the recipe step ``absorbance``.

Why: in an intimate (particulate) mixture the minerals' absorptions combine close to linearly in absorbance,
not in reflectance (Hapke; Clark & Roush 1984), and a brightness factor becomes an additive offset that a
derivative or a continuum fit removes. Reflectance that is not positive (dead pixels, dark-frame artefacts) has
no absorbance and gives NaN rather than an infinity that would poison a fit.

This module is also the worked example of ``docs/howto_add_preprocessing_step.md``: a function on the band
(last) axis, and a :class:`~hsimin.preprocess.steps.Step` that makes it a recipe step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .lastaxis import as_rows, output_rows
from .steps import Bands, Step, param_choice, register_step

__all__ = ["ABSORBANCE_BASES", "Absorbance", "to_absorbance"]

ABSORBANCE_BASES = {"e": np.log, "10": np.log10}
"""Logarithm bases of :func:`to_absorbance`: natural (optical depth) or decadic (spectroscopists' absorbance)."""


def to_absorbance(spectra: ArrayLike, base: str = "10", *, out: np.ndarray | None = None) -> np.ndarray:
    """Apparent absorbance ``-log_base(R)`` of reflectance spectra, band by band.

    Parameters
    ----------
    spectra : (..., B) reflectance (0-1 scale; any positive scale only shifts A by a constant)
    base : ``"10"`` (default) or ``"e"``
    out : optional float array of the spectra's shape to write into (may be ``spectra`` itself)

    Returns (..., B) float32 for float32 input, else float64; NaN where R is not positive or not finite.
    """
    if base not in ABSORBANCE_BASES:
        from ..core.errors import InputError
        raise InputError(f"base must be one of {', '.join(ABSORBANCE_BASES)}, got {base!r}")
    X, rows = as_rows(spectra)
    dest = output_rows(X, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = -ABSORBANCE_BASES[base](np.where(rows > 0, rows, np.nan))
    dest.rows[...] = a
    return dest.finish()


@register_step("absorbance")
@dataclass(frozen=True)
class Absorbance(Step):
    """Recipe step: reflectance to apparent absorbance (:func:`to_absorbance`); ``base`` ``"10"`` or ``"e"``.
    The band set is unchanged."""

    base: str = "10"

    def __post_init__(self):
        object.__setattr__(self, "base", param_choice(self.name, "base", str(self.base), tuple(ABSORBANCE_BASES)))

    def bands(self, b: Bands) -> Bands:
        return b

    def apply(self, spectra, b):
        return to_absorbance(spectra, self.base)
