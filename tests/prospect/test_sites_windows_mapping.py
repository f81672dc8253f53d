"""Sites (K-means negatives), windows, augmentation, blocked folds, mapping and classes (numpy side)."""
import numpy as np
import pytest

from hsimin.core import InputError
from hsimin.prospect.layers import prepare_layers, xy_to_rowcol
from hsimin.prospect.mapping import classify, histogram_thresholds, predict_map, success_rate_curve
from hsimin.prospect.sites import kmeans_low_cells, kmeans_negatives, make_sites, sites_to_cells
from hsimin.prospect.windows import augment, blocked_folds, extract_windows, padded, random_cells, windows_overlap


def test_sites_to_cells_dedupes_and_drops_outside(area):
    raster, (dx, dy), _ = area
    x = np.concatenate([dx, dx[:1] + 10.0, [-1e9]])
    y = np.concatenate([dy, dy[:1] - 10.0, [0.0]])
    r, c, keep = sites_to_cells(x, y, raster.transform, raster.shape, raster.mask)
    assert len(r) == len(dx) and keep.max() < len(dx)
    with pytest.raises(InputError, match="CRS"):
        sites_to_cells([-1e9], [0.0], raster.transform, raster.shape)


def test_kmeans_negatives_are_low_far_and_spread(area):
    raster, (dx, dy), _ = area
    pr, pc = xy_to_rowcol(raster.transform, dx, dy)
    li = raster.values[..., 2]
    faults = raster.values[..., 3]
    low = kmeans_low_cells(li, raster.mask, n_clusters=4, low_clusters=1)
    assert low.any() and np.nanmax(li[low]) < np.nanmedian(li[raster.mask])
    nr, nc = kmeans_negatives(li, raster.mask, pr, pc, 8, fault_score=faults, min_distance_cells=5, n_clusters=4,
                              low_clusters=2, seed=3)
    assert len(nr) == 8 and len(set(zip(nr.tolist(), nc.tolist()))) == 8
    assert raster.mask[nr, nc].all()
    dist = np.hypot(nr[:, None] - pr[None], nc[:, None] - pc[None]).min(axis=1)
    assert dist.min() >= 5
    assert np.all(faults[nr, nc] <= np.quantile(faults[raster.mask], 0.5))
    again = kmeans_negatives(li, raster.mask, pr, pc, 8, fault_score=faults, min_distance_cells=5, n_clusters=4,
                             low_clusters=2, seed=3)
    assert np.array_equal(again[0], nr)
    with pytest.raises(InputError, match="candidate"):
        kmeans_negatives(li, raster.mask, pr, pc, 10_000, n_clusters=4)


def test_make_sites_from_list_and_kmeans(area):
    raster, dep, neg = area
    s = make_sites(raster, dep, neg)
    assert (s.labels == 1).sum() == 10 and (s.labels == 0).sum() == 10
    assert np.allclose(s.x[:10], dep[0])
    k = make_sites(raster, dep, None, negative_layer="Li", fault_layer="faults", min_distance_cells=4, seed=1)
    assert (k.labels == 0).sum() == 10 and k.ids[-1].startswith("kmeans")
    with pytest.raises(InputError, match="no layer 'Ag'"):
        make_sites(raster, dep, None, negative_layer="Ag")


def test_windows_are_centred_band_last_and_filled_at_edges():
    v = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    w = extract_windows(v, [2, 0], [3, 5], 3, fill=-1)
    assert w.shape == (2, 3, 3, 2)
    assert np.array_equal(w[0, 1, 1], v[2, 3]) and np.array_equal(w[0, 0, 0], v[1, 2])
    assert np.all(w[1, 0] == -1) and np.all(w[1, :, 2] == -1) and np.array_equal(w[1, 1, 1], v[0, 5])
    w4 = extract_windows(v, [2], [2], 4)                  # even window: centre at index k // 2
    assert np.array_equal(w4[0, 2, 2], v[2, 2])
    assert padded(v, 4).shape == (8, 9, 2)
    with pytest.raises(InputError):
        extract_windows(v, [5], [0], 3)


