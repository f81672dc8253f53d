"""The training loop: plain PyTorch, AdamW, a learning-rate schedule, early stopping, seeded and deterministic.

:func:`fit` trains any ``nn.Module`` mapping ``(N, C, H, W)`` to logits — pooled ``(N, K)`` or dense
``(N, K, H, W)`` — on any dataset of ``(x, y)`` pairs; it never looks at architecture names. Labels are
``(N,)`` class indices (a dense model is then scored at its centre pixel) or dense ``(N, H, W)`` maps, -1 =
unlabelled (ignored). :func:`predict_samples` gives class probabilities; :func:`evaluate` loss and accuracy.

Reproducibility: :func:`fit` seeds torch, numpy and random, enables ``torch.use_deterministic_algorithms``
(restored afterwards), draws batch order and augmentations from its own ``torch.Generator``; two runs with
the same seed on CPU give identical weights.
"""
from __future__ import annotations

import contextlib
import copy
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..core.errors import ConfigError, InputError
from ..data.datasets import TensorSamples, iter_batches
from ..models.device import resolve_device

__all__ = ["FitResult", "SCHEDULES", "deterministic_mode", "epoch_loop", "evaluate", "fit", "make_scheduler",
           "predict_samples", "progress_bar", "resolve_device", "seed_everything", "task_loss"]

SCHEDULES = ("cosine", "onecycle", "constant")
"""Learning-rate schedules: ``cosine`` (linear warmup, then cosine decay to 1 % of lr), ``onecycle``
(``torch.optim.lr_scheduler.OneCycleLR``, warmup share from ``warmup_epochs``), ``constant`` (warmup, then flat)."""


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(int(seed))
    np.random.seed(int(seed) % 2 ** 32)
    torch.manual_seed(int(seed))


@contextlib.contextmanager
def deterministic_mode(enabled: bool = True):
    """Context: ``torch.use_deterministic_algorithms(enabled, warn_only=True)``, restored on exit."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(bool(enabled), warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_before)


def progress_bar(total: int, desc: str, enabled: bool | None):
    """A tqdm bar on stderr, or None. ``enabled=None``: only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, leave=False)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, epochs: int, steps_per_epoch: int,
                   warmup_epochs: float, lr: float) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step learning-rate scheduler (call ``step()`` after every optimiser step); see :data:`SCHEDULES`."""
    total = max(1, int(epochs) * int(steps_per_epoch))
    warm = min(int(round(float(warmup_epochs) * steps_per_epoch)), total - 1) if warmup_epochs else 0
    if schedule == "onecycle":
        pct = min(max(warm / total, 0.01), 0.9) if warm else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=pct)
    if schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule: unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        t = (step - warm) / max(1, total - warm)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _align(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense logits (N, K, H, W) with (N,) labels -> the centre pixel's (N, K) logits."""
    if logits.ndim == 4 and y.ndim == 1:
        return logits[:, :, logits.shape[2] // 2, logits.shape[3] // 2]
    return logits


def task_loss(logits: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0,
              class_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, int, int]:
    """Cross entropy of logits against labels (-1 ignored). Returns ``(loss, n_correct, n_labelled)``.

    ``logits`` (N, K) with ``y`` (N,); (N, K, H, W) with ``y`` (N, H, W) or (N,) (scored at the centre pixel).
    """
    logits = _align(logits, y)
    if y.ndim + 1 != logits.ndim:
        raise InputError(f"logits of shape {tuple(logits.shape)} do not fit labels of shape {tuple(y.shape)}")
    valid = y >= 0
    n = int(valid.sum())
    if n == 0:
        return logits.sum() * 0.0, 0, 0
    loss = F.cross_entropy(logits, y, weight=class_weights, ignore_index=-1, label_smoothing=label_smoothing)
    with torch.no_grad():
        correct = int(((logits.argmax(dim=1) == y) & valid).sum())
    return loss, correct, n


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 256, device: str | torch.device = "cpu",
             label_smoothing: float = 0.0) -> dict:
    """Mean loss and accuracy of ``model`` (eval mode) on a labelled dataset: ``{"loss", "acc", "n"}``."""
    dev = resolve_device(device)
    was = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    for xb, yb in iter_batches(data, batch_size):
        if yb is None:
            raise InputError("evaluate needs a labelled dataset")
        xb, yb = xb.to(dev), yb.to(dev)
        loss, c, k = task_loss(model(xb), yb, label_smoothing=label_smoothing)
        total += float(loss.detach()) * k
        correct += c
        n += k
    model.train(was)
    return {"loss": total / n if n else float("nan"), "acc": correct / n if n else float("nan"), "n": n}


