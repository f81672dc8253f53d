"""``cnn1d``: a spectral 1-D CNN on the centre pixel (Hu et al. 2015 style)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Backbone, register_backbone
from ._layers import centre_pixel, int_list


@register_backbone("cnn1d")
class Cnn1d(Backbone):
    """Spectral 1-D CNN: convolutions along the band axis of one spectrum.

    A pixel model: on ``(N, B, H, W)`` patches it uses the centre pixel only (index ``H // 2, W // 2``), so
    ``(N, B, 1, 1)`` pixels and 9 x 9 patches give the same answer for the same centre spectrum.

    Layers: per width ``c``: Conv1d(kernel ``kernel_size``, same padding) -> BatchNorm1d -> ReLU ->
    MaxPool1d(2) (no pool after the last), then a global average over the band axis.
    Defaults are the plain 3-layer 32-64-64, kernel 7 network.

    Input ``(N, in_bands, H, W)``; output ``(N, widths[-1])``.
    """

    tiny_kwargs = {"widths": [4, 8], "kernel_size": 3}

    def __init__(self, in_bands: int, widths=(32, 64, 64), kernel_size: int = 7):
        super().__init__()
        widths = int_list(widths, "cnn1d widths")
        (k,) = int_list(kernel_size, "cnn1d kernel_size")
        layers, c_in = [], 1
        for i, c in enumerate(widths):
            layers += [nn.Conv1d(c_in, c, k, padding=k // 2, bias=False), nn.BatchNorm1d(c), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool1d(2, ceil_mode=True))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.in_bands = in_bands
        self.num_features = widths[-1]
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        return self.features(centre_pixel(x).unsqueeze(1)).mean(dim=2)
