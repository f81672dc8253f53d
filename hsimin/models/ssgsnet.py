"""SSGSNet (Xiang et al. 2026): a ``resnet_casa`` branch (local spatial-spectral) and a ``vit`` branch (global)
fused by per-branch sigmoid gates — built from the same backbone registry as the hyperspectral classifiers.

* head ``gated_fusion``: works for any set of pooled branches, so any two registered backbones can be fused;
* preset ``ssgsnet``: the spec of the paper's model; ``create_model(ssgsnet_spec(...))`` builds it.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..core.errors import ModelError
from .registry import Head, register_head, register_preset

__all__ = ["GatedFusionHead", "ssgsnet_spec"]


class _Gate(nn.Module):
    """FC dim -> hidden, ReLU, FC hidden -> dim, sigmoid: ``(N, dim)`` -> gates ``(N, dim)`` in (0, 1)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@register_head("gated_fusion")
class GatedFusionHead(Head):
    """SSGSNet's gated fusion of several pooled branches.

    Per branch ``b`` with features ``(N, F_b)``: a Linear projection to ``fusion_dim`` when ``F_b`` differs
    (``resnet_casa``'s 512 -> 256; ``vit``'s 256-d CLS token passes unchanged), a gate (FC ``fusion_dim`` ->
    ``gate_hidden``, ReLU, FC -> ``fusion_dim``, sigmoid) and the product ``z_b * gate_b(z_b)``. The gated
    vectors are concatenated in branch order (``fusion_dim * n_branches``, 512 for two branches), then dropout
    and a Linear classifier.

    ``forward({name: (N, F_name)})`` -> logits ``(N, K)``; :meth:`gates` gives the gates for inspection.
    """

    def __init__(self, num_features: Mapping[str, int], num_classes: int, fusion_dim: int = 256,
                 gate_hidden: int = 32, dropout: float = 0.0):
        super().__init__()
        if not isinstance(num_features, Mapping) or not num_features:
            raise ModelError(f"head 'gated_fusion' fuses several backbones: it needs {{branch: num_features}}, got "
                             f"{num_features!r}; build it through a spec with 'branches'")
        self.project = nn.ModuleDict({n: (nn.Identity() if f == fusion_dim else nn.Linear(f, fusion_dim))
                                      for n, f in num_features.items()})
        self.gate = nn.ModuleDict({n: _Gate(fusion_dim, gate_hidden) for n in num_features})
        self.drop = nn.Dropout(float(dropout))
        self.classifier = nn.Linear(fusion_dim * len(num_features), num_classes)
        self.num_outputs = num_classes
        self.dense = False
        self.multi_branch = True

    def _projected(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [n for n in self.project if n not in features]
        if missing:
            raise ModelError(f"gated_fusion got branches {list(features)}, lacks {missing}")
        return {n: proj(features[n]) for n, proj in self.project.items()}

    def gates(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each branch's gate: ``{name: (N, F_name)}`` -> ``{name: (N, fusion_dim)}`` in (0, 1)."""
        return {n: self.gate[n](z) for n, z in self._projected(features).items()}

    def fused(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The concatenated gated features before the classifier: ``(N, fusion_dim * n_branches)``."""
        return torch.cat([z * self.gate[n](z) for n, z in self._projected(features).items()], dim=1)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.drop(self.fused(features)))


@register_preset("ssgsnet")
def ssgsnet_spec(in_bands: int, num_outputs: int, window: int = 32, resnet: Mapping | None = None,
                 vit: Mapping | None = None, fusion: Mapping | None = None, dropout: float = 0.0) -> dict:
    """The model spec of SSGSNet for ``window`` x ``window`` inputs of ``in_bands`` layers.

    Branches ``resnet`` (``resnet_casa``, ResNet-18 widths by default) and ``vit`` (``vit`` with
    ``embed_dim=256``, ``img_size=window``); head ``gated_fusion`` (``fusion_dim=256``, ``gate_hidden=32``,
    ``dropout``). ``resnet``, ``vit`` and ``fusion`` are extra keyword arguments for each part (e.g. small
    widths for little data). Build it with ``hsimin.models.create_model(ssgsnet_spec(...))``.
    """
    vit_kw = {"img_size": int(window), "embed_dim": 256, **dict(vit or {})}
    head = {"name": "gated_fusion", "num_outputs": int(num_outputs), "fusion_dim": 256, "gate_hidden": 32,
            "dropout": float(dropout), **dict(fusion or {})}
    return {"type": "multi_branch",
            "branches": {"resnet": {"name": "resnet_casa", "in_bands": int(in_bands), **dict(resnet or {})},
                         "vit": {"name": "vit", "in_bands": int(in_bands), **vit_kw}},
            "head": head, "patch_size": int(window)}
