"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015): a model trained with labels from a source
domain (one scanner, hole or library) learns features a domain discriminator cannot tell from those of an
unlabelled target domain, so it transfers to the target without its labels.

* :class:`GradientReversal` (an autograd Function) / :func:`grad_reverse`: identity forward, gradient times
  ``-lambda`` backward;
* :func:`dann_lambda`: the schedule ``2 / (1 + exp(-gamma p)) - 1`` over training progress ``p`` in [0, 1]
  (0 at the start, approaching 1), scaled by ``lambda_max``;
* :class:`DomainDiscriminator`: an MLP on pooled backbone features -> one logit (target = 1);
* :func:`train_dann`: joint loss = cross entropy on labelled source batches + ``domain_weight`` x binary
  cross entropy of the discriminator on source and target features, through the reversal layer.

Generic over ``(N, C, H, W)`` inputs and over models: the model must offer ``features(x)`` (pooled
``(N, F)``, dense ``(N, F, H, W)`` or a dict of branch features) and ``head`` (logits from those features),
as :class:`hsimin.models.HSIModel` and ``MultiBranchModel`` do. It never looks at architecture names.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..core.errors import InputError
from ..data.datasets import TensorSamples, iter_batches
from .loop import (FitResult, deterministic_mode, epoch_loop, make_scheduler, resolve_device, seed_everything,
                   task_loss)
from .ssl import pool_features

__all__ = ["DomainDiscriminator", "GradientReversal", "dann_lambda", "grad_reverse", "train_dann"]


class GradientReversal(torch.autograd.Function):
    """Identity in the forward pass; multiplies the incoming gradient by ``-lambd`` in the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Gradient reversal layer: ``x`` unchanged, gradient ``-lambd`` times the downstream gradient."""
    return GradientReversal.apply(x, lambd)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor ``2 / (1 + exp(-gamma * p)) - 1`` for training progress ``p`` in [0, 1]."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-float(gamma) * p)) - 1.0


