"""VNIR interpretation: the ferric-iron mineral (goethite, hematite, jarosite) from the visible and near-IR bands.

Iron oxides and hydroxides have no diagnostic SWIR feature; their answer belongs to the VNIR, where Fe3+ gives a
crystal-field band near 900 nm (hematite ~850-880 nm, goethite ~900-940 nm, jarosite ~910-930 nm with its
sharp 430 nm band) and charge-transfer edges and shoulders near 500 and 650 nm (hematite's steep edge near
550-580 nm, goethite's 650 nm shoulder). The same least-squares unmixing as the SWIR
(:class:`hsimin.classical.swir.SpectralUnmixer`: common resolution, continuum-removed absorbance, references
with a wavelength shift, two minerals, aspectral from the pixel's noise) runs over 450-1250 nm against real USGS
spectra of the VNIR-active minerals (:data:`VNIR_MINERALS`); Fe2+ minerals (pyroxene, olivine) are among the
references so that their broad 1000 nm band is not called a ferric oxide. A VNIR answer needs bands over
750-1050 nm (the ferric band): a SWIR-only scanner has none.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..core.types import SpectralLibrary
from .swir import RangeSpec, SpectralUnmixer

__all__ = ["VNIR", "VNIR_MINERALS", "VnirInterpreter", "vnir_reference_library"]

VNIR = RangeSpec("vnir", (450.0, 1250.0), (750.0, 1050.0), (450.0, 1250.0))
"""The VNIR: every band at weight 1, no nuisance (the ferric features are broad themselves)."""

VNIR_MINERALS = ("goethite", "hematite", "jarosite", "pyroxene", "olivine")
"""The VNIR references: the ferric minerals a core logger reports, and Fe2+ minerals as confusers."""


def vnir_reference_library(minerals=VNIR_MINERALS, *, library: str = "usgs_splib07",
                           exclude_samples=()) -> SpectralLibrary:
    """The VNIR reference spectra (real USGS spectra of ``minerals``) on the library's own grid."""
    from .references import reference_library
    return reference_library(list(minerals), artefacts=False, library=library, exclude_samples=exclude_samples)


HEMATITE_GOETHITE_NM = 900.0
"""Ferric band position (nm) between hematite (~850-890 nm) and goethite (~900-940 nm): the boundary of the
hematite-goethite distribution index of HyLogger practice (Haest et al. 2012, Econ. Geol. 107)."""


class VnirInterpreter(SpectralUnmixer):
    """:class:`SpectralUnmixer` over the VNIR (:data:`VNIR`): the VNIR Min1 answer (goethite, hematite, jarosite...,
    or aspectral).

    The fit says whether the spectrum is a ferric oxide at all; between hematite and goethite the position of the
    ferric band decides (:data:`HEMATITE_GOETHITE_NM`): it is what separates them physically, and it is robust to
    the mixtures and grain sizes that change the shapes the fit compares."""

    def __init__(self, references: SpectralLibrary | None, wavelengths, fwhm=None, *,
                 hematite_goethite_nm: float = HEMATITE_GOETHITE_NM, **params):
        params.setdefault("max_unexplained", 1.0)   # broad, overlapping bands: a residual is no evidence
        params.setdefault("min_r2", 0.3)
        super().__init__(vnir_reference_library() if references is None else references, wavelengths, fwhm,
                         spec=VNIR, **params)
        self.params["hematite_goethite_nm"] = float(hematite_goethite_nm)

    def _interpret(self, X: np.ndarray) -> dict:
        out = super()._interpret(X)
        cls = {c: i for i, c in enumerate(self.classes)}
        if "hematite" in cls and "goethite" in cls and len(X):
            pos = ferric_band_position(np.asarray(X)[:, self.bands], self.sensor_wavelengths)
            for key in ("min1", "min2"):
                k = out[key]
                oxide = (k == cls["hematite"]) | (k == cls["goethite"])
                known = oxide & np.isfinite(pos)
                k[known] = np.where(pos[known] < self.params["hematite_goethite_nm"], cls["hematite"],
                                    cls["goethite"])
            same = (out["min2"] == out["min1"])
            out["min2"][same] = -1
            out["wt1"][same] = 1.0
            out["wt2"][same] = 0.0
        out["ferric_nm"] = ferric_band_position(np.asarray(X)[:, self.bands], self.sensor_wavelengths).astype(np.float32) \
            if len(X) else np.zeros(0, np.float32)
        return out


def ferric_band_position(spectra: np.ndarray, wavelengths: ArrayLike) -> np.ndarray:
    """(n,) nm: the minimum of the continuum-removed ferric band between 780 and 1000 nm (NaN without one)."""
    from ..preprocess.continuum import remove_continuum
    wl = np.asarray(wavelengths, np.float64)
    sel = (wl >= 650.0) & (wl <= 1150.0)
    cr = remove_continuum(np.ascontiguousarray(np.asarray(spectra, np.float64)[:, sel]), wl[sel])
    w = wl[sel]
    inside = (w >= 780.0) & (w <= 1000.0)
    sub = np.where(inside[None, :], cr, np.inf)
    j = np.argmin(sub, axis=1)
    out = w[j]
    out[~np.isfinite(sub.min(axis=1)) | (sub.min(axis=1) > 0.995)] = np.nan
    return out
