"""``dualbranch``: the weak baseline of the SSGSNet comparison — a shallow 2-layer 2-D CNN on the window and an
MLP on the window's pooled spectrum (the mean of every layer/band over the window), concatenated."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Backbone, register_backbone
from ._layers import conv_bn_relu, int_list


@register_backbone("dualbranch")
class DualBranch(Backbone):
    """Two branches on the same ``(N, B, H, W)`` input:

    * spatial: two 3 x 3 conv-BN-ReLU layers (``conv_widths``), global average pooling;
    * spectral: the window mean of each band ``(N, B)`` through an MLP (``mlp_widths``, ReLU after each).

    Output: the two feature vectors concatenated, ``(N, conv_widths[-1] + mlp_widths[-1])``.
    """

    tiny_kwargs = {"conv_widths": [4, 8], "mlp_widths": [8]}

    def __init__(self, in_bands: int, conv_widths=(32, 64), mlp_widths=(64, 64)):
        super().__init__()
        conv_widths = int_list(conv_widths, "dualbranch conv_widths")
        mlp_widths = int_list(mlp_widths, "dualbranch mlp_widths")
        convs, c_in = [], in_bands
        for c in conv_widths:
            convs.append(conv_bn_relu(c_in, c, kernel=3))
            c_in = c
        self.spatial = nn.Sequential(*convs)
        mlp, f_in = [], in_bands
        for f in mlp_widths:
            mlp += [nn.Linear(f_in, f), nn.ReLU(inplace=True)]
            f_in = f
        self.spectral = nn.Sequential(*mlp)
        self.in_bands = in_bands
        self.num_features = conv_widths[-1] + mlp_widths[-1]
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        return torch.cat([self.spatial(x).mean(dim=(2, 3)), self.spectral(x.mean(dim=(2, 3)))], dim=1)