@torch.no_grad()
def predict_samples(model: nn.Module, data: Dataset | torch.Tensor, *, batch_size: int = 256,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """Class probabilities ``(N, K)`` float32 (softmax of the logits; a dense model's centre pixel) for every
    sample of a dataset or an ``(N, C, H, W)`` tensor, in order."""
    dev = resolve_device(device)
    ds = TensorSamples(data) if isinstance(data, torch.Tensor) else data
    was = model.training
    model.eval()
    out = []
    for xb, _ in iter_batches(ds, batch_size):
        logits = model(xb.to(dev))
        if logits.ndim == 4:
            logits = logits[:, :, logits.shape[2] // 2, logits.shape[3] // 2]
        out.append(torch.softmax(logits.float(), dim=1).cpu())
    model.train(was)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


@dataclass
class FitResult:
    """What :func:`fit` (and :func:`hsimin.train.dann.train_dann`) return.

    model : the trained model (the same object), holding the best validation weights when early stopping ran
    history : one dict per epoch: ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr``
        (and method-specific keys such as ``domain_loss``)
    best_epoch : epoch whose weights were kept (the last one without validation data)
    stopped_early : True if patience ran out before ``epochs``
    seconds : wall time
    extra : method-specific results (e.g. the DANN domain discriminator)
    """

    model: nn.Module
    history: list = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def epoch_loop(model: nn.Module, train_epoch: Callable[[int], dict], val: Dataset | None, *, epochs: int,
               patience: int | None, min_delta: float, monitor: str, batch_size: int, device: torch.device,
               optimizer: torch.optim.Optimizer, progress: bool | None, desc: str,
               log: Callable[[str], None] | None) -> FitResult:
    """Run ``train_epoch(epoch) -> {metrics}`` for up to ``epochs`` epochs with validation, early stopping on
    ``monitor`` (``val_loss``: lower is better; ``val_acc``: higher) and best-weight restoring. Shared by
    :func:`fit` and DANN."""
    if monitor not in ("val_loss", "val_acc"):
        raise ConfigError(f"optim.monitor must be 'val_loss' or 'val_acc', got {monitor!r}")
    sign = 1.0 if monitor == "val_loss" else -1.0
    history: list[dict] = []
    best_score, best_epoch, best_state, bad = math.inf, 0, None, 0
    stopped = False
    t0 = time.perf_counter()
    bar = progress_bar(int(epochs), desc, progress)
    for ep in range(1, int(epochs) + 1):
        row = {"epoch": ep, **train_epoch(ep), "lr": optimizer.param_groups[0]["lr"]}
        if val is not None and len(val):
            v = evaluate(model, val, batch_size=max(batch_size, 256), device=device)
            row["val_loss"], row["val_acc"] = v["loss"], v["acc"]
        if not math.isfinite(row.get("train_loss", 0.0)):
            raise InputError(f"the training loss became {row['train_loss']} at epoch {ep}; lower optim.lr or check "
                             "the data for NaN/inf")
        history.append(row)
        if bar is not None:
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_loss", "val_acc") if k in row})
            bar.update(1)
        if log:
            log(f"epoch {ep}: " + ", ".join(f"{k} {row[k]:.4g}" for k in row if k != "epoch"))
        if "val_loss" in row:
            score = sign * row[monitor]
            if score < best_score - float(min_delta):
                best_score, best_epoch, bad = score, ep, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if patience is not None and bad >= int(patience):
                    stopped = True
                    break
        else:
            best_epoch = ep
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, history, best_epoch, stopped, time.perf_counter() - t0)


def _steps(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def fit(model: nn.Module, train: Dataset, val: Dataset | None = None, *, epochs: int = 30, batch_size: int = 64,
        lr: float = 1e-3, weight_decay: float = 1e-2, schedule: str = "cosine", warmup_epochs: float = 1.0,
        patience: int | None = 10, min_delta: float = 0.0, monitor: str = "val_loss", augment: Callable | None = None,
        balance: bool = False, label_smoothing: float = 0.0, class_weights=None, grad_clip: float | None = None,
        seed: int = 0, device: str = "cpu", deterministic: bool = True, progress: bool | None = None,
        log: Callable[[str], None] | None = None) -> FitResult:
    """Train ``model`` on ``train`` (``(x (C, H, W), y)`` samples), early-stopping on ``val``.

    Parameters
    ----------
    model : any module ``(N, C, H, W) -> (N, K)`` or ``(N, K, H, W)`` logits
    train, val : datasets (e.g. :class:`hsimin.data.TensorSamples`); ``val`` None: no early stopping, the last
        epoch's weights are kept
    epochs, batch_size : as usual
    lr, weight_decay : AdamW
    schedule, warmup_epochs : see :data:`SCHEDULES` (stepped per batch)
    patience, min_delta, monitor : stop when ``monitor`` has not improved by ``min_delta`` for ``patience``
        epochs, then restore the best weights (None: never stop early, still restore the best)
    augment : ``augment(x, y, generator) -> (x, y)`` applied to every training batch (e.g.
        :func:`hsimin.data.build_augment`)
    balance : draw training batches class-balanced (weights 1 / class count, with replacement) instead of
        shuffling
    label_smoothing, class_weights : passed to the cross entropy (``class_weights`` (K,) float)
    grad_clip : clip the gradient norm to this value
    seed, deterministic : seeding and deterministic algorithms (see the module docstring)
    device : ``cpu``, ``cuda`` or ``auto``
    progress : tqdm bar (None: only on a terminal)
    log : called with one line per epoch

    Returns :class:`FitResult`.
    """
    if len(train) == 0:
        raise InputError("the training set is empty")
    dev = resolve_device(device)
    bs = int(batch_size)
    with deterministic_mode(deterministic):
        seed_everything(seed)
        model.to(dev)
        cw = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32, device=dev)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                weight_decay=weight_decay)
        sched = make_scheduler(opt, schedule, epochs, _steps(len(train), bs), warmup_epochs, lr)
        g = torch.Generator().manual_seed(int(seed))
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())

        def train_epoch(ep: int) -> dict:
            model.train()
            total, correct, n = 0.0, 0, 0
            for xb, yb in iter_batches(train, bs, shuffle=not balance, balance=balance, generator=g):
                if yb is None:
                    raise InputError("fit needs labelled training data")
                if augment is not None:
                    xb, yb = augment(xb, yb, g)
                xb, yb = xb.to(dev), yb.to(dev)
                if xb.shape[0] < 2 and has_bn:
                    continue                                   # BatchNorm cannot train on a batch of one
                loss, c, k = task_loss(model(xb), yb, label_smoothing=label_smoothing, class_weights=cw)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
                opt.step()
                sched.step()
                total += float(loss.detach()) * k
                correct += c
                n += k
            return {"train_loss": total / max(n, 1), "train_acc": correct / max(n, 1)}

        result = epoch_loop(model, train_epoch, val, epochs=epochs, patience=patience, min_delta=min_delta,
                            monitor=monitor, batch_size=bs, device=dev, optimizer=opt, progress=progress,
                            desc="train", log=log)
    return result

