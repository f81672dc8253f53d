"""Per-layer attributions of a prospectivity model with Captum (the paper's SHAP analysis).

Each input layer (element grid, fault layer) of a window is one feature: Shapley value sampling perturbs
whole layers (a feature mask groups the k x k cells of a layer), integrated gradients sums the gradient
path integral over a layer's cells. The baseline is 0, which after robust scaling is the study-area median
of every layer: an attribution says how much a layer's departure from "typical ground" moves the predicted
probability of a deposit.

Captum is the optional ``[explain]`` extra; it is imported only when an attribution is asked for, through
:func:`hsimin.explain.inputs.import_captum` (one install message for the whole package).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..core.errors import InputError

METHODS = ("shapley", "ig")


def _captum():
    """``captum.attr``, or :class:`hsimin.core.errors.MissingDependencyError` saying how to install it (the
    run can also go on without attributions: ``--attribution none``)."""
    from ..explain.inputs import import_captum  # noqa: PLC0415 - optional extra, imported on use

    return import_captum()


def layer_attributions(forward: Callable, windows, *, method: str = "shapley", n_samples: int = 25,
                       n_steps: int = 32, batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """Attribution of every input layer for every window: ``(N, L)`` float64.

    Parameters
    ----------
    forward : torch function ``(n, L, k, k) -> (n,)`` probability of a deposit (differentiable for ``'ig'``)
    windows : ``(N, L, k, k)`` float32 tensor (torch layout)
    method : ``'shapley'`` (Shapley value sampling over the L layers, ``n_samples`` permutations; works for
        any model, gradients not needed) or ``'ig'`` (integrated gradients, ``n_steps``; needs a
        differentiable model), both with baseline 0
    """
    import torch  # noqa: PLC0415 - torch side

    attr_mod = _captum()
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; use one of {', '.join(METHODS)}")
    x = windows if isinstance(windows, torch.Tensor) else torch.as_tensor(np.asarray(windows, dtype=np.float32))
    if x.ndim != 4:
        raise InputError(f"windows must be (N, L, k, k), got {tuple(x.shape)}")
    N, L, k, _ = x.shape
    torch.manual_seed(seed)
    out = []
    for s in range(0, N, batch_size):
        xb = x[s:s + batch_size].detach().clone()
        if method == "shapley":
            fmask = torch.arange(L).view(1, L, 1, 1).expand(1, L, k, k).contiguous()
            svs = attr_mod.ShapleyValueSampling(forward)
            a = svs.attribute(xb, baselines=0.0, feature_mask=fmask, n_samples=int(n_samples),
                              perturbations_per_eval=max(1, min(L + 1, 4096 // max(1, xb.shape[0]))))
            out.append(a[:, :, 0, 0].detach().double().numpy())
        else:
            ig = attr_mod.IntegratedGradients(forward)
            a = ig.attribute(xb.requires_grad_(True), baselines=torch.zeros_like(xb), n_steps=int(n_steps),
                             internal_batch_size=max(xb.shape[0], 1) * 4)
            out.append(a.sum(dim=(2, 3)).detach().double().numpy())
    return np.concatenate(out)


def summarise(attributions: np.ndarray, layer_names: Sequence[str], labels=None) -> dict:
    """Per-layer summary: ``mean_abs`` over all windows (importance), ``mean_positive`` (signed, at deposit
    windows; all windows when no labels), and ``rank`` (layer names, most important first)."""
    A = np.asarray(attributions, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != len(layer_names):
        raise InputError(f"attributions have shape {A.shape} for {len(layer_names)} layers")
    mean_abs = np.abs(A).mean(axis=0)
    pos = A if labels is None else A[np.asarray(labels) == 1]
    mean_pos = (pos if len(pos) else A).mean(axis=0)
    order = np.argsort(-mean_abs)
    return {"layers": list(layer_names), "mean_abs": mean_abs.tolist(), "mean_positive": mean_pos.tolist(),
            "rank": [layer_names[i] for i in order],
            "share": (mean_abs / max(mean_abs.sum(), 1e-300)).tolist()}
