"""Streaming whole cubes through a per-pixel function, block by block, without scikit-learn.

:func:`map_cube` reads a cube in line blocks (:func:`hsimin.core.blocks.iter_blocks`, bounded memory whatever
the cube's size), passes only the valid pixels of each block on as an (n, B) array and assembles (H, W)
outputs; :func:`map_features` runs the absorption-feature scalars that way; :func:`select_bands` and
:func:`prepare_library` put a cube's bands and a library on the same footing. ``hsimin.classical.mapping``
(identification with the scikit-learn estimators) builds on these; a model pipeline (``hsimin batch``,
``hsimin classify``) uses them without importing scikit-learn, which costs about two seconds per process.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..core.blocks import check_output_memory, iter_blocks
from ..core.errors import InputError, LibraryError, WavelengthError
from ..core.types import Cube, SpectralLibrary
from ..preprocess import resample_library
from ..preprocess.bands import bad_band_keep
from .defaults import DEFAULT_FIT_RANGE_NM
from .features import DEFAULT_WINDOWS, FeatureWindow, _as_windows, extract_features, windows_to_spec

__all__ = ["features_provenance", "map_cube", "map_features", "prepare_library", "select_bands"]

ProgressFn = Callable[[int, int], Any]


def select_bands(cube: Cube, fit_range: Sequence[float] | None = DEFAULT_FIT_RANGE_NM) -> np.ndarray:
    """Indices of the cube's bands inside ``fit_range`` (nm, inclusive; None or ``(-inf, inf)``: all) that are not
    bad bands. An infinite bound is open on that side (a fit range is a selection, unlike a feature window)."""
    wl = cube.wavelengths
    if fit_range is None:
        inside = np.ones(wl.size, bool)
    else:
        lo, hi = (float(v) for v in fit_range)
        if np.isnan(lo) or np.isnan(hi) or not lo < hi:
            raise WavelengthError(f"fit range ({lo:g}, {hi:g}) nm must have lo_nm < hi_nm")
        inside = (wl >= lo) & (wl <= hi)
    good = np.zeros(wl.size, bool)
    good[bad_band_keep(np.zeros(wl.size, bool) if cube.bad_bands is None else cube.bad_bands, wl.size)] = True
    idx = np.flatnonzero(inside & good)
    if idx.size < 3:
        where = "" if fit_range is None else f" in {fit_range[0]:g}-{fit_range[1]:g} nm"
        raise WavelengthError(f"the cube ({wl.min():g}-{wl.max():g} nm) has only {idx.size} good bands{where}; "
                              "give a fit range that the cube covers")
    return idx


def map_cube(cube: Cube, fn: Callable[[np.ndarray], Mapping[str, np.ndarray]],
             outputs: Mapping[str, tuple[tuple[int, ...], Any, Any]], *, bands: np.ndarray | None = None,
             lines: int | None = None, max_bytes: int | None = None, progress: ProgressFn | None = None,
             require_finite: bool = True) -> dict[str, np.ndarray]:
    """Apply ``fn`` to the valid pixels of a cube, block by block, and assemble (H, W, ...) outputs.

    Parameters
    ----------
    cube : Cube (data may be a memmap or a lazy reader-backed array)
    fn : ``fn(pixels) -> {name: (n, ...) array}``, called with (n, len(bands)) float32 reflectance of the valid
        pixels of one block, in row-major order
    outputs : ``name -> (trailing shape, dtype, fill value)`` of every output ``fn`` returns; masked and invalid
        pixels keep the fill value
    bands : band indices to pass to ``fn`` (default: all); a pixel is valid when ``cube.mask`` is True (or there
        is no mask) and it is finite in all of these bands (``require_finite``) or in at least one of them
    lines, max_bytes : block size (see :func:`hsimin.core.blocks.iter_blocks`)
    progress : ``progress(lines_done, lines_total)``, called after every block

    Returns
    -------
    dict ``name -> (H, W, *trailing) array``, plus ``"valid"``: (H, W) bool, the pixels ``fn`` saw.
    """
    H, W, B = cube.shape
    sel = np.arange(B) if bands is None else np.asarray(bands, dtype=np.int64)
    contiguous = sel.size and np.all(np.diff(sel) == 1)
    per_pixel = 1 + sum(np.dtype(dt).itemsize * int(np.prod(shape, dtype=np.int64))
                        for shape, dt, _ in outputs.values())
    check_output_memory(cube, H * W * per_pixel)   # a huge cube streams, but its maps must fit in memory
    res = {name: np.full((H, W) + tuple(shape), fill, dtype=dtype) for name, (shape, dtype, fill) in outputs.items()}
    valid_map = np.zeros((H, W), bool)
    for block in iter_blocks(cube, lines, max_bytes=max_bytes):
        data = block.data[:, :, sel[0]:sel[-1] + 1] if contiguous else block.data[:, :, sel]
        finite = np.isfinite(data)
        valid = finite.all(axis=2) if require_finite else finite.any(axis=2)
        del finite
        if block.mask is not None:
            valid &= block.mask
        valid_map[block.rows] = valid
        if valid.any():
            pix = np.ascontiguousarray(data[valid], dtype=np.float32)
            del data
            answer = fn(pix)
            for name, arr in answer.items():
                if name not in res:
                    raise InputError(f"map_cube: fn returned {name!r}, which is not among the declared outputs")
                res[name][block.rows][valid] = arr
        if progress is not None:
            progress(block.rows.stop, H)
    res["valid"] = valid_map
    return res


def map_features(cube: Cube, windows: Sequence[FeatureWindow] | str = DEFAULT_WINDOWS, *,
                 min_depth: float = 0.02, lines: int | None = None, max_bytes: int | None = None,
                 progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
    """Absorption-feature scalars of every pixel (see :func:`hsimin.classical.extract_features`).

    Bad bands are dropped; masked pixels are NaN, and so are the scalars of a window whose hull range holds a
    NaN band of the pixel (the other windows of that pixel are measured). Returns
    ``"{window}_{quantity}" -> (H, W) float32``.
    """
    windows = _as_windows(windows)
    if not (np.isfinite(min_depth) and 0.0 <= float(min_depth) < 1.0):
        raise InputError(f"min_depth is a depth below the continuum, 0 <= depth < 1; got {min_depth!r}")
    idx = select_bands(cube, None)
    wl = cube.wavelengths[idx]
    names = [f"{w.name}_{q}" for w in windows for q in ("wavelength_nm", "depth", "width_nm", "asymmetry")]
    outputs = {n: ((), np.float32, np.nan) for n in names}
    res = map_cube(cube, lambda X: extract_features(X, wl, windows, min_depth=min_depth), outputs,
                   bands=idx, lines=lines, max_bytes=max_bytes, progress=progress, require_finite=False)
    res.pop("valid")
    return res


def prepare_library(library: SpectralLibrary, wavelengths: ArrayLike, fwhm: ArrayLike | None=None, *, include_mixtures: bool = False
                    ) -> SpectralLibrary:
    """The library on the given bands, ready to fit a matcher.

    Resampled with :func:`hsimin.preprocess.resample_library` (Gaussian response when ``fwhm`` is given,
    linear otherwise) unless these bands are among its own (e.g. a library loaded with
    ``load_library(..., wavelengths=cube.wavelengths, fwhm=cube.fwhm)``, which resamples each instrument from its
    native grid): then they are taken as they are. Spectra that are NaN or not positive in any of the bands, and
    mixtures (``attrs['is_mixture']``, unless ``include_mixtures``), are dropped. Raises :class:`LibraryError`
    when nothing is left.
    """
    wl = np.asarray(wavelengths, dtype=np.float64)
    near = _band_indices(library.wavelengths, wl)
    if near is not None:   # the bands are among the library's: take them, no resampling
        lib = SpectralLibrary(library.spectra[:, near], wl, library.names, library.minerals, library.source,
                              library.sample_ids, None if library.fwhm is None else library.fwhm[near],
                              library.attrs)
    else:
        lib = resample_library(library, wl, None if fwhm is None else np.asarray(fwhm, np.float64))
    S = np.asarray(lib.spectra, dtype=np.float64)
    keep = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    mix = lib.attrs.get("is_mixture")
    if mix is not None and not include_mixtures:
        keep &= ~np.asarray([bool(v) for v in mix])
    keep &= np.array([bool(m) and m.lower() not in ("unknown", "") for m in lib.minerals])
    if not keep.any():
        raise LibraryError(f"no spectrum of library {library.source or '(unnamed)'} covers "
                           f"{wl.min():g}-{wl.max():g} nm without gaps; use a library that covers the cube's bands")
    return lib.subset(keep)


def _band_indices(have: np.ndarray, want: np.ndarray, tol: float = 1e-6) -> np.ndarray | None:
    """Indices into ``have`` (nm, increasing) of the bands ``want``, or None if one is not within ``tol`` nm."""
    have = np.asarray(have, np.float64)
    want = np.asarray(want, np.float64)
    pos = np.clip(np.searchsorted(have, want), 0, have.size - 1)
    prev = np.maximum(pos - 1, 0)
    near = np.where(np.abs(have[prev] - want) < np.abs(have[pos] - want), prev, pos)
    return near if np.all(np.abs(have[near] - want) <= tol) else None


def features_provenance(windows: Sequence[FeatureWindow], min_depth: float) -> dict:
    """JSON-able description of a feature-map run (windows spec and thresholds)."""
    return {"windows": windows_to_spec(_as_windows(windows)), "min_depth": float(min_depth),
            "quantities": ["wavelength_nm", "depth", "width_nm", "asymmetry"],
            "continuum": "local upper convex hull quotient over each window's hull range"}