def test_augment_gives_all_square_symmetries():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 5, 5, 2)).astype(np.float32)
    xa, ya = augment(w, np.array([1, 0, 1]), copies=8, noise_sd=0.0)
    assert xa.shape == (24, 5, 5, 2) and ya.tolist() == [1, 0, 1] * 8
    copies = xa.reshape(8, 3, 5, 5, 2)[:, 0]
    flat = {c.tobytes() for c in copies}
    assert len(flat) == 8                                   # 8 distinct symmetries of a random window
    assert np.allclose(np.sort(copies.reshape(8, -1), axis=1), np.sort(w[0].ravel()))   # values permuted only
    noisy, _ = augment(w, np.array([1, 0, 1]), copies=2, noise_sd=0.1, rng=np.random.default_rng(1))
    assert np.array_equal(noisy[:3], w) and not np.allclose(noisy[3:], np.rot90(w, 1, axes=(1, 2)))


def test_blocked_folds_never_straddle_overlapping_windows(area):
    raster, dep, neg = area
    s = make_sites(raster, dep, neg)
    k = 6
    folds = blocked_folds(s.rows, s.cols, s.labels, k, n_folds=3, block_size=12, seed=0, shape=raster.shape)
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(s)))      # every site tested exactly once
    for f in folds:
        assert not windows_overlap(s.rows[f.train], s.cols[f.train], s.rows[f.test], s.cols[f.test], k).any()
        assert set(s.labels[f.test]) == {0, 1} and set(s.labels[f.train]) == {0, 1}
        assert len(np.intersect1d(f.train, f.test)) == 0
    with pytest.raises(InputError, match="folds"):
        blocked_folds(s.rows, s.cols, s.labels, k, n_folds=11)


