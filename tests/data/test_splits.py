"""Leak-free splits: no group on both sides, no training patch touching a test pixel, random = optimistic."""
import numpy as np
import pytest

from hsimin.core.errors import InputError
from hsimin.data.samples import cube_samples
from hsimin.data.splits import (OPTIMISTIC_NOTE, group_kfold, group_split, mask_membership, min_gap,
                                patch_overlap_count, random_split, spatial_block_kfold, spatial_block_split)
from hsimin.testing import make_spectra, make_tray, swir_wavelengths


def _groups(rng, n_groups=30, n=600):
    """n samples in n_groups groups of random sizes; label = group index mod 4 (each group one class)."""
    g = rng.integers(0, n_groups, size=n)
    return np.array([f"s{x:02d}" for x in g]), g % 4


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_group_split_keeps_groups_whole(rng, seed):
    groups, labels = _groups(rng)
    for lab in (None, labels):
        sp = group_split(groups, 0.25, seed, labels=lab)
        assert not set(groups[sp.train]) & set(groups[sp.test])
        assert np.union1d(sp.train, sp.test).size == groups.size and np.intersect1d(sp.train, sp.test).size == 0
        assert 0.12 < sp.test.size / groups.size < 0.4
        assert set(sp.info["test_groups"]) == set(groups[sp.test])
        assert sp.kind == "group" and not sp.optimistic
        assert not sp.describe().startswith(OPTIMISTIC_NOTE)


def test_group_split_stratified_tests_every_class_with_two_groups():
    s = make_spectra(8, swir_wavelengths(16), seed=0, n_groups=4)
    labels = s.labels.copy()
    groups = s.groups.copy()
    groups[labels == 4] = "only-one"                  # class 4 has a single group: it must stay in training
    sp = group_split(groups, 0.25, 0, labels=labels)
    for k in range(4):
        assert (labels[sp.train] == k).any() and (labels[sp.test] == k).any()
    assert (labels[sp.train] == 4).all() or 4 not in labels[sp.test]
    assert sp.info["untested_classes"] == [4]


def test_group_split_needs_two_groups():
    with pytest.raises(InputError):
        group_split(["a"] * 5, 0.2)
    with pytest.raises(InputError):
        group_split(["a", "b"], 1.5)


@pytest.mark.parametrize("labels", [False, True])
def test_group_kfold_tests_each_group_once(rng, labels):
    groups, lab = _groups(rng, 25, 500)
    folds = group_kfold(groups, 5, seed=4, labels=lab if labels else None)
    assert len(folds) == 5
    seen = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(seen), np.arange(groups.size))      # every sample tested exactly once
    for f in folds:
        assert not set(groups[f.train]) & set(groups[f.test])
        assert f.test.size > 0.1 * groups.size
    with pytest.raises(InputError):
        group_kfold(groups[:3], 5)


def test_random_split_is_flagged_optimistic():
    sp = random_split(100, 0.2, 0)
    assert sp.optimistic and sp.kind == "random"
    assert sp.describe().startswith("random pixel split: optimistic")
    assert sp.to_dict()["optimistic"] is True
    assert sp.test.size == 20 and np.intersect1d(sp.train, sp.test).size == 0
    strat = random_split(100, 0.2, 0, labels=np.repeat([0, 1], 50))
    assert np.bincount(np.repeat([0, 1], 50)[strat.test]).tolist() == [10, 10]


def _brute_force_overlaps(train_mask, test_mask, r):
    """Training pixels whose (2r+1)^2 window holds a test pixel, by explicit distances."""
    tr = np.argwhere(train_mask)
    te = np.argwhere(test_mask)
    if not len(tr) or not len(te):
        return 0
    d = np.abs(tr[:, None, :] - te[None, :, :]).max(axis=2)
    return int((d.min(axis=1) <= r).sum())


@pytest.mark.parametrize("patch,block,seed", [(3, 8, 0), (5, 10, 1), (9, 16, 2), (7, 8, 3)])
def test_spatial_block_split_no_training_patch_overlaps_a_test_pixel(patch, block, seed):
    t = make_tray((72, 30), swir_wavelengths(8), seed=seed)
    gap = min_gap(patch)
    sp = spatial_block_split(t.labels, block, gap, 0.25, seed)
    train_mask, test_mask = sp                                      # unpacks as masks
    assert train_mask.any() and test_mask.any()
    assert not (train_mask & test_mask).any()
    assert not ((train_mask | test_mask) & (t.labels < 0)).any()
    assert _brute_force_overlaps(train_mask, test_mask, patch // 2) == 0
    assert patch_overlap_count(train_mask, test_mask, patch // 2) == 0
    # whole blocks go to test: every labelled pixel of a test block is a test pixel
    for br, bc in sp.test_blocks:
        blk = (slice(br * block, (br + 1) * block), slice(bc * block, (bc + 1) * block))
        assert np.array_equal(test_mask[blk], t.labels[blk] >= 0)
    # end to end: the patch extractor itself never sees a test pixel in a training window
    flag = np.zeros(t.cube.shape[:2] + (1,), np.float32)
    flag[test_mask] = 1.0
    from hsimin.core import Cube
    probe = Cube(flag, [2000.0])
    s = cube_samples(probe, t.labels, t.class_names, patch_size=patch, pad_mode="constant", pixel_mask=train_mask)
    assert len(s) == train_mask.sum() and s.x.max() == 0.0


def test_spatial_block_split_gap_zero_does_leak_patches():
    """The check above is not vacuous: without a gap, patches do reach across the block boundary."""
    t = make_tray((72, 30), swir_wavelengths(8), seed=0)
    sp = spatial_block_split(t.labels, 8, 0, 0.25, 0)
    assert _brute_force_overlaps(sp.train_mask, sp.test_mask, 2) > 0
    assert sp.info["dropped_by_gap"] == 0


def test_spatial_block_kfold_covers_every_labelled_pixel_once():
    t = make_tray((64, 24), swir_wavelengths(8), seed=1)
    folds = spatial_block_kfold(t.labels, 8, 1, n_splits=4, seed=0)
    count = sum(f.test_mask.astype(int) for f in folds)
    assert np.array_equal(count, (t.labels >= 0).astype(int))
    for f in folds:
        assert patch_overlap_count(f.train_mask, f.test_mask, 1) == 0


def test_mask_membership():
    m0 = np.zeros((4, 4), bool)
    m0[1, 2] = True
    m1 = np.ones((3, 3), bool)
    coords = np.array([[0, 1, 2], [0, 0, 0], [1, 2, 2]])
    assert mask_membership(coords, [m0, m1]).tolist() == [True, False, True]


def test_min_gap():
    assert min_gap(9) == 4 and min_gap(9, disjoint_patches=True) == 8 and min_gap(1) == 0
