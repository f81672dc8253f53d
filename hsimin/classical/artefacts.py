"""Tray-artefact screen: is a pixel tray (plastic, wood, cardboard, metal) rather than rock?

A classifier trained on minerals only has no answer "this is the tray": the black plastic floor of a core tray
gets its nearest mineral and would count as core. The screen compares every pixel with the real USGS spectra of
tray materials (``usgs_artefacts``) and with USGS splib07 spectra of the classifier's minerals over the
identification range; a pixel closer to an artefact than to every mineral is tray. ``hsimin batch`` and
``hsimin classify`` apply it to models without artefact classes.

Two questions, each asked only where it can be answered:

* **Where the pixel has absorption features** (its deepest one reaches :data:`hsimin.classical.swir.SIGNIFICANCE`
  times its own noise, :func:`hsimin.classical.swir.estimate_noise`, the library path's aspectral test), what is
  compared is the *features*, not the reflectance: the spectral angle between continuum-removed absorbances
  ``-ln(CR)``, with the cores of the molecular-water bands (1380-1480, 1880-2020 nm) left out. A tray material is
  told from a rock by what absorbs (the C-H overtones and combinations of polymers near 1730 and 2310 nm, the
  cellulose band of wood and cardboard near 2100 nm), whereas the angle between raw reflectance spectra is set
  mostly by the continuum (brightness slope, grain size, iron and dark coatings), which says nothing about the
  material: there a bright, flat rock (a marble, a calcite or gypsum chip) is closer to white plastic than to the
  curved continuum of a lab powder of its own mineral. Water is left out because rock and wood both hold it, in
  amounts that say how wet the tray is, not what the material is.
* **Where it has none** (black plastic, metal, a dark or featureless rock), features are noise and cannot decide;
  the continuum is all there is. The angle between reflectance spectra (water cores left out) to the tray
  materials is compared with that to the minerals *and* to the SWIR-inactive minerals a featureless rock is made
  of (quartz, feldspar, pyroxene, magnetite, ...: :data:`hsimin.classical.simulate.INACTIVE_MINERALS`), so a
  dark rock stays rock unless its continuum is a tray material's.

Both are measured on band averages (at most :data:`SCREEN_MAX_BANDS` bins over the identification range), which
average the noise down rather than picking single noisy bands.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.types import Cube
from ..core.vocabulary import ARTEFACT_CLASSES, NON_MINERAL_CLASSES
from ..preprocess.continuum import remove_continuum
from .._numba import parallel_chunks
from .swir import NOISE_FLOOR_ABS, NOISE_FLOOR_REL, SIGNIFICANCE, SWIR, WATER_CORES_NM, estimate_noise

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

    Compared with the ``usgs_artefacts`` spectra (plastics, wood, cardboard, metal) on one side and, on the other,
    USGS splib07 spectra of the model's minerals, of the default SWIR minerals
    (:data:`hsimin.classical.references.CORE_SWIR_MINERALS`) and of the SWIR-inactive minerals (at most 12 per
    mineral): by absorption features where the pixel has features above its noise, by
    reflectance where it has none (see the module docstring). Measured on at most 40 band averages of the
    identification range (1300-2480 nm); a pixel closer to an artefact than to every mineral is tray. One
    continuum removal, one noise estimate and two matrix products per chunk of pixels."""

    def __init__(self, wavelengths, fwhm, bad_bands, minerals):
        from .defaults import DEFAULT_FIT_RANGE_NM
        from .simulate import INACTIVE_MINERALS
        from .streaming import prepare_library, select_bands
        from ..core.errors import LibraryError
        from ..io.colors import normalise_name
        from ..preprocess.resample import resample_library
        from .references import CORE_SWIR_MINERALS, reference_library

        probe = Cube(np.zeros((1, 1, len(wavelengths)), np.float32), wavelengths, fwhm=fwhm, bad_bands=bad_bands)
        idx = select_bands(probe, DEFAULT_FIT_RANGE_NM)
        wl = np.asarray(wavelengths, np.float64)[idx]
        fw = None if fwhm is None else np.asarray(fwhm, np.float64)[idx]
        # band averages: consecutive runs of the identification range's bands (noise averages down by the root of
        # a run's length; a single band every n would keep all of it)
        n_bins = min(SCREEN_MAX_BANDS, idx.size)
        self._starts = np.linspace(0, idx.size, n_bins + 1).round().astype(np.intp)[:-1]
        self._counts = np.diff(np.append(self._starts, idx.size)).astype(np.float64)
        self.sensor_wavelengths = wl
        self.wavelengths = self.average(wl[None])[0]
        self.dry = np.ones(n_bins, bool)                                 # bins outside the water-band cores
        for lo, hi in WATER_CORES_NM:
            self.dry &= ~((self.wavelengths >= lo) & (self.wavelengths <= hi))

        # the one reference library (hsimin.classical.references): the model's minerals and every default SWIR
        # mineral (the question is "tray or rock?", and rock may hold a mineral the model has no class for: talc's
        # MgOH band at 2310 nm sits on the C-H band of polyethylene, so a talc pixel compared with a model's
        # kaolinite, mica and calcite alone would read as plastic), the SWIR-inactive minerals (a featureless
        # rock is made of them), and all four tray materials; all resampled to the sensor's bands, then averaged like a pixel
        names = sorted(({normalise_name(m) for m in minerals} | set(CORE_SWIR_MINERALS)) - NOT_CORE_CLASSES)
        try:
            rock = reference_library(names, artefacts=False) if names else None
        except LibraryError:
            rock = None
        if rock is None or len(rock) < 10:  # a model of minerals the library lacks: compare with all of it
            rock = reference_library("all", artefacts=False)
        inactive = []
        for m in INACTIVE_MINERALS:          # those the installed library holds
            try:
                inactive.append(reference_library([m], artefacts=False))
            except LibraryError:
                pass
        art = reference_library([], artefacts=True, artefact_classes=ARTEFACTS)

        def prepared(lib, per_mineral=SCREEN_MAX_PER_MINERAL):
            lib = resample_library(lib, wl, fw)
            ok = np.isfinite(np.asarray(lib.spectra, np.float64)).all(axis=1)
            lib = lib.subset(np.flatnonzero(ok))
            keep = []  # at most 12 spectra per mineral, spread over its list: the screen's cost is one product
            for m in dict.fromkeys(lib.minerals):
                ii = [i for i, x in enumerate(lib.minerals) if x == m]
                keep += [ii[j] for j in np.unique(np.linspace(0, len(ii) - 1, per_mineral).round().astype(int))]
            lib = prepare_library(lib.subset(np.array(sorted(keep))), wl, fw)
            return self.average(np.asarray(lib.spectra, np.float64))

        R_rock, R_art = prepared(rock), prepared(art, per_mineral=len(art))  # every tray material: each differs
        R_inactive = np.vstack([prepared(x) for x in inactive]) if inactive else np.zeros((0, n_bins))
        # rock is the minerals and the SWIR-inactive ones (a feldspar's or a garnet's faint bands are still rock's)
        R_rock = np.vstack([R_rock, R_inactive])
        self.n_rock = len(R_rock)
        # (b, N) unit columns, rock first, artefacts last: features for the featured pixels, reflectance (dry
        # bins) for the featureless ones
        self.refs = _unit_columns(self.features(np.vstack([R_rock, R_art]), averaged=True))
        self.refs_flat = _unit_columns(np.vstack([R_rock, R_art])[:, self.dry])
        self.bands = (slice(int(idx[0]), int(idx[-1]) + 1) if np.all(np.diff(idx) == 1) else idx)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(n,) bool: True where a pixel (n, B) of reflectance is closer to an artefact than to any mineral."""
        return self.screen(pixels[:, self.bands])

    def average(self, X: np.ndarray) -> np.ndarray:
        """(n, b) band averages of spectra (n, B) on :attr:`bands` (the bins of :attr:`wavelengths`)."""
        # float64 sums of the values as they are: the same numbers as converting the whole array first
        return np.add.reduceat(np.asarray(X), self._starts, axis=1, dtype=np.float64) / self._counts

    def features(self, X: np.ndarray, *, averaged: bool = False) -> np.ndarray:
        """(n, b) absorption features of reflectance on :attr:`bands` (or of band averages, ``averaged``):
        ``-ln(CR)`` (upper convex hull), 0 in the water-band cores and where the reflectance is not positive."""
        A = np.asarray(X, np.float64) if averaged else self.average(X)
        cr = remove_continuum(np.where(A > 0, A, 1e-4), self.wavelengths)
        F = -np.log(np.clip(np.nan_to_num(cr, nan=1.0), 1e-3, None))
        F[:, ~self.dry] = 0.0
        return F

    def featureless(self, X: np.ndarray, F: np.ndarray | None = None) -> np.ndarray:
        """(n,) bool: pixels (n, B) on :attr:`bands` whose deepest absorption feature is below
        :data:`~hsimin.classical.swir.SIGNIFICANCE` times their own noise (the library path's aspectral test)."""
        F = self.features(X) if F is None else F
        # the noise where the library path reads it (its diagnostic window): the same estimate, a third of the bands
        noise, _ = estimate_noise(X, self.sensor_wavelengths, SWIR.diagnostic_nm, floor_rel=NOISE_FLOOR_REL,
                                  floor_abs=NOISE_FLOOR_ABS)
        return ~(F.max(axis=1) >= SIGNIFICANCE * noise)

    def screen(self, X: np.ndarray) -> np.ndarray:
        """:meth:`__call__` for pixels already cut to :attr:`bands`."""
        out = np.zeros(X.shape[0], bool)
        k = self.n_rock

        def run(r0: int, r1: int) -> None:
            x = X[r0:r1]
            A = self.average(x)          # once: the features' and the featureless pixels' reflectance
            F = self.features(A, averaged=True)
            # cosines up to the pixel's norm, which does not change the ordering
            C = F.astype(np.float32) @ self.refs
            tray = C[:, k:].max(axis=1) > C[:, :k].max(axis=1)
            flat = self.featureless(x, F)
            if flat.any():
                G = A[flat][:, self.dry].astype(np.float32) @ self.refs_flat
                tray[flat] = G[:, k:].max(axis=1) > G[:, :k].max(axis=1)
            out[r0:r1] = tray

        parallel_chunks(X.shape[0], run, SCREEN_CHUNK)   # chunks of SCREEN_CHUNK pixels, several in flight
        return out


def _unit_columns(R: np.ndarray) -> np.ndarray:
    """(b, N) float32: the rows of R (N, b) as unit columns."""
    R = np.asarray(R, np.float64)
    R = R / np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(R.T, dtype=np.float32)


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
