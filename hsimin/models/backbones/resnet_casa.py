"""``resnet_casa``: ResNet-18-style with channel (SE) and spatial attention in every block — the
spatial-spectral branch of SSGSNet (Xiang et al. 2026)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import ModelError
from ..registry import Backbone, register_backbone
from ._layers import SpatialAttention, SqueezeExcite, conv_bn_relu, int_list


class CasaBlock(nn.Module):
    """Residual block: conv3x3-BN-ReLU, conv3x3-BN, SE channel attention, spatial attention (7 x 7), then the
    shortcut (identity, or 1 x 1 conv + BN when the shape changes) is added and ReLU applied.

    ``(N, c_in, H, W)`` -> ``(N, c_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, reduction: int = 16, attention_kernel: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.channel_attention = SqueezeExcite(c_out, reduction)
        self.spatial_attention = SpatialAttention(attention_kernel)
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.spatial_attention(self.channel_attention(out))
        return F.relu(out + self.shortcut(x))


@register_backbone("resnet_casa")
class ResNetCasa(Backbone):
    """ResNet-18-style backbone with channel and spatial attention (CASA) in every residual block.

    Stem: when ``in_bands > band_reduction`` a 1 x 1 conv-BN-ReLU first reduces the bands to
    ``band_reduction`` channels (so a 270-band patch and a 15-layer geochemical window share the design);
    then a 3 x 3 conv-BN-ReLU to ``widths[0]``. There is no strided 7 x 7 stem or max-pool: inputs are small
    windows (9 x 9 to 32 x 32). Stages: ``len(widths)`` stages of ``blocks`` :class:`CasaBlock` each, stride 2 at
    the first block of every stage after the first (ResNet-18: widths 64-128-256-512, 2 blocks each).
    Global average pooling gives the features.

    Input ``(N, in_bands, H, W)`` (any H, W); output ``(N, widths[-1])`` (512 by default).
    """

    tiny_kwargs = {"widths": [4, 8], "blocks": 1, "band_reduction": 8, "reduction": 2}

    def __init__(self, in_bands: int, widths=(64, 128, 256, 512), blocks=2, band_reduction: int = 64,
                 reduction: int = 16, attention_kernel: int = 7):
        super().__init__()
        widths = int_list(widths, "resnet_casa widths")
        blocks = int_list(blocks, "resnet_casa blocks")
        if len(blocks) == 1:
            blocks = blocks * len(widths)
        if len(blocks) != len(widths):
            raise ModelError(f"resnet_casa blocks has {len(blocks)} entries for {len(widths)} stages; give one "
                             "number per stage or a single number")
        (band_reduction,) = int_list(band_reduction, "resnet_casa band_reduction")
        (reduction,) = int_list(reduction, "resnet_casa reduction")
        (attention_kernel,) = int_list(attention_kernel, "resnet_casa attention_kernel")
        stem = []
        c_in = in_bands
        if in_bands > band_reduction:
            stem.append(conv_bn_relu(in_bands, band_reduction, kernel=1))
            c_in = band_reduction
        stem.append(conv_bn_relu(c_in, widths[0], kernel=3))
        self.stem = nn.Sequential(*stem)
        stages, c_in = [], widths[0]
        for i, (c, n) in enumerate(zip(widths, blocks)):
            stage = [CasaBlock(c_in, c, stride=1 if i == 0 else 2, reduction=reduction,
                               attention_kernel=attention_kernel)]
            stage += [CasaBlock(c, c, reduction=reduction, attention_kernel=attention_kernel) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = c
        self.stages = nn.Sequential(*stages)
        self.in_bands = in_bands
        self.num_features = widths[-1]
        self.dense = False

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map before pooling: ``(N, B, H, W)`` -> ``(N, F, h, w)`` (for CAM-style maps)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        return self.feature_map(x).mean(dim=(2, 3))
