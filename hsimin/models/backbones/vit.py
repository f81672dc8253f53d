"""``vit``: a Vision Transformer for small multi-band windows (Dosovitskiy et al. 2021) — the global branch of
SSGSNet (Xiang et al. 2026), with post-norm encoder blocks as that paper describes them."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import ModelError
from ..registry import Backbone, register_backbone
from ._layers import int_list, pad_to_multiple

MAX_GRID = 8
"""Automatic patch size: the smallest patches giving at most MAX_GRID x MAX_GRID tokens, least padding first."""


def auto_patch_size(img_size: int, max_grid: int = MAX_GRID) -> int:
    """Patch size for ``img_size`` x ``img_size`` windows: among the three smallest sizes that give at most
    ``max_grid`` patches per side, the one needing the least padding (9 -> 3, 16 -> 2, 32 -> 4, 1 -> 1)."""
    first = max(1, math.ceil(img_size / max_grid))
    return min(range(first, first + 3), key=lambda p: ((-img_size) % p, p))


class EncoderBlock(nn.Module):
    """Post-norm transformer encoder block, in the order of the SSGSNet paper:
    ``x = LN(x + MSA(x))``, then ``x = LN(x + MLP(x))``. ``(N, T, D)`` -> ``(N, T, D)``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, x, x, need_weights=False)[0]))
        return self.norm2(x + self.drop(self.mlp(x)))


@register_backbone("vit")
class ViT(Backbone):
    """Vision Transformer on ``(N, B, H, W)`` windows, bands as channels.

    Patch embedding: Conv2d(in_bands -> ``embed_dim``, kernel = stride = ``patch_size``), non-overlapping;
    ``patch_size=None`` picks it from ``img_size`` (:func:`auto_patch_size`: 3 for 9 x 9, 4 for 32 x 32).
    Inputs whose sides are not multiples of the patch size are edge-padded at the bottom/right. A learnable
    position encoding is built for the ``img_size`` grid and bilinearly interpolated when the input's grid
    differs; a learnable CLS token is prepended. ``depth`` post-norm encoder blocks (MSA -> residual -> LN ->
    MLP -> residual -> LN); the output is the CLS token.

    Input ``(N, in_bands, H, W)`` (any H, W); output ``(N, embed_dim)``.
    """

    tiny_kwargs = {"embed_dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 1.0, "dropout": 0.0}

    def __init__(self, in_bands: int, img_size: int = 9, embed_dim: int = 256, depth: int = 4, heads: int = 8,
                 mlp_ratio: float = 2.0, patch_size: int | None = None, dropout: float = 0.1):
        super().__init__()
        (img_size,) = int_list(img_size, "vit img_size")
        (embed_dim,) = int_list(embed_dim, "vit embed_dim")
        (depth,) = int_list(depth, "vit depth")
        (heads,) = int_list(heads, "vit heads")
        if embed_dim % heads:
            raise ModelError(f"vit embed_dim ({embed_dim}) must be divisible by heads ({heads})")
        if not 0.0 <= float(dropout) < 1.0 or float(mlp_ratio) <= 0:
            raise ModelError(f"vit needs 0 <= dropout < 1 and mlp_ratio > 0, got {dropout}, {mlp_ratio}")
        p = auto_patch_size(img_size) if patch_size is None else int_list(patch_size, "vit patch_size")[0]
        self.patch_size = p
        self.grid = math.ceil(img_size / p)
        self.embed = nn.Conv2d(in_bands, embed_dim, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.pos_drop = nn.Dropout(float(dropout))
        self.blocks = nn.Sequential(*(EncoderBlock(embed_dim, heads, float(mlp_ratio), float(dropout))
                                      for _ in range(depth)))
        self.in_bands = in_bands
        self.num_features = embed_dim
        self.dense = False

    def position_encoding(self, gh: int, gw: int) -> torch.Tensor:
        """Position encoding for a ``gh`` x ``gw`` token grid: ``(1, gh * gw, D)`` (interpolated if needed)."""
        if (gh, gw) == (self.grid, self.grid):
            return self.pos_embed
        pe = self.pos_embed.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        pe = F.interpolate(pe, size=(gh, gw), mode="bilinear", align_corners=False)
        return pe.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All output tokens, CLS first: ``(N, B, H, W)`` -> ``(N, 1 + gh * gw, D)``."""
        x, _, _ = pad_to_multiple(x, self.patch_size)
        x = self.embed(x)                                   # (N, D, gh, gw)
        gh, gw = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2) + self.position_encoding(gh, gw)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.blocks(self.pos_drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, D)``: the CLS token."""
        return self.tokens(x)[:, 0]
