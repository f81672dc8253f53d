"""Seeded synthetic prospectivity areas for the hsimin.prospect tests (no real data, no files).

The area is a small grid with smooth lognormal element fields (``Au``, ``Cu``, ``Li``), a fault influence
layer from two straight faults, and a study-area mask that cuts a corner off. Deposits are planted where
``Li`` is high and faults are near (so a model has a real signal to find); negatives are far from both.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from hsimin.core import Raster

CELL = 1000.0
X0, Y0 = 500000.0, 3000000.0


def synthetic_area(seed: int = 0, H: int = 48, W: int = 40, n_pos: int = 10, n_neg: int = 10):
    """``(raster, deposits_xy, negatives_xy)``: a 4-layer raw Raster (EPSG:32650, 1 km cells) with mask, and
    deposit / negative cell centres. Deterministic for a seed."""
    rng = np.random.default_rng(seed)

    def field(scale):
        return ndimage.gaussian_filter(rng.normal(size=(H, W)), scale)

    li = np.exp(1.0 + 3.0 * field(3.0))
    au = np.exp(0.5 + 2.0 * field(4.0))
    cu = np.exp(2.0 + 2.0 * field(2.0))
    rr, cc = np.mgrid[0:H, 0:W]
    d1 = np.abs(rr - 0.8 * cc - 5)          # two straight "faults"
    d2 = np.abs(cc - 28)
    dist = np.minimum(d1 / np.hypot(1, 0.8), d2)
    faults = np.clip(1.0 - dist / 6.0, 0.0, 1.0)
    mask = ~((rr < 8) & (cc < 8))
    # deposits: high Li near faults; negatives: low score cells
    score = np.log(li) / np.log(li).std() + 3.0 * faults
    score[~mask] = np.nan
    order = np.argsort(np.nan_to_num(score, nan=-np.inf).ravel())[::-1]
    pos, taken = [], np.zeros((H, W), bool)
    for i in order:
        r, c = divmod(int(i), W)
        if not taken[max(0, r - 2):r + 3, max(0, c - 2):c + 3].any():
            pos.append((r, c))
            taken[r, c] = True
        if len(pos) == n_pos:
            break
    low = np.argsort(np.nan_to_num(score, nan=np.inf).ravel())
    neg = []
    for i in low:
        r, c = divmod(int(i), W)
        if not taken[max(0, r - 2):r + 3, max(0, c - 2):c + 3].any():
            neg.append((r, c))
            taken[r, c] = True
        if len(neg) == n_neg:
            break
    values = np.stack([au, cu, li, faults], axis=-1).astype(np.float32)
    values[~mask] = np.nan
    transform = (CELL, 0.0, X0, 0.0, -CELL, Y0)
    raster = Raster(values, transform, "EPSG:32650", ["Au", "Cu", "Li", "faults"], mask=mask)
    to_xy = lambda pts: (np.array([X0 + (c + 0.5) * CELL for r, c in pts]),  # noqa: E731
                         np.array([Y0 - (r + 0.5) * CELL for r, c in pts]))
    return raster, to_xy(pos), to_xy(neg)


@pytest.fixture
def area():
    return synthetic_area(0)


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep torch to one thread in tests (the machine is shared); restored afterwards."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
