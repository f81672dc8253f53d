"""Heads: few, registered, architecture-agnostic (ARCHITECTURE §4).

A head maps backbone features to outputs. Pooled heads take ``(N, F)`` and return ``(N, K)``; dense heads take
``(N, F, H, W)`` and return ``(N, K, H, W)``. Fusion heads (``multi_branch``) take a ``{branch: (N, F_b)}``
dict; the SSGSNet ``gated_fusion`` head lives in :mod:`hsimin.models.ssgsnet`.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ModelError
from .registry import Head, register_head

__all__ = ["LinearHead", "DenseHead", "RegressionHead"]


def _features(num_features, head: str) -> int:
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ModelError(f"head {head!r} takes the features of one backbone (a positive int), got "
                         f"{num_features!r}; fuse several backbones with a multi-branch head such as "
                         "'gated_fusion'")
    return num_features


@register_head("linear")
class LinearHead(Head):
    """Classifier on pooled features: optional dropout, then Linear F -> K. ``(N, F)`` -> ``(N, K)`` logits."""

    def __init__(self, num_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(float(dropout))
        self.fc = nn.Linear(_features(num_features, "linear"), num_classes)
        self.num_outputs = num_classes
        self.dense = False
        self.multi_branch = False

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(features))


@register_head("dense")
class DenseHead(Head):
    """Per-pixel classifier for dense backbones: optional dropout, then a 1 x 1 conv F -> K.
    ``(N, F, H, W)`` -> ``(N, K, H, W)`` logits."""

    def __init__(self, num_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout2d(float(dropout))
        self.conv = nn.Conv2d(_features(num_features, "dense"), num_classes, kernel_size=1)
        self.num_outputs = num_classes
        self.dense = True
        self.multi_branch = False

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(self.drop(features))


@register_head("regression")
class RegressionHead(Head):
    """Regression on pooled features (e.g. mineral abundances, a grade): an optional hidden layer
    (``hidden > 0``: Linear F -> hidden, ReLU), dropout, Linear -> T targets. ``(N, F)`` -> ``(N, T)``
    unbounded values (scale targets before training)."""

    def __init__(self, num_features: int, num_targets: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        f = _features(num_features, "regression")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ModelError(f"regression head hidden must be an int >= 0 (0 = no hidden layer), got {hidden!r}")
        self.hidden = nn.Sequential(nn.Linear(f, hidden), nn.ReLU()) if hidden else nn.Identity()
        self.drop = nn.Dropout(float(dropout))
        self.fc = nn.Linear(hidden or f, num_targets)
        self.num_outputs = num_targets
        self.dense = False
        self.multi_branch = False

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.hidden(features)))
