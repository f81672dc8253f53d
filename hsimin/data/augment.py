"""Augmentations that make physical sense, on torch batches ``(N, C, H, W)`` (channels = bands or layers).

Each augmentation is label-preserving and draws its randomness from a ``torch.Generator``, so a seeded run is
repeatable. They act on whole batches (vectorised), after the data loader, and the same objects make the two
views of SimCLR pretraining (:mod:`hsimin.train.ssl`):

=============  ==================================================================================================
name           what it simulates
=============  ==================================================================================================
``mixing``     a second mineral in the pixel: ``(1 - f) x + f x'`` with ``x'`` from another class of the batch,
               ``f ~ U(0, max_fraction)``, ``max_fraction <= 0.5`` so the label stays the dominant mineral
``shift``      a small wavelength calibration offset: ``x'(λ) = x(λ − s)``, ``s ~ U(−max_nm, max_nm)``, by
               linear interpolation in wavelength (ends held)
``slope``      a different continuum / illumination: multiply by ``1 + a t + b (t² − 1/3)``, ``t`` from −1 at the
               first to +1 at the last band, ``a ~ U(±max_slope)``, ``b ~ U(±max_curvature)``
``brightness`` albedo / distance to the lamp: multiply by ``U(low, high)``
``flip``       patch orientation: a random element of the dihedral group (flips, and rot90 for square patches);
               dense ``(N, H, W)`` labels are transformed alike
``noise``      sensor noise at a given SNR: Gaussian, sd = mean |x| of the sample / snr, snr log-uniform in
               ``[low, high]``
=============  ==================================================================================================

:func:`build_augment` builds a :class:`Compose` from a config dict, always applying the steps in the order of
the table (mixing pure spectra first, noise last) whatever the dict's order. ``shift`` and ``slope`` use
wavelengths when given (nm); ``slope`` without wavelengths ramps over the channel index; ``shift`` needs them.

The augmentations are physical, so they act on **reflectance**: when the model sees preprocessed spectra
(continuum removed, band window...), wrap them with :class:`RecipeAfter`, which runs the recipe on each batch
after augmenting it -- brightness and slope then change the reflectance the recipe sees, as a real scan would.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Mapping

import numpy as np
import torch

from ..core.errors import ConfigError, InputError

__all__ = ["AUGMENTATIONS", "Augmentation", "Brightness", "Compose", "ContinuumSlope", "FlipRotate", "Mixing",
           "Noise", "RecipeAfter", "WavelengthShift", "build_augment"]


def _check4(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise InputError(f"augmentations take (N, C, H, W) tensors, got "
                         f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")


def _uniform(n: int, low: float, high: float, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return (torch.rand(n, generator=g, dtype=torch.float64) * (high - low) + low).to(like.dtype).to(like.device)


class Augmentation:
    """Base: ``aug(x, y, g) -> (x, y)`` with ``x (N, C, H, W)``, ``y`` ``(N,)`` / ``(N, H, W)`` labels or None.

    ``p`` is the probability that a sample is augmented (per sample). Subclasses implement ``_apply(x, y, g)``
    on the selected samples; ``params()`` gives the constructor arguments (for the resolved config).
    """

    name = ""

    def __init__(self, p: float = 1.0):
        if not 0.0 <= float(p) <= 1.0:
            raise InputError(f"{self.name}: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def params(self) -> dict:
        return {"p": self.p}

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None, g: torch.Generator):
        _check4(x)
        if x.shape[0] == 0 or self.p == 0.0:
            return x, y
        if self.p >= 1.0:
            return self._apply(x, y, g)
        sel = torch.rand(x.shape[0], generator=g) < self.p
        if not sel.any():
            return x, y
        idx = torch.nonzero(sel).reshape(-1).to(x.device)
        xs, ys = self._apply(x[idx], None if y is None else y[idx], g, full=(x, y))
        x = x.clone()
        x[idx] = xs
        if y is not None and ys is not None:
            y = y.clone()
            y[idx] = ys
        return x, y

    def _apply(self, x, y, g, full=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


class Brightness(Augmentation):
    """Multiply each sample by ``U(low, high)`` (albedo, lamp distance)."""

    name = "brightness"

    def __init__(self, low: float = 0.8, high: float = 1.2, p: float = 1.0):
        super().__init__(p)
        if not 0.0 < float(low) <= float(high):
            raise InputError(f"brightness needs 0 < low <= high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def params(self) -> dict:
        return {"low": self.low, "high": self.high, "p": self.p}

    def _apply(self, x, y, g, full=None):
        return x * _uniform(x.shape[0], self.low, self.high, g, x)[:, None, None, None], y


def _ramp_axis(wavelengths, C: int) -> torch.Tensor:
    """t in [-1, 1] over the channels: by wavelength if given, else by channel index."""
    if wavelengths is None:
        return torch.linspace(-1.0, 1.0, C, dtype=torch.float64)
    wl = torch.tensor(np.asarray(wavelengths, dtype=np.float64))
    if wl.numel() != C:
        raise InputError(f"the augmentation was built for {wl.numel()} wavelengths but the batch has {C} channels")
    span = float(wl[-1] - wl[0]) or 1.0
    return 2.0 * (wl - wl[0]) / span - 1.0


class ContinuumSlope(Augmentation):
    """Multiply by a gentle ramp ``1 + a t + b (t² − 1/3)`` over wavelength (continuum, illumination).

    ``a ~ U(-max_slope, max_slope)``, ``b ~ U(-max_curvature, max_curvature)``; the factor is floored at 0.05.
    """

    name = "slope"

    def __init__(self, max_slope: float = 0.1, max_curvature: float = 0.0, p: float = 1.0, *, wavelengths=None):
        super().__init__(p)
        if float(max_slope) < 0 or float(max_curvature) < 0:
            raise InputError(f"slope: max_slope and max_curvature must be >= 0, got {max_slope}, {max_curvature}")
        self.max_slope, self.max_curvature = float(max_slope), float(max_curvature)
        self.wavelengths = None if wavelengths is None else np.array(wavelengths, dtype=np.float64)

    def params(self) -> dict:
        return {"max_slope": self.max_slope, "max_curvature": self.max_curvature, "p": self.p}

    def _apply(self, x, y, g, full=None):
        n, C = x.shape[:2]
        t = _ramp_axis(self.wavelengths, C).to(x.device)
        a = _uniform(n, -self.max_slope, self.max_slope, g, t)
        b = _uniform(n, -self.max_curvature, self.max_curvature, g, t)
        ramp = (1.0 + a[:, None] * t[None] + b[:, None] * (t[None] ** 2 - 1.0 / 3.0)).clamp_min(0.05)
        return x * ramp.to(x.dtype)[:, :, None, None], y


class WavelengthShift(Augmentation):
    """Shift each spectrum by ``s ~ U(-max_nm, max_nm)`` nm: ``x'(λ) = x(λ − s)``, linear interpolation in
    wavelength, the end values held beyond the range. Needs the wavelengths (nm) of the channels."""

    name = "shift"

    def __init__(self, max_nm: float = 3.0, p: float = 1.0, *, wavelengths=None):
        super().__init__(p)
        if wavelengths is None:
            raise InputError("shift needs the wavelengths (nm) of the channels")
        if float(max_nm) < 0:
            raise InputError(f"shift: max_nm must be >= 0, got {max_nm}")
        self.max_nm = float(max_nm)
        self.wavelengths = np.array(wavelengths, dtype=np.float64)
        if self.wavelengths.ndim != 1 or self.wavelengths.size < 2 or np.any(np.diff(self.wavelengths) <= 0):
            raise InputError("shift needs (C,) strictly increasing wavelengths in nm")

    def params(self) -> dict:
        return {"max_nm": self.max_nm, "p": self.p}

    def _apply(self, x, y, g, full=None):
        n, C, H, W = x.shape
        wl = torch.as_tensor(self.wavelengths)
        if wl.numel() != C:
            raise InputError(f"shift was built for {wl.numel()} wavelengths but the batch has {C} channels")
        s = _uniform(n, -self.max_nm, self.max_nm, g, wl)
        target = (wl[None, :] - s[:, None]).clamp(wl[0], wl[-1])                    # (n, C) nm to read at
        hi = torch.searchsorted(wl, target.contiguous()).clamp(1, C - 1)
        lo = hi - 1
        frac = ((target - wl[lo]) / (wl[hi] - wl[lo])).clamp(0.0, 1.0).to(x.dtype).to(x.device)
        lo, hi = lo.to(x.device), hi.to(x.device)
        e = (-1, -1, H, W)
        xl = torch.gather(x, 1, lo[:, :, None, None].expand(*e))
        xh = torch.gather(x, 1, hi[:, :, None, None].expand(*e))
        return xl + (xh - xl) * frac[:, :, None, None], y


class Noise(Augmentation):
    """Add Gaussian noise with sd = mean |x| of each sample / snr, ``snr`` log-uniform in ``[low, high]``
    (a single number: that SNR)."""

    name = "noise"

    def __init__(self, snr=(100.0, 1000.0), p: float = 1.0):
        super().__init__(p)
        lo, hi = (float(snr), float(snr)) if np.ndim(snr) == 0 else (float(snr[0]), float(snr[1]))
        if not 0.0 < lo <= hi:
            raise InputError(f"noise: snr must be > 0 (a number or [low, high]), got {snr!r}")
        self.snr = (lo, hi)

    def params(self) -> dict:
        return {"snr": list(self.snr), "p": self.p}

    def _apply(self, x, y, g, full=None):
        n = x.shape[0]
        lo, hi = math.log(self.snr[0]), math.log(self.snr[1])
        snr = torch.exp(_uniform(n, lo, hi, g, x))
        sd = x.abs().mean(dim=(1, 2, 3)) / snr
        noise = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x.dtype).to(x.device)
        return x + noise * sd[:, None, None, None], y


class Mixing(Augmentation):
    """Linear mixing with a second sample of another class from the batch: ``(1 − f) x + f x'``,
    ``f ~ U(0, max_fraction)``, ``max_fraction <= 0.5`` (the label stays the dominant component).

    Without labels (SSL) the partner is any other sample. A sample with no partner of another class in the
    batch is left as it is. Dense labels ``(N, H, W)`` keep the first sample's label map.
    """

    name = "mixing"

    def __init__(self, max_fraction: float = 0.3, p: float = 0.5):
        super().__init__(p)
        if not 0.0 <= float(max_fraction) <= 0.5:
            raise InputError(f"mixing: max_fraction must be in [0, 0.5] (the label must stay dominant), got "
                             f"{max_fraction!r}")
        self.max_fraction = float(max_fraction)

    def params(self) -> dict:
        return {"max_fraction": self.max_fraction, "p": self.p}

    def _apply(self, x, y, g, full=None):
        pool_x, pool_y = full if full is not None else (x, y)
        n, m = x.shape[0], pool_x.shape[0]
        if m < 2:
            return x, y
        yk = None if y is None or y.ndim != 1 else y.cpu()
        pk = None if pool_y is None or pool_y.ndim != 1 else pool_y.cpu()
        partner = torch.randint(m, (n,), generator=g)
        ok = torch.zeros(n, dtype=torch.bool)
        for _ in range(8):                                   # rejection: partner of another class
            if yk is not None and pk is not None:
                good = pk[partner] != yk
            else:
                good = ~torch.all((pool_x[partner] == x).reshape(n, -1).cpu(), dim=1)
            ok |= good
            if bool(ok.all()):
                break
            redraw = torch.randint(m, (n,), generator=g)
            partner = torch.where(ok, partner, redraw)
        f = _uniform(n, 0.0, self.max_fraction, g, x) * ok.to(x.dtype).to(x.device)
        f = f[:, None, None, None]
        return (1.0 - f) * x + f * pool_x[partner.to(x.device)], y


class FlipRotate(Augmentation):
    """A random element of the dihedral group per sample: horizontal/vertical flips, and rot90 when H == W.
    Dense labels ``(N, H, W)`` get the same transform. Pixels (H = W = 1) are unchanged."""

    name = "flip"

    def params(self) -> dict:
        return {"p": self.p}

    def _apply(self, x, y, g, full=None):
        n, _, H, W = x.shape
        if H == 1 and W == 1:
            return x, y
        ops = 8 if H == W else 4
        code = torch.randint(ops, (n,), generator=g)
        x = x.clone()
        dense = y is not None and y.ndim == 3
        if dense:
            y = y.clone()
        for c in range(1, ops):
            idx = torch.nonzero(code == c).reshape(-1).to(x.device)
            if idx.numel() == 0:
                continue
            x[idx] = self._op(x[idx], c)
            if dense:
                y[idx] = self._op(y[idx][:, None], c)[:, 0]
        return x, y

    @staticmethod
    def _op(t: torch.Tensor, c: int) -> torch.Tensor:
        """c in 0..7: bit 0 flips W, bit 1 flips H, bit 2 transposes H and W (with both: all 8 symmetries)."""
        if c & 1:
            t = t.flip(3)
        if c & 2:
            t = t.flip(2)
        if c & 4:
            t = t.transpose(2, 3)
        return t


AUGMENTATIONS: dict[str, type[Augmentation]] = {
    "mixing": Mixing, "shift": WavelengthShift, "slope": ContinuumSlope, "brightness": Brightness,
    "flip": FlipRotate, "noise": Noise,
}
"""Augmentations by config name, in the order :class:`Compose` applies them."""

_USES_WAVELENGTHS = {"shift", "slope"}


class Compose:
    """Apply augmentations in sequence: ``compose(x, y, g) -> (x, y)``; ``compose.to_dict()`` gives the config
    that :func:`build_augment` rebuilds it from."""

    def __init__(self, steps):
        self.steps = list(steps)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None, g: torch.Generator):
        for step in self.steps:
            x, y = step(x, y, g)
        return x, y

    def to_dict(self) -> dict:
        return {s.name: s.params() for s in self.steps}

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"

    def __len__(self) -> int:
        return len(self.steps)


class RecipeAfter:
    """``augment`` on reflectance, then a preprocessing ``recipe`` on the result: ``(x, y, g) -> (x', y)``.

    ``x`` (N, C, H, W) holds reflectance on ``wavelengths`` (C,) nm; the output holds the recipe's output
    (N, C', H, W) (its output wavelengths), computed on the band-last numpy form through
    :mod:`hsimin.models.layout`. Non-finite recipe outputs (e.g. a continuum of a spectrum that noise pushed
    below zero) become 0. ``augment`` None: the recipe only (how validation batches would be made).
    """

    def __init__(self, augment, recipe, wavelengths):
        from ..preprocess import Recipe
        self.augment = augment
        self.recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(dict(recipe))
        self.wavelengths = np.array(wavelengths, dtype=np.float64)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None, g: torch.Generator):
        from ..models.layout import to_numpy, to_torch
        if self.augment is not None:
            x, y = self.augment(x, y, g)
        out, _ = self.recipe.apply(to_numpy(x, ndim=4), self.wavelengths)
        t = to_torch(np.nan_to_num(np.asarray(out, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0),
                     device=x.device)
        return t.contiguous(), y

    def __len__(self) -> int:
        return len(self.augment) if self.augment is not None else 0

    def to_dict(self) -> dict:
        return {"augment": self.augment.to_dict() if self.augment is not None else {},
                "recipe": self.recipe.to_dict()}


def build_augment(config: Mapping[str, Any] | None, wavelengths=None, *, where: str = "augment") -> Compose:
    """A :class:`Compose` from ``{name: {param: value}}`` (names: :data:`AUGMENTATIONS`; ``{}`` or ``true``
    takes the defaults, ``false`` or a missing name leaves it out). Steps run in the :data:`AUGMENTATIONS`
    order. ``wavelengths`` (C,) nm feed ``shift`` and ``slope``.

    Raises :class:`ConfigError` naming the key (``augment.noise.snr``) for unknown names or bad values.
    """
    cfg = dict(config or {})
    unknown = sorted(set(cfg) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown augmentation; known: {', '.join(AUGMENTATIONS)}")
    steps = []
    for name, cls in AUGMENTATIONS.items():
        if name not in cfg or cfg[name] is False:
            continue
        params = {} if cfg[name] is True else cfg[name]
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}.{name}: give a table of parameters (or true for the defaults), got "
                              f"{params!r}")
        allowed = set(inspect.signature(cls).parameters) - {"wavelengths"}
        bad = sorted(set(params) - allowed)
        if bad:
            raise ConfigError(f"{where}.{name}.{bad[0]}: unknown parameter; {name} takes "
                              f"{', '.join(sorted(allowed))}")
        kw = dict(params)
        if name in _USES_WAVELENGTHS:
            kw["wavelengths"] = wavelengths
        try:
            steps.append(cls(**kw))
        except (InputError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.{name}: {getattr(exc, 'message', exc)}") from None
    return Compose(steps)
