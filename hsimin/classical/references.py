"""The one reference library every interpretation uses: minerals a core scanner can identify, plus tray artefacts.

:func:`reference_library` is what ``hsimin identify``, ``hsimin batch``, ``hsimin classify``'s artefact screen and
the napari widgets all build their references with, so a change here reaches every entry point.

Which minerals (the choices, so they can be argued with)
--------------------------------------------------------
``CORE_SWIR_MINERALS`` are the minerals with a diagnostic SWIR feature that core-logging practice reports (the
list a HyLogger/TSG interpretation reports, in hsimin's vocabulary): kaolin minerals, white mica, smectites,
chlorite, dark mica, epidote, amphibole, serpentine, talc, pyrophyllite, the carbonates, the sulfates (gypsum,
alunite, jarosite), tourmaline, topaz, prehnite, the Al hydroxides, opal, palygorskite and brucite. Minerals
without a SWIR feature (quartz, feldspar, garnet, pyroxene, iron oxides) are not SWIR answers: a spectrum of them
is *aspectral* in the SWIR, and the iron oxides are the VNIR's answer (:mod:`hsimin.classical.vnir`). Rare or
ambiguous references (cookeite, vermiculite, glauconite, lepidolite...) are left out of the default set because
each extra reference is one more way to misname a common mineral. Halloysite and illite-smectite are left out
too: once molecular water is discounted (as it must be, since it varies with how wet the core is) halloysite's
SWIR features are those of poorly crystalline kaolinite, and illite-smectite's those of white mica or smectite,
so they would split one answer into two that the spectrum cannot tell apart (both stay in their groups); ``minerals="all"`` takes every SWIR-active
mineral of the library, and a list names exactly which.

The spectra: USGS splib07 (``usgs_splib07``, mixtures excluded) on its 1 nm grid, the magnesite of
``usgs_supplement`` (splib07a's mineral chapter has none), and, with ``artefacts=True``, wood, plastic and
cardboard from ``usgs_artefacts`` (metal is left out of the SWIR references: it is featureless, so it can only be
told apart by brightness, which a SWIR answer must not use; a bright, flat metal tray reads as aspectral).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.errors import LibraryError
from ..core.types import SpectralLibrary
from ..core.vocabulary import ARTEFACT_CLASSES

__all__ = ["CORE_SWIR_MINERALS", "SWIR_ARTEFACTS", "reference_library"]

CORE_SWIR_MINERALS = (
    "kaolinite", "dickite", "nacrite", "white_mica", "smectite", "nontronite",
    "chlorite", "biotite", "epidote", "amphibole", "serpentine", "talc", "pyrophyllite", "calcite", "dolomite",
    "siderite", "ankerite", "magnesite", "gypsum", "alunite", "jarosite", "tourmaline", "topaz", "prehnite",
    "gibbsite", "diaspore", "opal", "palygorskite", "brucite",
)
"""The default SWIR reference minerals (see the module docstring)."""

SWIR_ARTEFACTS = tuple(c for c in ARTEFACT_CLASSES if c != "metal")
"""Tray materials with SWIR features, answers of their own: the vocabulary's artefact classes but metal, which
has no SWIR absorption to fit (bright and flat, it is aspectral to the unmixing)."""


def reference_library(minerals: str | Sequence[str] = "core", *, artefacts: bool = True,
                      library: str = "usgs_splib07", exclude_samples: Sequence[str] = (),
                      artefact_classes: Sequence[str] = SWIR_ARTEFACTS) -> SpectralLibrary:
    """The reference spectra (see the module docstring) on a 1 nm grid from 350 to 2500 nm (NaN outside a
    source's range).

    Parameters
    ----------
    minerals : ``'core'`` (:data:`CORE_SWIR_MINERALS`), ``'curated'`` (every mineral of hsimin's curated
        vocabulary), ``'all'`` (every SWIR-active mineral of the library) or a list of vocabulary names
    artefacts : add the tray materials ``artefact_classes`` (default :data:`SWIR_ARTEFACTS`: wood, plastic,
        cardboard; the artefact screen of a model adds metal)
    library : the mineral library (a bundled id or a file, as for :func:`hsimin.load_library`)
    exclude_samples : physical-sample ids to leave out (leave-sample-out evaluation)
    """
    from ..io.libraries import COMMON_GRID_NM, load_library
    grid = np.asarray(COMMON_GRID_NM, np.float64)
    base = load_library(library)
    if base.wavelengths.size != grid.size or not np.allclose(base.wavelengths, grid):
        from ..preprocess.resample import resample_library
        base = resample_library(base, grid, None)
    parts = [(np.asarray(base.spectra), list(base.names), list(base.minerals),
              list(base.sample_ids or base.names))]
    if library == "usgs_splib07":
        sup = load_library("usgs_supplement", include_mixtures=True)
        parts.append((_on_grid(sup, grid), list(sup.names), list(sup.minerals), list(sup.sample_ids or sup.names)))
    if artefacts:
        art = load_library("usgs_artefacts")
        keep = np.isin(np.asarray(art.minerals, dtype=object), list(artefact_classes))
        a = art.subset(keep)
        parts.append((_on_grid(a, grid), list(a.names), list(a.minerals), list(a.sample_ids or a.names)))
    S = np.vstack([p[0] for p in parts])
    names = [n for p in parts for n in p[1]]
    mins = [m for p in parts for m in p[2]]
    ids = [i for p in parts for i in p[3]]
    if minerals == "core":
        wanted = set(CORE_SWIR_MINERALS)
    elif minerals == "all":
        from .simulate import INACTIVE_MINERALS
        wanted = {m for m in mins if m not in INACTIVE_MINERALS and m not in ("aspectral", "unknown", "metal")}
    elif minerals == "curated":
        from ..core.vocabulary import is_known
        wanted = {m for m in mins if is_known(m)}
    else:
        from ..core.vocabulary import mineral_name
        wanted = {mineral_name(m) for m in minerals}
    if artefacts:
        wanted |= set(artefact_classes)
    excl = set(exclude_samples)
    keep = np.array([m in wanted and i not in excl for m, i in zip(mins, ids)], bool)
    if not keep.any():
        raise LibraryError(f"no reference spectrum left for minerals={minerals!r} in library {library!r}")
    idx = np.flatnonzero(keep)
    return SpectralLibrary(S[idx], grid, [names[i] for i in idx], [mins[i] for i in idx],
                           source=f"hsimin reference library ({library}" + (" + usgs_supplement" if
                                                                             library == "usgs_splib07" else "")
                           + (" + usgs_artefacts" if artefacts else "") + ")",
                           sample_ids=[ids[i] for i in idx])


def _on_grid(lib: SpectralLibrary, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of a coarser library onto ``grid``; NaN outside its range and across its gaps."""
    wl = np.asarray(lib.wavelengths, np.float64)
    out = np.full((len(lib), grid.size), np.nan)
    inside = (grid >= wl[0]) & (grid <= wl[-1])
    for i, s in enumerate(np.asarray(lib.spectra, np.float64)):
        ok = np.isfinite(s)
        if ok.sum() < 2:
            continue
        v = np.interp(grid[inside], wl[ok], s[ok])
        # a deleted channel stays missing: NaN where the nearest source channel is NaN
        near = np.clip(np.searchsorted(wl, grid[inside]), 0, wl.size - 1)
        v[~ok[near]] = np.nan
        out[i, inside] = v
    return out
