"""``fastspec``: a fast pixel backbone for the shipped default model (>= 200 k pixels/s on 2 CPU cores)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import ModelError
from ..registry import Backbone, register_backbone
from ._layers import centre_pixel, int_list


@register_backbone("fastspec")
class FastSpec(Backbone):
    """Fast spectral pixel backbone: every op is one large matrix product over the batch (no small 1-D conv
    kernels, which run at a few k spectra/s on CPU).

    1. The centre pixel of each patch (pixels ``(N, B, 1, 1)`` are the intended input): ``(N, B)``.
    2. ``band_indices`` (optional): keep only these bands, e.g. the diagnostic 1300-2500 nm window; the
       caller turns wavelengths into indices. Default: all bands.
    3. ``normalize=True``: divide every spectrum by its mean reflectance (brightness invariance); applied to
       the first layer's output (``W(x / m) = (W x) / m``), so it costs one mean per pixel.
    4. ``conv_channels > 0`` (optional stem): a strided 1-D conv along the bands (kernel ``conv_kernel``,
       stride ``conv_stride``, ``conv_channels`` filters), computed as unfold + one matrix product, then ReLU
       and flatten. Local, shift-tolerant features, but several times slower than the plain MLP (~50 k px/s
       on 2 busy cores against ~300 k): not for the >= 200 k px/s default.
    5. ``widths``: Linear -> ReLU per entry (the first is the learned band reduction, e.g. 270 -> 128), with
       optional ``dropout`` between them.

    Input ``(N, in_bands, H, W)``; output ``(N, widths[-1])``.
    """

    tiny_kwargs = {"widths": [8, 4]}

    def __init__(self, in_bands: int, widths=(128, 64), band_indices=None, normalize: bool = True,
                 conv_channels: int = 0, conv_kernel: int = 9, conv_stride: int = 4, dropout: float = 0.0):
        super().__init__()
        widths = int_list(widths, "fastspec widths")
        if band_indices is None:
            idx = None
            n_sel = in_bands
        else:
            idx = torch.as_tensor(list(band_indices), dtype=torch.long)
            if idx.ndim != 1 or idx.numel() == 0 or int(idx.min()) < 0 or int(idx.max()) >= in_bands:
                raise ModelError(f"fastspec band_indices must be a non-empty list of band indices in "
                                 f"0..{in_bands - 1}, got {list(band_indices)!r}")
            n_sel = idx.numel()
        self.register_buffer("band_indices", idx, persistent=False)
        self.normalize = bool(normalize)
        self.conv_channels = int(conv_channels)
        if self.conv_channels < 0:
            raise ModelError(f"fastspec conv_channels must be >= 0 (0 = no conv stem), got {conv_channels}")
        if self.conv_channels:
            (k,) = int_list(conv_kernel, "fastspec conv_kernel")
            (s,) = int_list(conv_stride, "fastspec conv_stride")
            if k > n_sel:
                raise ModelError(f"fastspec conv_kernel ({k}) is longer than the {n_sel} bands it sees")
            self.conv_kernel, self.conv_stride = k, s
            self.conv = nn.Linear(k, self.conv_channels)
            first_in = self.conv_channels * ((n_sel - k) // s + 1)
        else:
            self.conv = None
            first_in = n_sel
        dims = [first_in, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.drop = nn.Dropout(float(dropout))
        self.in_bands = in_bands
        self.num_features = widths[-1]
        self.dense = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, B, H, W)`` -> ``(N, F)``."""
        x = centre_pixel(x)
        if self.band_indices is not None:
            x = x.index_select(1, self.band_indices)
        scale = x.mean(dim=1, keepdim=True).clamp_min_(1e-6) if self.normalize else None
        layers = iter(self.layers)
        if self.conv is not None:
            z = F.linear(x.unfold(1, self.conv_kernel, self.conv_stride), self.conv.weight)   # (N, L, c)
            if scale is not None:
                z.div_(scale[:, :, None])
            x = z.add_(self.conv.bias).relu_().flatten(1)
        else:
            first = next(layers)
            z = F.linear(x, first.weight)                                  # (N, F0), a fresh tensor: in place ok
            if scale is not None:
                z.div_(scale)
            x = self.drop(z.add_(first.bias).relu_())
        for layer in layers:
            x = self.drop(F.relu(layer(x), inplace=True))
        return x