class DomainDiscriminator(nn.Module):
    """MLP domain classifier on pooled features: per hidden width Linear -> ReLU -> Dropout, then Linear -> 1
    logit (target domain = 1). ``(N, F)`` -> ``(N,)``."""

    def __init__(self, num_features: int, hidden: Sequence[int] = (64, 64), dropout: float = 0.1):
        super().__init__()
        layers, c = [], int(num_features)
        for h in hidden:
            layers += [nn.Linear(c, int(h)), nn.ReLU(inplace=True), nn.Dropout(float(dropout))]
            c = int(h)
        layers.append(nn.Linear(c, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).squeeze(1)


def _check_model(model: nn.Module) -> None:
    if not (inspect.ismethod(getattr(model, "features", None)) and isinstance(getattr(model, "head", None),
                                                                              nn.Module)):
        raise InputError(f"train_dann needs a model with features(x) and head (HSIModel, MultiBranchModel); "
                         f"got {type(model).__name__}")


def _batches(data, batch_size: int, g: torch.Generator, *, shuffle: bool, balance: bool = False
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    if isinstance(data, DataLoader):
        for xb, yb in data:
            yield xb, yb
        return
    if isinstance(data, torch.Tensor):
        data = TensorSamples(data)
    if not isinstance(data, Dataset):
        raise InputError(f"give a Dataset, a DataLoader or an (N, C, H, W) tensor, got {type(data).__name__}")
    yield from iter_batches(data, batch_size, shuffle=shuffle, balance=balance, generator=g)


def _len(data, batch_size: int) -> int:
    if isinstance(data, DataLoader):
        return len(data)
    return max(1, math.ceil(len(data) / batch_size))


def train_dann(model: nn.Module, source, target, val: Dataset | None = None, *, epochs: int = 30,
               batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-2, schedule: str = "cosine",
               warmup_epochs: float = 1.0, patience: int | None = None, min_delta: float = 0.0,
               monitor: str = "val_loss", augment: Callable | None = None, balance: bool = False,
               lambda_max: float = 1.0, gamma: float = 10.0, domain_weight: float = 1.0,
               disc_hidden: Sequence[int] = (64, 64), label_smoothing: float = 0.0, seed: int = 0,
               device: str = "cpu", deterministic: bool = True, progress: bool | None = None,
               log: Callable[[str], None] | None = None) -> FitResult:
    """Train ``model`` on labelled ``source`` samples while aligning its features with unlabelled ``target``.

    Parameters
    ----------
    model : a model with ``features(x)`` and ``head`` (see the module docstring)
    source : labelled source samples: a Dataset of ``(x, y)``, a DataLoader, or (with labels) TensorSamples
    target : unlabelled target samples: Dataset, DataLoader or an ``(N, C, H, W)`` tensor (labels ignored);
        cycled when it runs out before the source
    val : labelled validation data for early stopping (from the *source* domain unless target labels exist:
        DANN is for targets without labels). None: the last epoch is kept
    lambda_max, gamma : the reversal strength is ``lambda_max * dann_lambda(p, gamma)``, ``p`` = share of the
        training steps done
    domain_weight : weight of the domain loss in the joint loss
    disc_hidden : hidden widths of the :class:`DomainDiscriminator`
    (the others as in :func:`hsimin.train.loop.fit`; augmentations apply to both domains' batches)

    Returns a :class:`~hsimin.train.loop.FitResult`; ``history`` rows add ``domain_loss``, ``domain_acc``
    (discriminator accuracy: 0.5 = domains indistinguishable) and ``lambda``; ``extra['discriminator']`` is
    the trained discriminator.
    """
    _check_model(model)
    dev = resolve_device(device)
    bs = int(batch_size)
    with deterministic_mode(deterministic):
        seed_everything(seed)
        model.to(dev)
        g = torch.Generator().manual_seed(int(seed))
        x_probe = next(_batches(source, min(bs, 4), g, shuffle=False))[0].to(dev)
        was = model.training
        model.eval()
        with torch.no_grad():
            nf = pool_features(model.features(x_probe)).shape[1]
        model.train(was)
        disc = DomainDiscriminator(nf, disc_hidden).to(dev)
        params = [p for p in list(model.parameters()) + list(disc.parameters()) if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        steps_per_epoch = _len(source, bs)
        sched = make_scheduler(opt, schedule, epochs, steps_per_epoch, warmup_epochs, lr)
        total_steps = max(1, int(epochs) * steps_per_epoch)
        state = {"step": 0, "target": None}

        def next_target() -> torch.Tensor:
            for _ in range(2):
                if state["target"] is None:
                    state["target"] = _batches(target, bs, g, shuffle=True)
                try:
                    return next(state["target"])[0]
                except StopIteration:
                    state["target"] = None
            raise InputError("the target domain has no samples")

        def train_epoch(ep: int) -> dict:
            model.train()
            disc.train()
            tot, tot_d, corr, n, corr_d, n_d, lam = 0.0, 0.0, 0, 0, 0, 0, 0.0
            for xs, ys in _batches(source, bs, g, shuffle=not balance, balance=balance):
                if ys is None:
                    raise InputError("train_dann needs labelled source samples")
                xt = next_target()
                if augment is not None:
                    xs, ys = augment(xs, ys, g)
                    xt, _ = augment(xt, None, g)
                if xs.shape[0] < 2 or xt.shape[0] < 2:
                    continue
                xs, ys, xt = xs.to(dev), ys.to(dev), xt.to(dev)
                lam = float(lambda_max) * dann_lambda(state["step"] / total_steps, gamma)
                fs = model.features(xs)
                loss_c, c, k = task_loss(model.head(fs), ys, label_smoothing=label_smoothing)
                ft = model.features(xt)
                f_all = torch.cat([pool_features(fs), pool_features(ft)], dim=0)
                d_true = torch.cat([torch.zeros(xs.shape[0]), torch.ones(xt.shape[0])]).to(dev)
                d_logit = disc(grad_reverse(f_all, lam))
                loss_d = F.binary_cross_entropy_with_logits(d_logit, d_true)
                loss = loss_c + float(domain_weight) * loss_d
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                state["step"] += 1
                tot += float(loss_c.detach()) * k
                corr += c
                n += k
                tot_d += float(loss_d.detach()) * d_true.numel()
                corr_d += int(((d_logit > 0).float() == d_true).sum())
                n_d += d_true.numel()
            return {"train_loss": tot / max(n, 1), "train_acc": corr / max(n, 1),
                    "domain_loss": tot_d / max(n_d, 1), "domain_acc": corr_d / max(n_d, 1), "lambda": lam}

        result = epoch_loop(model, train_epoch, val, epochs=epochs, patience=patience, min_delta=min_delta,
                            monitor=monitor, batch_size=bs, device=dev, optimizer=opt, progress=progress,
                            desc="DANN", log=log)
    disc.eval()
    result.extra["discriminator"] = disc
    return result
