"""``unet``: a dense U-Net for whole-tray segmentation (Ronneberger et al. 2015, small)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import Backbone, register_backbone
from ._layers import conv_bn_relu, int_list, pad_to_multiple


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(c_in, c_out), conv_bn_relu(c_out, c_out))


@register_backbone("unet")
class UNet(Backbone):
    """Dense U-Net. A 1 x 1 conv-BN-ReLU reduces the bands to ``base`` channels; the encoder has ``levels``
    downsamplings (double 3 x 3 conv, then 2 x 2 max-pool), the widths doubling per level; the decoder
    upsamples by 2 x 2 transposed convs, concatenates the skip and applies a double conv.

    Any H, W: inputs whose sides are not multiples of ``2 ** levels`` are edge-padded at the bottom/right
    and the output is cropped back, so output pixel (i, j) always belongs to input pixel (i, j).

    Input ``(N, in_bands, H, W)``; output ``(N, base, H, W)`` (dense).
    """

    tiny_kwargs = {"base": 4, "levels": 2}

    def __init__(self, in_bands: int, base: int = 32, levels: int = 3):
        super().__init__()
        (base,) = int_list(base, "unet base")
        (levels,) = int_list(levels, "unet levels")
        widths = [base * 2 ** i for i in range(levels + 1)]
        self.reduce = conv_bn_relu(in_bands, base, kernel=1)
        self.down = nn.ModuleList(_double_conv(widths[i - 1] if i else base, widths[i]) for i in range(levels))
        self.pool = nn.MaxPool2d(2)
        self.bottom = _double_conv(widths[levels - 1], widths[levels])
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                for i in reversed(range(levels)))
        self.merge = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in reversed(range(levels)))
        self.levels = levels
        self.in_bands = in_bands
        self.num_features = base
        self.dense = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F, H, W)``."""
        x, H, W = pad_to_multiple(x, 2 ** self.levels)
        x = self.reduce(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], dim=1))
        return x[:, :, :H, :W]
