"""Torch datasets and batch iteration over ``(N, C, H, W)`` samples (generic: spectra, patches, geochemical
windows).

* :class:`TensorSamples` — an in-memory ``torch.utils.data.Dataset`` of ``x (N, C, H, W)`` float32 and labels
  ``y`` (``(N,)`` class indices, ``(N, H, W)`` dense labels, -1 = unlabelled, or None). Built from a numpy
  :class:`~hsimin.data.samples.SampleSet` with :meth:`TensorSamples.from_samples` (band-last -> torch layout
  through :mod:`hsimin.models.layout`, the one module that converts) or from tensors.
* :func:`iter_batches` — seeded batches of any dataset: fast tensor indexing for :class:`TensorSamples`, a
  ``DataLoader`` for other datasets; optional class-balanced sampling (:func:`balanced_weights`).
* :func:`make_loader` — a seeded ``DataLoader`` (shuffled or class-balanced with a ``WeightedRandomSampler``)
  for code that wants one.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from ..core.errors import InputError
from ..models.layout import to_torch
from .samples import SampleSet

__all__ = ["TensorSamples", "balanced_weights", "iter_batches", "make_loader"]


class TensorSamples(Dataset):
    """In-memory samples: ``ds[i] -> (x_i (C, H, W), y_i)`` (``y_i`` is -1 when there are no labels).

    Attributes: ``x`` (N, C, H, W) float32, ``y`` (N,) / (N, H, W) int64 or None, ``groups`` (N,) str array or
    None, ``class_names`` tuple, ``wavelengths`` (C,) nm or None.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None, *, groups=None, class_names=(),
                 wavelengths=None):
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise InputError(f"TensorSamples takes x as an (N, C, H, W) tensor, got "
                             f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}; convert band-last "
                             "arrays with hsimin.models.layout.to_torch or TensorSamples.from_samples")
        if not x.is_floating_point():
            x = x.float()
        self.x = x
        if y is not None:
            y = torch.as_tensor(y).long()
            if y.shape[0] != x.shape[0] or y.ndim not in (1, 3) or (y.ndim == 3 and y.shape[1:] != x.shape[2:]):
                raise InputError(f"labels of shape {tuple(y.shape)} do not fit samples of shape {tuple(x.shape)}: "
                                 "give (N,) or (N, H, W)")
        self.y = y
        self.groups = None if groups is None else np.asarray(groups).astype(str)
        self.class_names = tuple(str(c) for c in class_names)
        self.wavelengths = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)

    @classmethod
    def from_samples(cls, samples: SampleSet) -> "TensorSamples":
        """Wrap a :class:`SampleSet` (shares memory: ``to_torch`` views float32 arrays without copying)."""
        x = to_torch(samples.x)
        return cls(x, torch.from_numpy(samples.y.copy()), groups=samples.groups, class_names=samples.class_names,
                   wavelengths=samples.wavelengths)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i):
        return self.x[i], (self.y[i] if self.y is not None else torch.tensor(-1))

    @property
    def in_channels(self) -> int:
        return int(self.x.shape[1])

    def subset(self, index) -> "TensorSamples":
        idx = torch.as_tensor(np.arange(len(self))[index])
        return TensorSamples(self.x[idx], None if self.y is None else self.y[idx],
                             groups=None if self.groups is None else self.groups[idx.numpy()],
                             class_names=self.class_names, wavelengths=self.wavelengths)


def balanced_weights(y, num_classes: int | None = None) -> torch.Tensor:
    """Per-sample weights ``1 / count(class)`` (float64), so every class is drawn equally often; samples
    labelled -1 get weight 0. ``y``: (N,) labels."""
    y = torch.as_tensor(y).long().reshape(-1)
    if y.ndim != 1:
        raise InputError("class-balanced sampling needs (N,) labels")
    lab = y[y >= 0]
    if lab.numel() == 0:
        raise InputError("class-balanced sampling needs labelled samples")
    K = int(num_classes or int(lab.max()) + 1)
    counts = torch.bincount(lab, minlength=K).double()
    w = torch.zeros(y.numel(), dtype=torch.float64)
    w[y >= 0] = 1.0 / counts[lab]
    return w


def _labels_of(ds: Dataset) -> torch.Tensor:
    y = getattr(ds, "y", None)
    if y is None:
        raise InputError("class-balanced sampling needs a dataset with labels (attribute y)")
    y = torch.as_tensor(y)
    if y.ndim != 1:
        raise InputError("class-balanced sampling needs (N,) labels, not dense (N, H, W) ones")
    return y


def _order(ds: Dataset, shuffle: bool, balance: bool, g: torch.Generator, num_samples: int | None) -> torch.Tensor:
    n = len(ds)
    if balance:
        w = balanced_weights(_labels_of(ds))
        return torch.multinomial(w, num_samples or n, replacement=True, generator=g)
    if shuffle:
        return torch.randperm(n, generator=g)
    return torch.arange(n)


def iter_batches(ds: Dataset, batch_size: int, *, shuffle: bool = False, balance: bool = False,
                 generator: torch.Generator | None = None, drop_last: bool = False,
                 num_samples: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Batches ``(x (b, C, H, W), y)`` of a dataset, in a seeded order.

    ``shuffle``: a random permutation per call (from ``generator``); ``balance``: ``num_samples`` (default N)
    indices drawn with replacement with class-balanced weights; neither: in order. ``TensorSamples`` are
    indexed directly (no per-item collation); other datasets go through a ``DataLoader`` with the same order.
    Labels are None when the dataset has none.
    """
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    order = _order(ds, shuffle, balance, g, num_samples)
    bs = int(batch_size)
    stop = (order.numel() // bs) * bs if drop_last else order.numel()
    if isinstance(ds, TensorSamples):
        for i in range(0, stop, bs):
            idx = order[i:i + bs]
            yield ds.x[idx], (ds.y[idx] if ds.y is not None else None)
        return
    loader = DataLoader(ds, batch_size=bs, sampler=order[:stop].tolist(), num_workers=0)
    for xb, yb in loader:
        yield xb, (None if (yb.ndim == 1 and bool((yb < 0).all())) else yb)


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool = True, balance: bool = False, seed: int = 0,
                drop_last: bool = False, num_workers: int = 0) -> DataLoader:
    """A seeded ``DataLoader``: class-balanced (``WeightedRandomSampler``, N draws with replacement) when
    ``balance``, else shuffled or in order."""
    g = torch.Generator().manual_seed(int(seed))
    if balance:
        sampler = WeightedRandomSampler(balanced_weights(_labels_of(ds)), num_samples=len(ds), replacement=True,
                                        generator=g)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=drop_last, num_workers=num_workers)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g, drop_last=drop_last,
                      num_workers=num_workers)
