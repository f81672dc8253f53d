"""Layers shared by several backbones (not a backbone: registers nothing).

All tensors are torch-side ``(N, C, H, W)`` unless stated.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import ModelError


def centre_pixel(x: torch.Tensor) -> torch.Tensor:
    """The centre pixel of every patch: ``(N, B, H, W)`` -> ``(N, B)``. For even H or W the centre is the pixel
    at index ``H // 2`` (``W // 2``), the same convention as :func:`hsimin.models.layout.extract_patches`."""
    return x[:, :, x.shape[2] // 2, x.shape[3] // 2]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``(N, C, H, W)`` at the bottom and right by edge replication so H and W are multiples of
    ``multiple``. Returns ``(padded, H, W)`` with the original H and W, for cropping back."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % multiple, (-W) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, H, W


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv2d (no bias, 'same' padding for odd kernels) -> BatchNorm2d -> ReLU: ``(N, c_in, H, W)`` ->
    ``(N, c_out, H / stride, W / stride)``."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SqueezeExcite(nn.Module):
    """SE channel attention (Hu et al. 2018): global average pool, FC C -> C/r, ReLU, FC C/r -> C, sigmoid,
    rescale. ``(N, C, H, W)`` -> ``(N, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Channel weights in (0, 1): ``(N, C, H, W)`` -> ``(N, C)``."""
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM-style spatial attention (Woo et al. 2018): channel-wise mean and max maps concatenated, a
    ``kernel`` x ``kernel`` conv (same padding), sigmoid, rescale. ``(N, C, H, W)`` -> ``(N, C, H, W)``."""

    def __init__(self, kernel: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel weights in (0, 1): ``(N, C, H, W)`` -> ``(N, 1, H, W)``."""
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(maps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def int_list(values, what: str, allow_empty: bool = False) -> tuple[int, ...]:
    """``values`` (an int or a sequence of ints) as a tuple of positive ints; anything else raises
    :class:`ModelError` naming ``what`` (the constructor argument)."""
    vals = (values,) if isinstance(values, int) else tuple(values)
    if (not vals and not allow_empty) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                 for v in vals):
        raise ModelError(f"{what} must be {'a list of ' if len(vals) != 1 else ''}positive integers, got "
                         f"{values!r}")
    return vals
