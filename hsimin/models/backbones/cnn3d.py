"""``cnn3d``: a spectral-spatial 3-D CNN after Hamida et al. (2018) / Li et al. (2017)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Backbone, register_backbone
from ._layers import int_list


@register_backbone("cnn3d")
class Cnn3d(Backbone):
    """3-D CNN over (band, H, W): the patch is one input channel; each layer is Conv3d with kernel
    ``(spectral_kernel, 3, 3)``, stride ``(spectral_stride, 1, 1)`` (the spectral striding that replaces
    pooling in Hamida's net), same spatial padding, BatchNorm3d, ReLU. The band axis left at the end is
    average-pooled to ``spectral_bins`` bins and the space to 1 x 1; the result is flattened.

    Works on any H, W and any band count (the band axis shrinks by ``spectral_stride`` per layer, rounded up).
    Memory grows as N x widths x B x H x W: prefer small patches for 270-band cubes.

    Input ``(N, in_bands, H, W)``; output ``(N, widths[-1] * spectral_bins)``.
    """

    tiny_kwargs = {"widths": [4, 4], "spectral_bins": 2}

    def __init__(self, in_bands: int, widths=(16, 32, 32), spectral_kernel: int = 7, spectral_stride: int = 2,
                 spectral_bins: int = 4):
        super().__init__()
        widths = int_list(widths, "cnn3d widths")
        (k,) = int_list(spectral_kernel, "cnn3d spectral_kernel")
        (s,) = int_list(spectral_stride, "cnn3d spectral_stride")
        (bins,) = int_list(spectral_bins, "cnn3d spectral_bins")
        layers, c_in = [], 1
        for c in widths:
            layers += [nn.Conv3d(c_in, c, (k, 3, 3), stride=(s, 1, 1), padding=(k // 2, 1, 1), bias=False),
                       nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d((bins, 1, 1))
        self.in_bands = in_bands
        self.num_features = widths[-1] * bins
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        return self.pool(self.features(x.unsqueeze(1))).flatten(1)
