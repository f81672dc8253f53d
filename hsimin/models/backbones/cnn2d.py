"""``cnn2d``: a 2-D CNN on patches (band reduction by 1 x 1 conv, then 3 x 3 convs, pooled)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Backbone, register_backbone
from ._layers import conv_bn_relu, int_list


@register_backbone("cnn2d")
class Cnn2d(Backbone):
    """2-D CNN: a 1 x 1 conv reduces the bands to ``reduce_to`` channels (bands enter as channels), then one
    3 x 3 conv-BN-ReLU per entry of ``widths`` (stride 1, same padding), then global average pooling.

    Works on any H, W (1 x 1 pixels included). Input ``(N, in_bands, H, W)``; output ``(N, widths[-1])``.
    """

    tiny_kwargs = {"reduce_to": 4, "widths": [8, 8]}

    def __init__(self, in_bands: int, reduce_to: int = 32, widths=(64, 128)):
        super().__init__()
        (reduce_to,) = int_list(reduce_to, "cnn2d reduce_to")
        widths = int_list(widths, "cnn2d widths")
        layers = [conv_bn_relu(in_bands, reduce_to, kernel=1)]
        c_in = reduce_to
        for c in widths:
            layers.append(conv_bn_relu(c_in, c, kernel=3))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.in_bands = in_bands
        self.num_features = widths[-1]
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        return self.features(x).mean(dim=(2, 3))
