"""The scaffolding every last-axis transform shares: check and view the input as rows of bands, and the output
(a new array, or the caller's ``out``) as rows to write into.

Every preprocessing function takes a spectrum (B,), spectra (N, B) or a cube (H, W, B) and works on the last
axis. They all start the same way (:func:`spectra_and_wavelengths` or :func:`as_rows`) and, when they write
spectra of the input's shape, end the same way (:func:`output_rows`, then :meth:`OutputRows.finish`); a change
of the rules (accepted dtypes, what ``out`` may be) is made here once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..core.errors import InputError
from ..core.units import check_wavelengths

__all__ = ["OutputRows", "as_rows", "output_rows", "spectra_and_wavelengths"]


def _band_axis(spectra: ArrayLike) -> np.ndarray:
    X = np.asarray(spectra)
    if X.ndim == 0:
        raise InputError("spectra must have a band axis (the last axis); got a scalar")
    return X


def spectra_and_wavelengths(spectra: ArrayLike, wavelengths: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(spectra as an array with a band axis, wavelengths (B,) float64 nm checked against it); no dtype change."""
    X = _band_axis(spectra)
    return X, check_wavelengths(wavelengths, X.shape[-1], "wavelengths")


def as_rows(spectra: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(X, rows): ``X`` the spectra as float32 (kept) or float64 (any other numeric type), shape (..., B);
    ``rows`` the same values as a C-contiguous (N, B) array (a view when ``X`` already is contiguous).

    Raises :class:`InputError` for a scalar or a non-numeric array."""
    X = _band_axis(spectra)
    if X.dtype.kind not in "fiub":
        raise InputError(f"spectra must be numeric, got dtype {X.dtype}")
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float64)
    return X, np.ascontiguousarray(X.reshape(-1, X.shape[-1]))


@dataclass
class OutputRows:
    """Where a transform writes: ``rows`` (N, B) float, straight into ``result`` when that is C-contiguous float32
    or float64, else into a float64 buffer that :meth:`finish` copies into ``result``."""

    result: np.ndarray
    rows: np.ndarray
    direct: bool

    def finish(self) -> np.ndarray:
        """Copy the buffer into the result if one was used; returns the result."""
        if not self.direct:
            self.result[...] = self.rows.reshape(self.result.shape)
        return self.result


def output_rows(X: np.ndarray, out: np.ndarray | None) -> OutputRows:
    """The output of a transform of ``X`` (..., B): a new array of ``X``'s shape and dtype, or ``out`` (a float
    ndarray of that shape, possibly ``X`` itself). Raises :class:`InputError` for an ``out`` of another shape or
    a non-float dtype."""
    if out is None:
        result = np.empty(X.shape, dtype=X.dtype)
    else:
        if not isinstance(out, np.ndarray) or out.shape != X.shape or out.dtype.kind != "f":
            raise InputError(f"out must be a float ndarray of the spectra's shape {X.shape}, got "
                             f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}")
        result = out
    direct = bool(result.flags.c_contiguous and result.dtype in (np.float32, np.float64))
    rows = result.reshape(-1, X.shape[-1]) if direct else np.empty((int(np.prod(X.shape[:-1])), X.shape[-1]),
                                                                   dtype=np.float64)
    return OutputRows(result, rows, direct)
