"""k x k windows around cells, augmentation, and spatially blocked cross-validation (numpy only).

Windows are band-last ``(N, k, k, L)`` like every numpy-side array; the torch side converts them with
``hsimin.models.layout.to_torch``. A window centred on cell (r, c) covers rows ``r - k//2 .. r - k//2 + k - 1``
(and the same for columns), so the centre cell sits at index ``k // 2`` — the convention of
``hsimin.models.backbones._layers.centre_pixel``. Cells beyond the grid edge are filled with ``fill``
(0 = the study-area median after robust scaling).

Blocked CV (:func:`blocked_folds`): sites are grouped into square spatial blocks larger than a window, whole
blocks go to one fold (balanced for positives and negatives), and any training site whose window would
overlap a test window is purged from that fold's training set. So no cell is seen both in training and in a
test window, which is the leak that random CV of overlapping windows suffers from.

A real district has ten deposits, not a hundred, and the default 5 folds of 2k-cell blocks often cannot give every
fold a deposit and a non-deposit on both sides. :func:`choose_blocked_folds` then looks for the closest honest
split the sites allow (fewer folds, smaller blocks, another deal of the blocks, and last a purge that keeps every
test site out of every training window although windows may share cells) and says which it chose
(:class:`CVChoice`). It never falls back to a random split, and refuses clearly when no blocked split exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..core.errors import InputError

DIHEDRAL = tuple((k, f) for f in (False, True) for k in range(4))
"""The 8 symmetries of the square: (number of 90-degree rotations, flip first)."""


def _check_k(k: int) -> int:
    k = int(k)
    if k < 1:
        raise InputError(f"window size must be >= 1 cell, got {k}")
    return k


def padded(values: np.ndarray, k: int, fill: float = 0.0) -> np.ndarray:
    """``values`` (H, W, L) padded so every cell has a full k x k window: (H + k - 1, W + k - 1, L)."""
    k = _check_k(k)
    lo, hi = k // 2, k - 1 - k // 2
    return np.pad(np.asarray(values, dtype=np.float32), ((lo, hi), (lo, hi), (0, 0)), constant_values=fill)


def extract_windows(values: np.ndarray, rows, cols, k: int, fill: float = 0.0,
                    padded_values: np.ndarray | None = None) -> np.ndarray:
    """k x k windows centred on cells: ``(N, k, k, L)`` float32 (band-last). Pass ``padded_values``
    (from :func:`padded`) to avoid re-padding when called many times."""
    k = _check_k(k)
    P = padded(values, k, fill) if padded_values is None else padded_values
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    H, W = P.shape[0] - k + 1, P.shape[1] - k + 1
    if rows.size and (rows.min() < 0 or rows.max() >= H or cols.min() < 0 or cols.max() >= W):
        raise InputError(f"window centres must lie on the {H} x {W} grid")
    view = np.lib.stride_tricks.sliding_window_view(P, (k, k), axis=(0, 1))  # (H, W, L, k, k), no copy
    return np.ascontiguousarray(np.moveaxis(view[rows, cols], 1, -1))


def iter_cell_batches(mask: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of the masked cells in row-major batches of at most ``batch_size``."""
    r, c = np.nonzero(np.asarray(mask, bool))
    b = max(1, int(batch_size))
    for s in range(0, r.size, b):
        yield r[s:s + b], c[s:s + b]


def dihedral(windows: np.ndarray, rot: int, flip: bool) -> np.ndarray:
    """Apply one square symmetry to band-last windows (N, k, k, L)."""
    w = windows[:, :, ::-1] if flip else windows
    return np.rot90(w, rot, axes=(1, 2))


