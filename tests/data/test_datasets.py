"""Torch datasets: layout through hsimin.models.layout, seeded batch order, class balancing."""
import numpy as np
import pytest
import torch

from hsimin.core.errors import InputError
from hsimin.data.datasets import TensorSamples, balanced_weights, iter_batches, make_loader
from hsimin.data.samples import SampleSet, cube_samples
from hsimin.testing import make_tray, swir_wavelengths


def _imbalanced(n0=180, n1=20):
    x = torch.randn(n0 + n1, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    y = torch.cat([torch.zeros(n0), torch.ones(n1)]).long()
    return TensorSamples(x, y)


def test_from_samples_puts_bands_on_the_channel_axis():
    t = make_tray((30, 12), swir_wavelengths(5), seed=0)
    s = cube_samples(t.cube, t.labels, t.class_names, patch_size=3)
    ds = TensorSamples.from_samples(s)
    assert ds.x.shape == (len(s), 5, 3, 3) and ds.in_channels == 5
    i = len(s) // 2
    assert torch.equal(ds.x[i, :, 0, 2], torch.from_numpy(s.x[i, 0, 2, :]))
    assert ds[i][1] == s.y[i] and ds.class_names == t.class_names
    px = TensorSamples.from_samples(SampleSet(np.arange(12.0).reshape(4, 3), [0, 0, 1, 1], ["a", "b"],
                                              [1.0, 2.0, 3.0], ["g"] * 4))
    assert px.x.shape == (4, 3, 1, 1) and px.x[2, :, 0, 0].tolist() == [6.0, 7.0, 8.0]
    with pytest.raises(InputError):
        TensorSamples(torch.zeros(4, 3))
    with pytest.raises(InputError):
        TensorSamples(torch.zeros(4, 3, 2, 2), torch.zeros(5))


def test_iter_batches_seeded_and_complete():
    ds = _imbalanced()
    a = torch.cat([y for _, y in iter_batches(ds, 32, shuffle=True, generator=torch.Generator().manual_seed(1))])
    b = torch.cat([y for _, y in iter_batches(ds, 32, shuffle=True, generator=torch.Generator().manual_seed(1))])
    assert torch.equal(a, b) and a.sum() == 20 and a.numel() == 200
    xs = torch.cat([x for x, _ in iter_batches(ds, 32)])
    assert torch.equal(xs, ds.x)                                  # unshuffled: in order
    sizes = [x.shape[0] for x, _ in iter_batches(ds, 64, drop_last=True)]
    assert sizes == [64, 64, 64]
    unl = TensorSamples(torch.zeros(5, 2, 1, 1))
    assert all(y is None for _, y in iter_batches(unl, 2))


def test_balanced_sampling_draws_classes_equally():
    ds = _imbalanced()
    w = balanced_weights(ds.y)
    assert torch.isclose(w[ds.y == 0].sum(), w[ds.y == 1].sum())
    y = torch.cat([y for _, y in iter_batches(ds, 50, balance=True, generator=torch.Generator().manual_seed(0),
                                              num_samples=4000)])
    assert abs(float(y.float().mean()) - 0.5) < 0.04
    loader = make_loader(ds, 50, balance=True, seed=0)
    yl = torch.cat([y for _, y in loader])
    assert yl.numel() == 200 and 0.35 < float(yl.float().mean()) < 0.65
    assert balanced_weights(torch.tensor([0, -1, 1]))[1] == 0


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((2, 1, 1), float(i)), torch.tensor(i % 2)


def test_iter_batches_on_a_plain_dataset_uses_the_same_order():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    plain = torch.cat([x[:, 0, 0, 0] for x, _ in iter_batches(_ListDataset(10), 4, shuffle=True, generator=g1)])
    ref = torch.randperm(10, generator=g2).float()
    assert torch.equal(plain, ref)