def test_predict_map_covers_the_mask_in_batches(area):
    raster, _, _ = area
    p = prepare_layers(raster, "log", ["Au", "Cu", "Li"])
    k = 5
    centre = lambda w: 1 / (1 + np.exp(-w[:, k // 2, k // 2, 2]))  # noqa: E731 - sigmoid of Li at the centre
    calls = []
    m1 = predict_map(centre, p.values, p.mask, k, batch_size=97, progress=lambda d, t: calls.append((d, t)))
    m2 = predict_map(centre, p.values, p.mask, k, batch_size=10_000)
    assert np.array_equal(m1, m2, equal_nan=True)
    assert np.all(np.isnan(m1[~p.mask])) and np.all(np.isfinite(m1[p.mask]))
    assert np.allclose(m1[p.mask], 1 / (1 + np.exp(-p.values[..., 2][p.mask])))
    assert calls[-1] == (int(p.mask.sum()), int(p.mask.sum())) and len(calls) > 1


def test_classes_thresholds_and_success_rate():
    prob = np.array([[0.99, 0.92, 0.86], [0.5, np.nan, 0.1]])
    c = classify(prob)
    assert c.tolist() == [[3, 2, 1], [0, -1, 0]]
    with pytest.raises(InputError):
        classify(prob, (0.8, 0.9, 0.95))
    rng = np.random.default_rng(0)
    big = rng.uniform(size=(100, 100))
    t = histogram_thresholds(big)
    assert t[0] > t[1] > t[2]
    assert np.mean(big >= t[0]) == pytest.approx(0.05, abs=0.002)
    # deposits on the highest cells -> success AUC near 1; on random cells -> about 0.5
    top = np.argsort(big.ravel())[::-1][:10]
    good = success_rate_curve(big, *np.unravel_index(top, big.shape))
    assert good["auc"] > 0.99 and good["area"][0] == 0 and good["captured"][-1] == 1
    rnd = rng.choice(big.size, 400, replace=False)
    assert success_rate_curve(big, *np.unravel_index(rnd, big.shape))["auc"] == pytest.approx(0.5, abs=0.06)


def test_random_cells_respects_mask_and_exclusion():
    m = np.zeros((10, 10), bool)
    m[2:5, 2:5] = True
    ex = np.zeros_like(m)
    ex[2, 2] = True
    r, c = random_cells(m, 100, np.random.default_rng(0), exclude=ex)
    assert len(r) == 8 and m[r, c].all() and not ((r == 2) & (c == 2)).any()


# -------------------------------------------------------------------------------------- CV for few sites (issue 14)

from hsimin.prospect.windows import PURGES, choose_blocked_folds  # noqa: E402

# Ten deposits and ten negatives as the shared Li-belt grid has them (row, col on the 4 km grid): the deposits
# cluster in the north-east, as deposits do.
FEW_ROWS = np.array([22, 23, 23, 24, 31, 31, 31, 51, 56, 56, 29, 30, 38, 39, 44, 49, 60, 61, 72, 75])
FEW_COLS = np.array([104, 103, 104, 102, 102, 103, 99, 123, 94, 93, 120, 113, 124, 108, 83, 106, 107, 69, 96, 48])
FEW_LABELS = np.array([1] * 10 + [0] * 10)


def _honest(folds, labels, rows, cols, gap):
    for f in folds:
        assert set(labels[f.test]) == {0, 1} and set(labels[f.train]) == {0, 1}
        d = np.maximum(np.abs(rows[f.train][:, None] - rows[f.test][None]),
                       np.abs(cols[f.train][:, None] - cols[f.test][None]))
        assert d.min() > gap                      # no training site within the purge distance of a test site
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(labels.size))       # blocked: every site tested once


def test_the_default_cv_adapts_to_ten_deposits_and_says_so():
    """10 deposits and 10 negatives stopped `prospect run` at its defaults ('group_kfold needs 2 <= n_splits <=
    number of groups (3), got 5'). The search keeps a blocked split: fewer folds, smaller blocks, and last the purge
    that only keeps test sites out of training windows."""
    for k in (8, 16, 32):
        with pytest.raises(InputError):                                    # what the default did before
            blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, k, 5, None, shape=(163, 141))
        folds, cv = choose_blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, k, shape=(163, 141))
        assert cv.adjusted and 2 <= cv.folds < 5 and len(folds) == cv.folds
        _honest(folds, FEW_LABELS, FEW_ROWS, FEW_COLS, k - 1 if cv.purge == "windows" else k // 2)
        text = cv.describe()
        assert f"{cv.folds}-fold" in text and f"blocks of {cv.block_size} cells" in text and PURGES[cv.purge] in text
        assert "10 deposit and 10 negative" in text and cv.to_dict()["adjusted"] is True
    _, cv16 = choose_blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, 16, shape=(163, 141))
    assert cv16.purge == "windows"                                         # the strict purge while it is possible


def test_a_default_that_fits_is_kept_unchanged(area):
    raster, dep, neg = area
    s = make_sites(raster, dep, neg)
    folds, cv = choose_blocked_folds(s.rows, s.cols, s.labels, 6, 3, 12, seed=0, shape=raster.shape)
    plain = blocked_folds(s.rows, s.cols, s.labels, 6, n_folds=3, block_size=12, seed=0, shape=raster.shape)
    assert [f.test.tolist() for f in folds] == [f.test.tolist() for f in plain]
    assert (cv.folds, cv.block_size, cv.purge, cv.seed) == (3, 12, "windows", 0)


def test_values_given_are_kept_and_an_impossible_one_names_what_would_work():
    with pytest.raises(InputError, match="5 folds.*; these sites allow --folds 3 --block-size 32"):
        choose_blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, 16, n_folds=5, block_size=32, shape=(163, 141))
    folds, cv = choose_blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, 16, n_folds=3, shape=(163, 141))
    assert cv.folds == 3 and cv.purge == "windows"


def test_no_honest_split_is_refused_clearly_never_random():
    """Windows as large as the whole site cloud leave no blocked split: refused, saying a random split is not an
    option."""
    with pytest.raises(InputError, match="no spatially blocked split of 10 deposit and 10 negative sites.*random"):
        choose_blocked_folds(FEW_ROWS, FEW_COLS, FEW_LABELS, 60, shape=(163, 141))