def augment(windows: np.ndarray, labels: np.ndarray, copies: int = 8, noise_sd: float = 0.05,
            rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augmented training set: every window in ``copies`` square symmetries (rot90/flip; 8 = all of them,
    more cycles through them again) with Gaussian noise of ``noise_sd`` (in scaled units) added to every
    copy but the identity. Returns ``(windows, labels)`` with ``copies`` times as many rows."""
    rng = rng or np.random.default_rng(0)
    copies = int(copies)
    if copies < 1:
        raise InputError(f"augmentation copies must be >= 1, got {copies}")
    out, lab = [], []
    for i in range(copies):
        rot, flip = DIHEDRAL[i % len(DIHEDRAL)]
        w = np.ascontiguousarray(dihedral(windows, rot, flip))
        if i and noise_sd > 0:
            w = w + rng.normal(0.0, noise_sd, size=w.shape).astype(np.float32)
        out.append(w.astype(np.float32, copy=False))
        lab.append(labels)
    return np.concatenate(out), np.concatenate(lab)


def random_cells(mask: np.ndarray, n: int, rng: np.random.Generator | None = None,
                 exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct random cells of ``mask`` (without ``exclude``), or all of them if fewer."""
    rng = rng or np.random.default_rng(0)
    m = np.asarray(mask, bool).copy()
    if exclude is not None:
        m &= ~np.asarray(exclude, bool)
    r, c = np.nonzero(m)
    if r.size == 0:
        raise InputError("no cells to draw windows from: the mask is empty")
    pick = rng.choice(r.size, size=min(int(n), r.size), replace=False)
    return r[pick], c[pick]


# -------------------------------------------------------------------------------------------- blocked CV
@dataclass(frozen=True)
class Fold:
    """One CV fold: indices into the site list. ``purged`` are sites left out of training because their
    windows overlap a test window."""

    train: np.ndarray
    test: np.ndarray
    purged: np.ndarray

    def to_dict(self) -> dict:
        return {"train": self.train.tolist(), "test": self.test.tolist(), "purged": self.purged.tolist()}


def windows_overlap(rows_a, cols_a, rows_b, cols_b, k: int) -> np.ndarray:
    """(Na, Nb) bool: True where the k x k windows of cell a and cell b share at least one cell."""
    ra, ca = np.asarray(rows_a)[:, None], np.asarray(cols_a)[:, None]
    rb, cb = np.asarray(rows_b)[None, :], np.asarray(cols_b)[None, :]
    return (np.abs(ra - rb) < k) & (np.abs(ca - cb) < k)


def blocked_folds(rows, cols, labels, k: int, n_folds: int = 5, block_size: int | None = None,
                  seed: int = 0, shape: tuple[int, int] | None = None, gap: int | None = None) -> list[Fold]:
    """Spatially blocked folds of labelled sites, with purging of overlapping windows.

    Sites are grouped into square blocks of ``block_size`` cells (default ``2 * k``, larger than a window)
    and whole blocks are dealt to folds, stratified by class (:func:`hsimin.data.splits.spatial_block_kfold`);
    training sites within Chebyshev distance ``gap`` (default ``k - 1``) of a test site, i.e. whose k x k windows
    would share a cell with a test window, are purged from that fold's training set (``gap = k // 2``: purged when
    their window would contain a test site). Raises :class:`InputError` if a fold ends up without a positive or
    negative test or training site (use fewer folds or smaller blocks, or :func:`choose_blocked_folds`).
    """
    from ..data.splits import min_gap, spatial_block_kfold  # noqa: PLC0415 - numpy-only module

    k = _check_k(k)
    labels = np.asarray(labels).astype(np.int64)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    npos, nneg = int((labels == 1).sum()), int((labels == 0).sum())
    if n_folds < 2:
        raise InputError(f"need at least 2 folds, got {n_folds}")
    if npos < n_folds or nneg < n_folds:
        raise InputError(f"{npos} positive and {nneg} negative sites cannot fill {n_folds} folds; use fewer folds "
                         "(--folds)")
    H, W = shape if shape is not None else (int(rows.max()) + 1, int(cols.max()) + 1)
    lab = np.full((H, W), -1, dtype=np.int64)
    index = np.full((H, W), -1, dtype=np.int64)
    lab[rows, cols] = labels
    index[rows, cols] = np.arange(labels.size)
    if (index >= 0).sum() != labels.size:
        raise InputError("two sites share one cell; give each cell one label")
    g = min_gap(k, disjoint_patches=True) if gap is None else int(gap)
    b = int(2 * k if block_size is None else block_size)
    try:
        splits = spatial_block_kfold(lab, b, g, n_folds, seed, stratify=True)
    except InputError as exc:
        if "number of groups" not in exc.message:
            raise
        n_blocks = len({(int(r) // b, int(c) // b) for r, c in zip(rows, cols)})
        raise InputError(f"the {labels.size} sites fall in only {n_blocks} blocks of {b} cells, too few for {n_folds} "
                         "folds; use fewer folds or smaller blocks") from None
    folds = []
    for sp in splits:
        test = np.sort(index[sp.test_mask])
        train = np.sort(index[sp.train_mask & ~sp.test_mask])
        purged = np.setdiff1d(np.arange(labels.size), np.union1d(train, test))
        for what, idx in (("test", test), ("training", train)):
            if not (np.any(labels[idx] == 1) and np.any(labels[idx] == 0)):
                raise InputError(f"a spatially blocked fold has no positive or no negative {what} site ({npos} "
                                 f"positives, {nneg} negatives in {n_folds} folds); use fewer folds, a smaller "
                                 "block size or smaller windows")
        folds.append(Fold(train, test, purged))
    return folds


PURGES = {
    "windows": "no training window shares a cell with a test window",
    "centre": "no training window contains a test site (windows may share cells)",
}
"""Purge levels of :func:`choose_blocked_folds`, strictest first: training sites within ``k - 1`` cells of a test
site are dropped (``windows``), or within ``k // 2`` (``centre``, the least that keeps test labels out of training
inputs)."""

DEFAULT_FOLDS = 5
MAX_DEALS = 5
"""Deals of blocks to folds tried per (folds, block size): the seeds ``seed .. seed + 4``."""


@dataclass(frozen=True)
class CVChoice:
    """The spatially blocked CV a run uses: ``folds`` folds of ``block_size``-cell blocks dealt with seed
    ``seed``, purge level ``purge`` (:data:`PURGES`), and what was asked for (``requested_*``; None = the default)."""

    folds: int
    block_size: int
    purge: str
    seed: int
    window: int
    requested_folds: int | None
    requested_block_size: int | None
    n_positive: int
    n_negative: int

    @property
    def adjusted(self) -> bool:
        """True when the split differs from the default (or asked-for) 5 folds of 2k-cell blocks, strict purge."""
        return (self.folds != (self.requested_folds or DEFAULT_FOLDS)
                or self.block_size != (self.requested_block_size or 2 * self.window) or self.purge != "windows")

    def describe(self) -> str:
        text = (f"spatially blocked {self.folds}-fold CV, blocks of {self.block_size} cells, {PURGES[self.purge]}")
        if self.adjusted:
            asked = f"{self.requested_folds or DEFAULT_FOLDS} folds of {self.requested_block_size or 2 * self.window}" \
                    "-cell blocks"
            text += (f" (chosen for {self.n_positive} deposit and {self.n_negative} negative sites: {asked} would "
                     "leave a fold without a deposit or a non-deposit on one side)")
        return text

    def to_dict(self) -> dict:
        return {"folds": self.folds, "block_size": self.block_size, "purge": self.purge,
                "purge_rule": PURGES[self.purge], "seed": self.seed, "window": self.window,
                "requested_folds": self.requested_folds, "requested_block_size": self.requested_block_size,
                "adjusted": self.adjusted, "description": self.describe()}


def _block_ladder(b0: int, k: int) -> list[int]:
    """Block sizes tried, largest first: b0, 3/4, 1/2 and 1/4 of it, none below half a window."""
    floor = max(1, k // 2)
    out = [b0] + [max(floor, int(round(b0 * f))) for f in (0.75, 0.5, 0.25)]
    return list(dict.fromkeys(b for b in out if b >= 1))


def choose_blocked_folds(rows, cols, labels, k: int, n_folds: int | None = None, block_size: int | None = None,
                         seed: int = 0, shape: tuple[int, int] | None = None) -> tuple[list[Fold], CVChoice]:
    """The spatially blocked folds a run can use with these sites, and what was chosen.

    ``n_folds`` / ``block_size`` None (the defaults) let the search adapt them: block sizes from ``2 * k`` down
    (:func:`_block_ladder`), for each 5 folds down to 2, for each up to :data:`MAX_DEALS` deals of the blocks, first
    with the strict purge and then with the ``centre`` purge (:data:`PURGES`); the first split whose every fold has
    a deposit and a non-deposit in test and in training wins. Values given are kept as given (only the deal may
    change). Feasibility depends only on where the sites are and their labels, never on a model's score, so the
    choice does not bias the AUC.

    Raises :class:`InputError` when no blocked split exists (saying what would help), or when the values given
    cannot work (naming a choice that can).
    """
    labels = np.asarray(labels).astype(np.int64)
    k = _check_k(k)
    npos, nneg = int((labels == 1).sum()), int((labels == 0).sum())
    fold_opts: Sequence[int] = [int(n_folds)] if n_folds is not None else range(DEFAULT_FOLDS, 1, -1)
    block_opts = [int(block_size)] if block_size is not None else _block_ladder(2 * k, k)
    purges = ("windows",) if (n_folds is not None or block_size is not None) else tuple(PURGES)
    first_error = None
    for purge in purges:
        gap = k - 1 if purge == "windows" else k // 2
        for b in block_opts:
            for f in fold_opts:
                for d in range(MAX_DEALS):
                    try:
                        folds = blocked_folds(rows, cols, labels, k, f, b, seed=seed + d, shape=shape, gap=gap)
                    except InputError as exc:
                        if "share one cell" in exc.message or "at least 2 folds" in exc.message:
                            raise
                        first_error = first_error or exc
                        continue
                    return folds, CVChoice(f, b, purge, seed + d, k, n_folds, block_size, npos, nneg)
    if n_folds is not None or block_size is not None:
        try:
            _, alt = choose_blocked_folds(rows, cols, labels, k, None, None, seed, shape)
            hint = f"; these sites allow --folds {alt.folds} --block-size {alt.block_size}" + \
                   ("" if alt.purge == "windows" else " (leave both unset to let hsimin choose)")
        except InputError:
            hint = "; no blocked split works for these sites with this window: use smaller windows (--window)"
        raise InputError(f"{first_error.message if first_error else 'no feasible split'}{hint}") from None
    raise InputError(f"no spatially blocked split of {npos} deposit and {nneg} negative sites gives every fold a deposit "
                     f"and a non-deposit in both test and training with {k} x {k}-cell windows (tried 2-{DEFAULT_FOLDS} "
                     f"folds, blocks of {block_opts[-1]}-{block_opts[0]} cells); use smaller windows (--window) or "
                     "more sites. hsimin does not fall back to a random split: its overlapping windows would report "
                     "an optimistic AUC")
