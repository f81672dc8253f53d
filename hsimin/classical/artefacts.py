"""Tray-artefact screen: is a pixel tray (plastic, wood, cardboard, metal) rather than rock?

A classifier trained on minerals only has no answer "this is the tray": the black plastic floor of a core tray
gets its nearest mineral (for hsimin's shipped model, biotite) and would count as core. The screen compares
every pixel with the real USGS spectra of tray materials (``usgs_artefacts``) and with USGS splib07 spectra
of the classifier's minerals, by spectral angle over the identification range; a pixel closer to an artefact
than to every mineral is tray. ``hsimin batch`` and ``hsimin classify`` apply it to models without artefact
classes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.types import Cube
from ..core.vocabulary import ARTEFACT_CLASSES, NON_MINERAL_CLASSES

__all__ = ["ARTEFACTS", "ArtefactScreen", "NOT_CORE_CLASSES", "has_artefact_classes", "screen_cube"]

NOT_CORE_CLASSES = frozenset(NON_MINERAL_CLASSES) | {"tray", "background", "unclassified", "no_data", "nodata",
                                                     "masked"}
"""Class names that are not core: tray artefacts and non-answers. Their pixels are left out of core, depth
registration, abundances and feature means (they keep their label in the map)."""

ARTEFACTS = ARTEFACT_CLASSES
"""The tray-artefact classes of the vocabulary (:data:`hsimin.core.vocabulary.ARTEFACT_CLASSES`)."""
SCREEN_MAX_BANDS = 40
SCREEN_MAX_PER_MINERAL = 12
SCREEN_CHUNK = 16384


class ArtefactScreen:
    """Is a pixel tray rather than rock? For models that have no artefact classes (a black plastic tray floor
    would otherwise be called its nearest mineral, e.g. biotite, and count as core).

    The spectral angle of every valid pixel to the ``usgs_artefacts`` spectra (plastics, wood, cardboard, metal)
    and to USGS splib07 spectra of the model's minerals (at most 12 per mineral), on at most 40 bands of the
    identification range (1300-2480 nm): a pixel closer to an artefact than to every mineral is tray. One matrix
    product per chunk of pixels: about 5 % of a tray's time."""

    def __init__(self, wavelengths, fwhm, bad_bands, minerals):
        from .defaults import DEFAULT_FIT_RANGE_NM
        from .streaming import prepare_library, select_bands
        from ..core.errors import LibraryError
        from ..core.types import SpectralLibrary
        from ..io.colors import normalise_name

        probe = Cube(np.zeros((1, 1, len(wavelengths)), np.float32), wavelengths, fwhm=fwhm, bad_bands=bad_bands)
        idx = select_bands(probe, DEFAULT_FIT_RANGE_NM)
        idx = idx[::max(1, -(-idx.size // SCREEN_MAX_BANDS))]
        wl = np.asarray(wavelengths, np.float64)[idx]
        fw = None if fwhm is None else np.asarray(fwhm, np.float64)[idx]
        names = sorted({normalise_name(m) for m in minerals} - NOT_CORE_CLASSES)
        # the one reference library (hsimin.classical.references), cut to the model's minerals, and all four tray
        # materials; both resampled to the screen's bands
        from ..preprocess.resample import resample_library
        from .references import reference_library
        try:
            rock = reference_library(names, artefacts=False) if names else None
        except LibraryError:
            rock = None
        if rock is None or len(rock) < 10:  # a model of minerals the library lacks: compare with all of it
            rock = reference_library("all", artefacts=False)
        rock = resample_library(rock, wl, fw)
        keep = []  # at most 12 spectra per mineral, spread over its list: the screen's cost is one product
        for m in dict.fromkeys(rock.minerals):
            ii = [i for i, x in enumerate(rock.minerals) if x == m]
            keep += [ii[j] for j in np.unique(np.linspace(0, len(ii) - 1, SCREEN_MAX_PER_MINERAL).round().astype(int))]
        rock = rock.subset(np.array(sorted(keep)))
        art = resample_library(reference_library([], artefacts=True, artefact_classes=ARTEFACTS), wl, fw)
        lib = SpectralLibrary(np.vstack([rock.spectra, art.spectra]), wl, list(rock.names) + list(art.names),
                              list(rock.minerals) + list(art.minerals), fwhm=fw)
        lib = prepare_library(lib, wl, fw)
        is_art = np.array([m in ARTEFACTS for m in lib.minerals])
        order = np.argsort(is_art, kind="stable")                       # rock first, artefacts last
        R = np.asarray(lib.spectra, np.float64)[order]
        R /= np.linalg.norm(R, axis=1, keepdims=True)
        self.refs = np.ascontiguousarray(R.T, dtype=np.float32)          # (b, N)
        self.n_rock = int((~is_art).sum())
        step = np.diff(idx)
        self.bands = (slice(int(idx[0]), int(idx[-1]) + 1, int(step[0]))
                      if idx.size > 1 and np.all(step == step[0]) else idx)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(n,) bool: True where a pixel (n, B) of reflectance is closer to an artefact than to any mineral."""
        return self.screen(pixels[:, self.bands])

    def screen(self, X: np.ndarray) -> np.ndarray:
        """:meth:`__call__` for pixels already cut to :attr:`bands`."""
        out = np.zeros(X.shape[0], bool)
        k = self.n_rock
        for i in range(0, X.shape[0], SCREEN_CHUNK):
            # cosines up to the pixel's norm, which does not change the ordering
            C = np.ascontiguousarray(X[i:i + SCREEN_CHUNK], dtype=np.float32) @ self.refs
            out[i:i + SCREEN_CHUNK] = C[:, k:].max(axis=1) > C[:, :k].max(axis=1)
        return out


def has_artefact_classes(class_names: Sequence[str]) -> bool:
    """True when a classifier has tray-artefact classes of its own (then it needs no screen)."""
    from ..io.colors import normalise_name
    return any(normalise_name(c) in ARTEFACTS for c in class_names)


def screen_cube(cube: Cube, class_names: Sequence[str], *, lines: int | None = None) -> np.ndarray:
    """(H, W) bool: True where a pixel of ``cube`` is tray artefact rather than one of ``class_names``'
    minerals (pixels outside ``cube.mask`` or with a non-finite band are False). Streams the cube in line
    blocks (:func:`hsimin.core.blocks.iter_blocks`), reading only the screen's bands."""
    from ..core.blocks import iter_blocks

    screen = ArtefactScreen(cube.wavelengths, cube.fwhm, cube.bad_bands, class_names)
    H, W = cube.shape[:2]
    out = np.zeros((H, W), bool)
    for block in iter_blocks(cube, **({} if lines is None else {"lines": lines})):
        X = np.asarray(block.data, np.float32).reshape(-1, cube.shape[2])
        ok = np.isfinite(X).all(axis=1)
        if block.mask is not None:
            ok &= np.asarray(block.mask).reshape(-1)
        tray = np.zeros(X.shape[0], bool)
        if ok.any():
            tray[ok] = screen(X[ok])
        out[block.rows] = tray.reshape(-1, W)
    return out
