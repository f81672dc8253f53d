"""Self-supervised contrastive pretraining (SimCLR, Chen et al. 2020) for scarce labels.

Two augmented views of every unlabelled sample (the physical augmentations of :mod:`hsimin.data.augment`:
mixing, wavelength shift, continuum slope, brightness, flips, noise) go through the encoder and a projection
head; the NT-Xent loss pulls the two views of a sample together and pushes the other ``2N - 2`` samples of
the batch away. The encoder's weights then initialise a classifier that is fine-tuned on the few labels
(:func:`hsimin.train.loop.fit`, or ``model.init_from`` / ``[ssl]`` in a training config).

Everything is generic over ``(N, C, H, W)`` batches, so hyperspectral pixels/patches and geochemical windows
use the same code. The encoder is any module giving pooled ``(N, F)`` features, dense ``(N, F, H, W)``
features (averaged over H, W) or a dict of them (concatenated): a backbone from the registry, or a whole
model with a ``features(x)`` method (``HSIModel``, ``MultiBranchModel``), of which only the features are used.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..core.errors import InputError
from ..data.datasets import TensorSamples, iter_batches
from .loop import deterministic_mode, make_scheduler, progress_bar, resolve_device, seed_everything

__all__ = ["NTXentLoss", "ProjectionHead", "SSLResult", "encode", "nt_xent", "pool_features",
           "pretrain_simclr"]


def pool_features(f) -> torch.Tensor:
    """Features as ``(N, F)``: dense ``(N, F, H, W)`` averaged over H, W; a dict of branch features
    concatenated (each pooled) in the dict's order."""
    if isinstance(f, dict):
        return torch.cat([pool_features(v) for v in f.values()], dim=1)
    if f.ndim == 4:
        f = f.mean(dim=(2, 3))
    if f.ndim != 2:
        raise InputError(f"features of shape {tuple(f.shape)}; want (N, F) or (N, F, H, W)")
    return f


def encode(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled features ``(N, F)`` of ``x (N, C, H, W)``: ``encoder.features(x)`` if it has that method, else
    ``encoder(x)``, through :func:`pool_features`. (A backbone's ``features`` *submodule*, as in ``cnn1d``, is
    not a method, so backbones are called whole.)"""
    f = encoder.features(x) if inspect.ismethod(getattr(encoder, "features", None)) else encoder(x)
    return pool_features(f)


class ProjectionHead(nn.Module):
    """SimCLR's projection MLP: Linear F -> hidden, BatchNorm, ReLU, Linear hidden -> out. ``(N, F)`` ->
    ``(N, out)``. It is thrown away after pretraining."""

    def __init__(self, num_features: int, out_dim: int = 64, hidden: int | None = None):
        super().__init__()
        hidden = int(hidden or max(out_dim, num_features))
        self.net = nn.Sequential(nn.Linear(num_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_dim))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent (normalised temperature-scaled cross entropy) of two views ``z1, z2 (N, D)``.

    The embeddings are L2-normalised; for each of the 2N embeddings the positive is the other view of the
    same sample and the negatives are the other 2N - 2; loss = mean cross entropy of cosine similarity /
    ``temperature``. Minimum 0 (perfectly aligned, infinitely separated); ``log(2N - 1)`` for random ones.
    """
    if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[0] < 2:
        raise InputError(f"nt_xent needs two (N, D) views with N >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if not temperature > 0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.t() / float(temperature)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class NTXentLoss(nn.Module):
    """:func:`nt_xent` as a module with a fixed ``temperature``."""

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        if not temperature > 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, self.temperature)


@dataclass
class SSLResult:
    """What :func:`pretrain_simclr` returns: the pretrained ``encoder`` (the same object, trained in place),
    its ``projection`` head, per-epoch ``history`` (``epoch``, ``loss``, ``lr``) and wall ``seconds``."""

    encoder: nn.Module
    projection: nn.Module
    history: list = field(default_factory=list)
    seconds: float = 0.0


def _as_dataset(data) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, torch.Tensor):
        return TensorSamples(data)
    raise InputError(f"unlabelled data must be an (N, C, H, W) tensor or a Dataset, got {type(data).__name__}")


