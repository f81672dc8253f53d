"""Train/test splits that do not leak (this module is numpy only; the prospectivity workflow uses it too).

Why: neighbouring pixels of a core tray, and the grain-size fractions of one USGS sample, are near copies of
each other. A random pixel split puts near copies on both sides and reports the accuracy of recognising a
sample already seen, not of mapping a new one. So:

* :func:`group_split` / :func:`group_kfold` keep every group (tray, hole, USGS physical sample id) whole on
  one side;
* :func:`spatial_block_split` / :func:`spatial_block_kfold` cut a label raster into square blocks, send whole
  blocks to test, and drop training pixels within ``gap`` pixels (Chebyshev distance) of any test pixel, so
  with ``gap >= patch radius`` no training patch contains a test pixel (and with ``gap >= 2 * radius`` no
  training patch shares a pixel with a test patch);
* :func:`random_split` exists for comparison only: its result has ``optimistic=True`` and its
  :meth:`Split.describe` says ``random pixel split: optimistic``, which every report must print.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.errors import InputError
from ..core.plain import to_plain

__all__ = ["BlockSplit", "OPTIMISTIC_NOTE", "Split", "group_kfold", "group_split", "mask_membership", "min_gap",
           "patch_overlap_count", "random_split", "spatial_block_kfold", "spatial_block_split"]

OPTIMISTIC_NOTE = "random pixel split: optimistic"
"""The words every report of a random split prints."""


@dataclass(frozen=True, eq=False)
class Split:
    """One train/test split of N samples.

    train, test : sorted int64 sample indices (disjoint)
    kind : ``"group"``, ``"random"``, ``"spatial_block"`` or ``"given"``
    optimistic : True for random splits (near copies on both sides): reported accuracy is an upper bound
    info : plain facts for reports (fractions, held-out groups, seed...)
    """

    train: np.ndarray
    test: np.ndarray
    kind: str
    optimistic: bool = False
    info: dict = field(default_factory=dict)

    def describe(self) -> str:
        """One line for reports; starts with :data:`OPTIMISTIC_NOTE` for random splits."""
        n = self.train.size + self.test.size
        frac = 100.0 * self.test.size / max(n, 1)
        head = OPTIMISTIC_NOTE if self.optimistic else f"{self.kind} split"
        extra = ""
        if "test_groups" in self.info:
            extra = f", {len(self.info['test_groups'])} of {self.info['n_groups']} groups held out"
        return f"{head} ({self.test.size} test / {self.train.size} train samples, {frac:.1f} % test{extra})"

    def to_dict(self) -> dict:
        """Plain (JSON-able) summary: kind, optimistic, sizes and info."""
        return {"kind": self.kind, "optimistic": bool(self.optimistic), "n_train": int(self.train.size),
                "n_test": int(self.test.size), "description": self.describe(), **to_plain(self.info)}


@dataclass(frozen=True, eq=False)
class BlockSplit:
    """A spatially blocked split of one (H, W) label raster.

    train_mask, test_mask : (H, W) bool; labelled pixels usable for training / testing. No training pixel lies
        within ``gap`` pixels (Chebyshev distance) of a test pixel.
    block_size, gap : as given
    test_blocks : (M, 2) int (block row, block col) of the held-out blocks
    kind : ``"spatial_block"``; ``optimistic`` is False
    info : plain facts for reports

    Unpacks as ``train_mask, test_mask = split``.
    """

    train_mask: np.ndarray
    test_mask: np.ndarray
    block_size: int
    gap: int
    test_blocks: np.ndarray
    kind: str = "spatial_block"
    optimistic: bool = False
    info: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.train_mask, self.test_mask))

    def describe(self) -> str:
        n_tr, n_te = int(self.train_mask.sum()), int(self.test_mask.sum())
        return (f"spatial_block split ({self.block_size} px blocks, gap {self.gap} px: {n_te} test / {n_tr} train "
                f"pixels, {self.info.get('dropped_by_gap', 0)} labelled pixels dropped in the gap)")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "optimistic": False, "block_size": int(self.block_size), "gap": int(self.gap),
                "n_train": int(self.train_mask.sum()), "n_test": int(self.test_mask.sum()),
                "description": self.describe(), **to_plain(self.info)}


def _fraction(test_fraction: float) -> float:
    f = float(test_fraction)
    if not 0.0 < f < 1.0:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    return f


def _as_groups(groups) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 1 or g.size == 0:
        raise InputError(f"groups must be a non-empty 1-D sequence (one group id per sample), got shape {g.shape}")
    return g


def _group_table(groups: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(unique groups, inverse index, sample count per group, majority label per group or None)."""
    uniq, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if labels is None:
        return uniq, inv, counts, None
    y = np.asarray(labels).reshape(-1)
    if y.shape != groups.shape:
        raise InputError(f"labels have shape {y.shape} but groups {groups.shape}; give one label per sample")
    ylev, yi = np.unique(y, return_inverse=True)
    table = np.zeros((uniq.size, ylev.size), dtype=np.int64)
    np.add.at(table, (inv, yi), 1)
    return uniq, inv, counts, ylev[table.argmax(axis=1)]


