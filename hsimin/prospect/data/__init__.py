"""The bundled real data: a trimmed copy of the South China Li-belt geochemistry (see README.md and
PROVENANCE.md in this folder), and the recipe that puts it on the demo's working grid.

Files: ``geochem_4km.h5`` (14 SSGSNet elements, IDW grids at ~4.2 km, NaN outside the surveyed belt),
``faults_1km.h5`` (fault-density evidence at 1 km), ``sites.csv`` (23 Li deposits, label 1, and the source
authors' 23 negative cells, label 0), all in EPSG:32650.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.types import Raster
from ...io.raster import read_raster_attrs, read_raster_h5, read_sites_csv
from ..layers import grid_for_extent, resample_raster, stack_rasters

DATA_DIR = Path(__file__).resolve().parent
GEOCHEM = DATA_DIR / "geochem_4km.h5"
FAULTS = DATA_DIR / "faults_1km.h5"
SITES = DATA_DIR / "sites.csv"

DEMO_CELL_SIZE = 2000.0
"""Working grid of the demo (m). The geochemistry is IDW at ~4.2 km and carries no detail below that; the
fault layer is at 1 km. 2 km keeps most of the fault detail (2 x 2 km averages) while 16-cell windows still
span 32 km, about 7.5 geochemical cells, and the whole belt is ~30,000 cells to map on a laptop CPU."""

DEMO_WINDOW = 16
"""Window side (cells) of the demo: 16 x 2 km = 32 km."""


def element_units() -> dict[str, str]:
    """Units of the bundled element layers (ppb for Au, Hg, Ag; ppm for the others)."""
    return dict(read_raster_attrs(GEOCHEM).get("units", {}))


def load_demo(cell_size: float = DEMO_CELL_SIZE) -> tuple[Raster, dict, dict]:
    """The bundled layers on a ``cell_size`` grid covering the belt, and the sites.

    Returns ``(layers, deposits, negatives)``: ``layers`` is a 15-layer :class:`Raster` (14 elements, raw
    values, resampled bilinearly from 4.2 km; ``faults`` averaged from 1 km) whose mask is the surveyed belt
    (the geochemistry's ``in_area`` AND the fault layer's study area); ``deposits`` and ``negatives`` are
    ``{'x', 'y', 'id'}`` in EPSG:32650.
    """
    geochem = read_raster_h5(GEOCHEM)
    faults = read_raster_h5(FAULTS)
    a, _, c, _, e, f = faults.transform
    H, W = faults.shape
    transform, shape = grid_for_extent(c, f + e * H, c + a * W, f, cell_size)
    g = resample_raster(geochem, transform, shape, "bilinear")
    fl = resample_raster(faults, transform, shape, "average")
    layers = stack_rasters([g, fl])
    s = read_sites_csv(SITES)
    pos, neg = s["label"] == 1, s["label"] == 0
    deposits = {"x": s["x"][pos], "y": s["y"][pos], "id": s["id"][pos]}
    negatives = {"x": s["x"][neg], "y": s["y"][neg], "id": s["id"][neg]}
    return layers, deposits, negatives


def element_layers(layers: Raster) -> list[str]:
    """The compositional (element) layers of the demo stack: all but ``faults``."""
    return [n for n in layers.layer_names if n != "faults"]


def _check() -> None:  # pragma: no cover - a quick look from the shell: python -m hsimin.prospect.data
    layers, dep, neg = load_demo()
    print(layers.shape, layers.layer_names, int(layers.mask.sum()), "cells in the belt")
    print(len(dep["x"]), "deposits,", len(neg["x"]), "negatives;", np.nanmax(layers.values[..., -1]))


if __name__ == "__main__":  # pragma: no cover
    _check()
