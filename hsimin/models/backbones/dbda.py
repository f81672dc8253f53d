"""``dbda``: a double-branch dual-attention spectral-spatial network (after Li et al. 2020, DBDA)."""
from __future__ import annotations

import torch
from torch import nn

from ...core.errors import ModelError
from ..registry import Backbone, register_backbone
from ._layers import int_list


class ChannelSelfAttention(nn.Module):
    """DANet channel attention module: channel-by-channel affinities ``X X^T`` (softmax over ``max - energy``,
    as in DANet), ``out = gamma * A X + X`` with a learnable ``gamma`` starting at 0 (the block starts as the
    identity). ``(N, C, H, W)`` -> ``(N, C, H, W)``."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = x.reshape(n, c, h * w)
        energy = q @ q.transpose(1, 2)                                # (N, C, C)
        energy = energy.amax(dim=-1, keepdim=True) - energy
        attn = torch.softmax(energy, dim=-1)
        return self.gamma * (attn @ q).reshape(n, c, h, w) + x


class PositionSelfAttention(nn.Module):
    """DANet position attention module: query/key (C -> C/8) and value 1 x 1 convs, softmax over all pixel
    pairs, ``out = gamma * V A^T + X`` with ``gamma`` starting at 0. ``(N, C, H, W)`` -> ``(N, C, H, W)``."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)                  # (N, HW, c')
        k = self.key(x).flatten(2)                                    # (N, c', HW)
        attn = torch.softmax(q @ k, dim=-1)                           # (N, HW, HW)
        v = self.value(x).flatten(2)                                  # (N, C, HW)
        return self.gamma * (v @ attn.transpose(1, 2)).reshape(n, c, h, w) + x


class _DenseBlock(nn.Module):
    """Densely connected BN-ReLU-conv layers; each adds ``growth`` channels to the running concatenation."""

    def __init__(self, c_in: int, growth: int, layers: int, make_conv, make_norm):
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(layers):
            c = c_in + i * growth
            self.layers.append(nn.Sequential(make_norm(c), nn.ReLU(), make_conv(c, growth)))
        self.out_channels = c_in + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


def _spectral_conv(k: int):
    return lambda c_in, c_out: nn.Conv3d(c_in, c_out, (k, 1, 1), padding=(k // 2, 0, 0))


def _spatial_conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


@register_backbone("dbda")
class DBDA(Backbone):
    """Double-branch dual-attention net.

    Spectral branch: the patch as one channel of a 3-D volume; Conv3d ``(spectral_kernel, 1, 1)`` with spectral
    stride 2 to ``channels``; a dense block of ``layers`` spectral Conv3d ``(spectral_kernel, 1, 1)`` adding
    ``growth`` each; a Conv3d spanning the whole remaining band axis collapses it; channel self-attention;
    global average pool.
    Spatial branch: a 1 x 1 conv over the bands (= a Conv3d spanning all bands) to ``channels``; a dense block
    of 3 x 3 convs; position self-attention; global average pool. The two pooled vectors are concatenated.

    Any H, W (pixels included); any band count. Input ``(N, in_bands, H, W)``; output
    ``(N, 2 * (channels + layers * growth))``.
    """

    tiny_kwargs = {"channels": 4, "growth": 2, "layers": 1}

    def __init__(self, in_bands: int, channels: int = 24, growth: int = 12, layers: int = 3,
                 spectral_kernel: int = 7, dropout: float = 0.0):
        super().__init__()
        (channels,) = int_list(channels, "dbda channels")
        (growth,) = int_list(growth, "dbda growth")
        (layers,) = int_list(layers, "dbda layers")
        (k,) = int_list(spectral_kernel, "dbda spectral_kernel")
        if k % 2 == 0:
            raise ModelError(f"dbda spectral_kernel must be odd (same padding along the bands), got {k}")
        depth = (in_bands + 2 * (k // 2) - k) // 2 + 1                # band axis after the strided conv
        # spectral branch
        self.spec_in = nn.Conv3d(1, channels, (k, 1, 1), stride=(2, 1, 1), padding=(k // 2, 0, 0))
        self.spec_dense = _DenseBlock(channels, growth, layers, _spectral_conv(k), nn.BatchNorm3d)
        c = self.spec_dense.out_channels
        self.spec_collapse = nn.Sequential(nn.BatchNorm3d(c), nn.ReLU(), nn.Conv3d(c, c, (depth, 1, 1)))
        self.spec_attention = ChannelSelfAttention()
        # spatial branch
        self.spat_in = nn.Conv2d(in_bands, channels, 1)
        self.spat_dense = _DenseBlock(channels, growth, layers, _spatial_conv, nn.BatchNorm2d)
        self.spat_out = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.spat_attention = PositionSelfAttention(c)
        self.spec_out = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.drop = nn.Dropout(float(dropout))
        self.in_bands = in_bands
        self.num_features = 2 * c
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        s = self.spec_collapse(self.spec_dense(self.spec_in(x.unsqueeze(1)))).squeeze(2)   # (N, c, H, W)
        s = self.spec_attention(self.spec_out(s)).mean(dim=(2, 3))
        p = self.spat_attention(self.spat_out(self.spat_dense(self.spat_in(x)))).mean(dim=(2, 3))
        return self.drop(torch.cat([s, p], dim=1))