def _pick_test_groups(counts: np.ndarray, majority: np.ndarray | None, fraction: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Boolean (G,) of test groups, and the strata (labels) that stayed train-only (a single group)."""
    G = counts.size
    is_test = np.zeros(G, dtype=bool)
    strata = [np.arange(G)] if majority is None else [np.flatnonzero(majority == m) for m in np.unique(majority)]
    untested = []
    for idx in strata:
        if idx.size < 2:
            if majority is not None:
                untested.append(majority[idx[0]])
            continue
        order = rng.permutation(idx)
        target = fraction * counts[idx].sum()
        cum = np.cumsum(counts[order])
        # the smallest prefix reaching the target, or the prefix just below it if that is closer
        k = int(np.searchsorted(cum, target)) + 1
        if k > 1 and abs(cum[k - 2] - target) <= abs(cum[min(k, idx.size) - 1] - target):
            k -= 1
        k = min(max(k, 1), idx.size - 1)
        is_test[order[:k]] = True
    return is_test, untested


def group_split(groups, test_fraction: float = 0.2, seed: int = 0, *, labels=None) -> Split:
    """Hold out whole groups (trays, holes, USGS physical sample ids) for testing.

    Parameters
    ----------
    groups : (N,) group id of every sample
    test_fraction : wanted share of *samples* in test; whole groups are taken in a seeded random order until
        the share is closest to this
    seed : seed of the group order
    labels : (N,) class labels, optional: stratify, i.e. pick test groups per class (each group counted under
        its majority class), so every class with at least two groups has groups on both sides; a class with a
        single group stays in training (listed in ``info['untested_classes']``)

    Returns a :class:`Split` (kind ``"group"``) whose ``info`` lists ``test_groups``. No group is on both sides.
    """
    g = _as_groups(groups)
    f = _fraction(test_fraction)
    uniq, inv, counts, majority = _group_table(g, labels)
    if uniq.size < 2:
        raise InputError(f"a group split needs at least 2 groups, got {uniq.size} ({uniq[:3].tolist()}); use "
                         "spatial blocks or more trays/samples")
    is_test, untested = _pick_test_groups(counts, majority, f, np.random.default_rng(seed))
    if not is_test.any():
        raise InputError("no class has two or more groups, so a stratified group split has nothing to test on; "
                         "drop labels= or add groups")
    test = np.flatnonzero(is_test[inv])
    train = np.flatnonzero(~is_test[inv])
    info = {"n_groups": int(uniq.size), "test_groups": [str(x) for x in uniq[is_test]], "seed": int(seed),
            "test_fraction_asked": f, "stratified": labels is not None}
    if untested:
        info["untested_classes"] = [x.item() if isinstance(x, np.generic) else x for x in untested]
    return Split(train, test, "group", False, info)


def group_kfold(groups, n_splits: int = 5, seed: int = 0, *, labels=None) -> list[Split]:
    """K folds of whole groups: every group is in the test side of exactly one fold.

    Groups are dealt to folds in a seeded random order, each to the fold with the fewest samples so far (per
    class when ``labels`` are given, counting each group under its majority class), so folds are balanced in
    size. Returns ``n_splits`` :class:`Split` objects (kind ``"group"``, ``info['fold']``).
    """
    g = _as_groups(groups)
    k = int(n_splits)
    uniq, inv, counts, majority = _group_table(g, labels)
    if k < 2 or uniq.size < k:
        raise InputError(f"group_kfold needs 2 <= n_splits <= number of groups ({uniq.size}), got {n_splits}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(uniq.size, dtype=np.int64)
    load = np.zeros(k)
    strata = [np.arange(uniq.size)] if majority is None else [np.flatnonzero(majority == m)
                                                              for m in np.unique(majority)]
    for idx in strata:
        order = rng.permutation(idx)
        order = order[np.argsort(-counts[order], kind="stable")]      # large groups first, random among equals
        stratum_load = np.zeros(k)
        for gi in order:
            cand = np.flatnonzero(stratum_load == stratum_load.min())
            f = cand[np.argmin(load[cand])] if cand.size > 1 else cand[0]
            fold_of[gi] = f
            stratum_load[f] += counts[gi]
            load[f] += counts[gi]
    out = []
    for f in range(k):
        te = fold_of[inv] == f
        info = {"fold": f, "n_splits": k, "n_groups": int(uniq.size),
                "test_groups": [str(x) for x in uniq[fold_of == f]], "seed": int(seed)}
        out.append(Split(np.flatnonzero(~te), np.flatnonzero(te), "group", False, info))
    return out


def random_split(n: int, test_fraction: float = 0.2, seed: int = 0, *, labels=None) -> Split:
    """A random sample split, **optimistic**: only for explicit comparisons (``optimistic=True``).

    With ``labels`` it is stratified per class. Near-duplicate samples (neighbouring pixels, one USGS sample's
    grain sizes) land on both sides, so accuracy on it overstates accuracy on new trays or samples; every
    report of it must print :data:`OPTIMISTIC_NOTE` (``Split.describe()`` starts with it).
    """
    n = int(n)
    f = _fraction(test_fraction)
    if n < 2:
        raise InputError(f"cannot split {n} samples")
    rng = np.random.default_rng(seed)
    is_test = np.zeros(n, dtype=bool)
    if labels is None:
        k = min(max(int(round(f * n)), 1), n - 1)
        is_test[rng.permutation(n)[:k]] = True
    else:
        y = np.asarray(labels).reshape(-1)
        if y.size != n:
            raise InputError(f"labels have {y.size} entries for {n} samples")
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            if idx.size >= 2:
                k = min(max(int(round(f * idx.size)), 1), idx.size - 1)
                is_test[rng.permutation(idx)[:k]] = True
    return Split(np.flatnonzero(~is_test), np.flatnonzero(is_test), "random", True,
                 {"seed": int(seed), "test_fraction_asked": f, "stratified": labels is not None})


def min_gap(patch_size: int, *, disjoint_patches: bool = False) -> int:
    """Smallest ``gap`` for :func:`spatial_block_split` with ``patch_size`` x ``patch_size`` patches.

    ``patch_size // 2`` (the radius): no training patch contains a test pixel. ``disjoint_patches=True``:
    ``patch_size - 1``, so no training patch shares a pixel with any test patch either.
    """
    k = int(patch_size)
    if k < 1:
        raise InputError(f"patch_size must be >= 1, got {patch_size}")
    return k - 1 if disjoint_patches else k // 2


def _dilate(mask: np.ndarray, gap: int) -> np.ndarray:
    """Pixels within Chebyshev distance ``gap`` of a True pixel (separable running max)."""
    if gap <= 0:
        return mask.copy()
    from scipy.ndimage import maximum_filter
    return maximum_filter(mask.astype(np.uint8), size=2 * gap + 1, mode="constant", cval=0).astype(bool)


def _block_ids(labelled: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    H, W = labelled.shape
    rows, cols = np.nonzero(labelled)
    nbc = -(-W // block_size)
    return rows, cols, nbc


def _check_raster(label_raster, block_size, gap) -> tuple[np.ndarray, int, int]:
    lab = np.asarray(label_raster)
    if lab.ndim != 2 or lab.dtype.kind not in "iu":
        raise InputError(f"label_raster must be an (H, W) integer raster (-1 = unlabelled), got shape {lab.shape} "
                         f"dtype {lab.dtype}")
    b, g = int(block_size), int(gap)
    if b < 1 or g < 0:
        raise InputError(f"block_size must be >= 1 and gap >= 0, got {block_size}, {gap}")
    return lab, b, g


def _block_split_from_test(lab: np.ndarray, block_of: np.ndarray, rows, cols, test_block_ids, b: int, g: int,
                           nbc: int, info: dict) -> BlockSplit:
    labelled = lab >= 0
    test_mask = np.zeros(lab.shape, dtype=bool)
    sel = np.isin(block_of, test_block_ids)
    test_mask[rows[sel], cols[sel]] = True
    near = _dilate(test_mask, g)
    train_mask = labelled & ~near
    info = {**info, "dropped_by_gap": int((labelled & near & ~test_mask).sum())}
    tb = np.asarray(sorted(int(x) for x in test_block_ids), dtype=np.int64)
    return BlockSplit(train_mask, test_mask, b, g, np.stack([tb // nbc, tb % nbc], axis=1).reshape(-1, 2),
                      info=info)


def spatial_block_split(label_raster, block_size: int, gap: int, test_fraction: float = 0.2, seed: int = 0, *,
                        stratify: bool = True) -> BlockSplit:
    """Spatially disjoint train/test masks of one label raster.

    Parameters
    ----------
    label_raster : (H, W) int, class index per pixel, -1 (any negative) = unlabelled
    block_size : side of the square blocks in pixels (grid anchored at pixel (0, 0))
    gap : training pixels within this Chebyshev distance of a test pixel are dropped; use
        ``gap >= patch_size // 2`` (:func:`min_gap`) so no training patch contains a test pixel
    test_fraction : wanted share of labelled pixels in test (whole blocks are taken)
    seed : seed of the block order
    stratify : pick test blocks per class (blocks counted under their majority class), so each class present
        in two or more blocks is on both sides

    Returns a :class:`BlockSplit` (unpacks as ``train_mask, test_mask``).
    """
    lab, b, g = _check_raster(label_raster, block_size, gap)
    f = _fraction(test_fraction)
    labelled = lab >= 0
    if not labelled.any():
        raise InputError("the label raster has no labelled pixels (all < 0)")
    rows, cols, nbc = _block_ids(labelled, b)
    block_of = (rows // b) * nbc + (cols // b)
    uniq, inv, counts, majority = _group_table(block_of, lab[rows, cols] if stratify else None)
    if uniq.size < 2:
        raise InputError(f"all labelled pixels fall in one {b} px block; use a smaller block_size")
    is_test, untested = _pick_test_groups(counts, majority, f, np.random.default_rng(seed))
    if not is_test.any():
        is_test, untested = _pick_test_groups(counts, None, f, np.random.default_rng(seed))
    info = {"seed": int(seed), "test_fraction_asked": f, "n_blocks": int(uniq.size),
            "n_test_blocks": int(is_test.sum()), "stratified": bool(stratify)}
    if untested:
        info["untested_classes"] = [int(x) for x in untested]
    return _block_split_from_test(lab, block_of, rows, cols, uniq[is_test], b, g, nbc, info)


def spatial_block_kfold(label_raster, block_size: int, gap: int, n_splits: int = 5, seed: int = 0, *,
                        stratify: bool = True) -> list[BlockSplit]:
    """K spatially blocked folds: every labelled block is in the test side of exactly one fold, and in each
    fold training pixels within ``gap`` of that fold's test pixels are dropped (see :func:`spatial_block_split`).
    """
    lab, b, g = _check_raster(label_raster, block_size, gap)
    labelled = lab >= 0
    rows, cols, nbc = _block_ids(labelled, b)
    block_of = (rows // b) * nbc + (cols // b)
    folds = group_kfold(block_of, n_splits, seed, labels=lab[rows, cols] if stratify else None)
    out = []
    for f in folds:
        test_ids = np.unique(block_of[f.test])
        info = {"fold": f.info["fold"], "n_splits": int(n_splits), "seed": int(seed),
                "n_blocks": int(np.unique(block_of).size), "n_test_blocks": int(test_ids.size)}
        out.append(_block_split_from_test(lab, block_of, rows, cols, test_ids, b, g, nbc, info))
    return out


def mask_membership(coords, masks: Sequence[np.ndarray]) -> np.ndarray:
    """Which samples lie in per-source pixel masks.

    coords : (N, 3) int ``(source index, row, col)`` of each sample's centre pixel
    masks : one (H_s, W_s) bool mask per source
    Returns (N,) bool: ``masks[source][row, col]``.
    """
    c = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    out = np.zeros(c.shape[0], dtype=bool)
    for s, m in enumerate(masks):
        sel = c[:, 0] == s
        if sel.any():
            out[sel] = np.asarray(m, dtype=bool)[c[sel, 1], c[sel, 2]]
    return out


def patch_overlap_count(train_mask, test_mask, radius: int) -> int:
    """Number of training pixels whose (2 radius + 1)-square patch contains a test pixel (0 = no leak)."""
    tr = np.asarray(train_mask, dtype=bool)
    return int((tr & _dilate(np.asarray(test_mask, dtype=bool), int(radius))).sum())

