"""Tray-artefact screen: is a pixel tray (plastic, wood, cardboard, metal) rather than rock?

A classifier trained on minerals only has no answer "this is the tray": the black plastic floor of a core tray
gets its nearest mineral and would count as core. The screen compares every pixel with the real USGS spectra of
tray materials (``usgs_artefacts``) and with USGS splib07 spectra of the classifier's minerals over the
identification range; a pixel closer to an artefact than to every mineral is tray. ``hsimin batch`` and
``hsimin classify`` apply it to models without artefact classes.

What is compared is the *absorption features*, not the reflectance: the spectral angle between continuum-removed
absorbances ``-ln(CR)``, with the cores of the molecular-water bands (1380-1480, 1880-2020 nm) left out. A tray
material is told from a rock by what absorbs (the C-H overtones and combinations of polymers near 1730 and
2310 nm, the cellulose band of wood and cardboard near 2100 nm), whereas the angle between raw reflectance
spectra is set mostly by the continuum (brightness slope, grain size, iron and dark coatings), which says
nothing about the material: there a bright, flat rock (a marble, a calcite or gypsum chip) is closer to white
plastic than to the curved continuum of a lab powder of its own mineral. Water is left out because rock and
wood both hold it, in amounts that say how wet the tray is, not what the material is.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.types import Cube
from ..core.vocabulary import ARTEFACT_CLASSES, NON_MINERAL_CLASSES
from ..preprocess.continuum import remove_continuum
from .swir import WATER_CORES_NM

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

    The spectral angle between the absorption features (continuum-removed absorbance, water-band cores left out;
    see the module docstring) of every valid pixel and those of the ``usgs_artefacts`` spectra (plastics, wood,
    cardboard, metal) and of USGS splib07 spectra of the model's minerals and of the default SWIR minerals
    (:data:`hsimin.classical.references.CORE_SWIR_MINERALS`; at most 12 per mineral), on at most 40
    bands of the identification range (1300-2480 nm): a pixel closer to an artefact than to every mineral is
    tray. One continuum removal and one matrix product per chunk of pixels."""

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
        # the one reference library (hsimin.classical.references): the model's minerals and every default SWIR
        # mineral (the question is "tray or rock?", and rock may hold a mineral the model has no class for: talc's
        # MgOH band at 2310 nm sits on the C-H band of polyethylene, so a talc pixel compared with a model's
        # kaolinite, mica and calcite alone would read as plastic), and all four tray materials; both resampled
        # to the screen's bands
        from ..preprocess.resample import resample_library
        from .references import CORE_SWIR_MINERALS, reference_library
        names = sorted(({normalise_name(m) for m in minerals} | set(CORE_SWIR_MINERALS)) - NOT_CORE_CLASSES)
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
        self.wavelengths = wl
        self.dry = np.ones(wl.size, bool)                                # bands outside the water-band cores
        for lo, hi in WATER_CORES_NM:
            self.dry &= ~((wl >= lo) & (wl <= hi))
        R = self.features(np.asarray(lib.spectra, np.float64)[order])
        R /= np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-12)
        self.refs = np.ascontiguousarray(R.T, dtype=np.float32)          # (b, N)
        self.n_rock = int((~is_art).sum())
        step = np.diff(idx)
        self.bands = (slice(int(idx[0]), int(idx[-1]) + 1, int(step[0]))
                      if idx.size > 1 and np.all(step == step[0]) else idx)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(n,) bool: True where a pixel (n, B) of reflectance is closer to an artefact than to any mineral."""
        return self.screen(pixels[:, self.bands])

    def features(self, X: np.ndarray) -> np.ndarray:
        """(n, b) absorption features of reflectance on :attr:`bands`: ``-ln(CR)`` (upper convex hull), 0 in the
        water-band cores and where the reflectance is not positive."""
        X = np.asarray(X, np.float64)
        cr = remove_continuum(np.where(X > 0, X, 1e-4), self.wavelengths)
        A = -np.log(np.clip(np.nan_to_num(cr, nan=1.0), 1e-3, None))
        A[:, ~self.dry] = 0.0
        return A

    def screen(self, X: np.ndarray) -> np.ndarray:
        """:meth:`__call__` for pixels already cut to :attr:`bands`."""
        out = np.zeros(X.shape[0], bool)
        k = self.n_rock
        for i in range(0, X.shape[0], SCREEN_CHUNK):
            # cosines up to the pixel's norm, which does not change the ordering
            C = np.ascontiguousarray(self.features(X[i:i + SCREEN_CHUNK]), dtype=np.float32) @ self.refs
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