def pretrain_simclr(encoder: nn.Module, data, augment: Callable, *, epochs: int = 20, batch_size: int = 128,
                    lr: float = 1e-3, weight_decay: float = 1e-4, temperature: float = 0.2, proj_dim: int = 64,
                    proj_hidden: int | None = None, schedule: str = "cosine", warmup_epochs: float = 1.0,
                    seed: int = 0, device: str = "cpu", progress: bool | None = None,
                    deterministic: bool = True, log: Callable[[str], None] | None = None) -> SSLResult:
    """SimCLR pretraining of ``encoder`` on unlabelled samples, in place.

    Parameters
    ----------
    encoder : a backbone, or a model with ``features(x)`` (see the module docstring); trained in place
    data : unlabelled samples: an ``(N, C, H, W)`` tensor or a Dataset yielding ``(x, y)`` (labels ignored)
    augment : ``augment(x, y, generator) -> (x, y)`` (e.g. :func:`hsimin.data.build_augment`), called twice
        per batch to make the two views; use strong, physically plausible views
    epochs, batch_size, lr, weight_decay, schedule, warmup_epochs : AdamW and the learning-rate schedule
        (``cosine`` with linear warmup, ``onecycle`` or ``constant``)
    temperature : NT-Xent temperature (0.1-0.5 typical)
    proj_dim, proj_hidden : projection head sizes
    seed, deterministic : seeded, deterministic algorithms on CPU
    device : ``cpu``, ``cuda`` or ``auto``

    Returns :class:`SSLResult`. Batches of one sample are skipped (NT-Xent needs negatives).
    """
    ds = _as_dataset(data)
    if len(ds) < 2:
        raise InputError("SimCLR needs at least 2 unlabelled samples")
    dev = resolve_device(device)
    bs = min(int(batch_size), len(ds))
    with deterministic_mode(deterministic):
        seed_everything(seed)
        encoder.to(dev).train()
        with torch.no_grad():
            x0 = next(iter_batches(ds, min(2, len(ds))))[0].to(dev)
            was = encoder.training
            encoder.eval()
            nf = encode(encoder, x0).shape[1]
            encoder.train(was)
        proj = ProjectionHead(nf, int(proj_dim), proj_hidden).to(dev)
        params = [p for p in list(encoder.parameters()) + list(proj.parameters()) if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        steps = max(1, len(ds) // bs)
        sched = make_scheduler(opt, schedule, int(epochs), steps, warmup_epochs, lr)
        g = torch.Generator().manual_seed(int(seed))
        history, t0 = [], time.perf_counter()
        bar = progress_bar(int(epochs), "SimCLR", progress)
        for ep in range(1, int(epochs) + 1):
            total, count = 0.0, 0
            for xb, _ in iter_batches(ds, bs, shuffle=True, generator=g, drop_last=True):
                if xb.shape[0] < 2:
                    continue
                xb = xb.to(dev)
                v1, _ = augment(xb, None, g)
                v2, _ = augment(xb, None, g)
                loss = nt_xent(proj(encode(encoder, v1)), proj(encode(encoder, v2)), temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * xb.shape[0]
                count += xb.shape[0]
            row = {"epoch": ep, "loss": total / max(count, 1), "lr": opt.param_groups[0]["lr"]}
            if not math.isfinite(row["loss"]):
                raise InputError(f"SimCLR loss became {row['loss']} at epoch {ep}; lower lr or check the data "
                                 "for NaN")
            history.append(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.3f}")
                bar.update(1)
            if log:
                log(f"simclr epoch {ep}: loss {row['loss']:.4f}")
        if bar is not None:
            bar.close()
        encoder.eval()
    return SSLResult(encoder, proj, history, time.perf_counter() - t0)
