"""Attributions over wavelength: which bands make a model call a spectrum what it calls it.

Three Captum methods, all on the model's input bands (see :mod:`hsimin.explain.inputs`):

``"ig"`` integrated gradients
    ``(x - x0) * mean gradient`` along the straight path from a baseline ``x0`` to the spectrum ``x``. The values
    add up to ``f(x) - f(x0)`` (completeness; the gap is reported as ``delta``).
``"saliency"``
    ``|d f / d x|``: how sensitive the output is to each band (no baseline).
``"occlusion"`` band-window occlusion
    a window of ``window_nm`` slides over the bands (one band a step); inside it the spectrum is replaced by the
    baseline; each band gets the mean drop of ``f`` over the windows that cover it.

``f`` is the model's logit for the target class (``output="logit"``, the default) or its softmax probability
(``output="probability"``). The default baseline is ``"hull"``: the spectrum's own continuum (upper convex hull),
i.e. the same spectrum with every absorption feature removed, sent through the model's recipe like the spectrum
itself. Attributions then say which absorption features drive the answer, in the units of ``f``; ``"zeros"``
takes the all-zero input as baseline. For a patch model the values are summed over the patch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import Cube
from ..core.units import check_wavelengths
from .inputs import ModelView, import_captum, model_input, model_view, resolve_target

__all__ = ["ATTRIBUTION_METHODS", "Attribution", "BASELINES", "attribute_spectrum", "attribution_map",
           "explain_pixel"]

ATTRIBUTION_METHODS = ("ig", "saliency", "occlusion")
"""Method names: integrated gradients, saliency, band-window occlusion."""

BASELINES = ("hull", "zeros")
"""Baselines for ``ig`` and ``occlusion``: the spectrum's continuum (features removed) or all zeros."""

OUTPUTS = ("logit", "probability")


@dataclass(frozen=True, eq=False)
class Attribution:
    """Attributions of one spectrum for one class.

    values : (B,) float64, one value per model input band, in the units of ``output`` (see the module docstring)
    wavelengths : (B,) nm of those bands
    method : ``ig``, ``saliency`` or ``occlusion``
    target : class index the attributions are for
    target_name : its name ('' when the model has no class names)
    inputs : (B,) the model input spectrum (the centre pixel of a patch)
    probabilities : (K,) softmax probabilities of the model for the input
    class_names : K names ('' each when unknown)
    output : ``logit`` or ``probability``
    baseline : ``hull``, ``zeros``, ``array`` or ``none`` (saliency)
    delta : integrated gradients' completeness gap ``sum(values) - (f(x) - f(x0))`` (NaN for other methods)
    params : further parameters (n_steps, window_nm, window_bands, pixel, ...)
    """

    values: np.ndarray
    wavelengths: np.ndarray
    method: str
    target: int
    target_name: str = ""
    inputs: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    class_names: tuple = ()
    output: str = "logit"
    baseline: str = "hull"
    delta: float = float("nan")
    params: dict = field(default_factory=dict)

    @property
    def predicted(self) -> int:
        """Index of the class the model predicts for the input (-1 if unknown)."""
        return -1 if self.probabilities is None else int(np.argmax(self.probabilities))

    @property
    def predicted_name(self) -> str:
        p = self.predicted
        return self.class_names[p] if 0 <= p < len(self.class_names) else ""

    def window_sum(self, lo_nm: float, hi_nm: float) -> float:
        """Sum of the values of the bands inside ``lo_nm``-``hi_nm`` (inclusive)."""
        inside = (self.wavelengths >= lo_nm) & (self.wavelengths <= hi_nm)
        return float(self.values[inside].sum())

    def top_bands(self, n: int = 5) -> list[tuple[float, float]]:
        """The ``n`` bands with the largest absolute values: ``[(wavelength_nm, value), ...]``."""
        order = np.argsort(-np.abs(self.values), kind="stable")[:max(0, int(n))]
        return [(float(self.wavelengths[i]), float(self.values[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (what ``hsimin explain`` writes next to its PNG)."""
        probs = None if self.probabilities is None else [float(p) for p in self.probabilities]
        return {
            "method": self.method, "output": self.output, "baseline": self.baseline,
            "target": int(self.target), "target_name": self.target_name,
            "predicted": self.predicted, "predicted_name": self.predicted_name,
            "probabilities": probs, "class_names": list(self.class_names),
            "delta": None if not np.isfinite(self.delta) else float(self.delta),
            "wavelengths_nm": [float(w) for w in self.wavelengths],
            "attribution": [float(v) for v in self.values],
            "inputs": None if self.inputs is None else [float(v) for v in self.inputs],
            "top_bands": [{"wavelength_nm": w, "value": v} for w, v in self.top_bands(10)],
            "params": dict(self.params),
        }


# --------------------------------------------------------------------------- helpers

def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise InputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return v


def _forward(module, output: str) -> Callable:
    """``(N, B, H, W)`` -> ``(N, K)`` logits or probabilities (dense models: their centre pixel)."""
    import torch

    def fwd(x):
        out = module(x)
        if out.ndim == 4:
            out = out[:, :, out.shape[2] // 2, out.shape[3] // 2]
        if out.ndim != 2:
            raise InputError(f"the model returned an output of shape {tuple(out.shape)}; want (N, K) or "
                             "(N, K, H, W) class scores")
        return torch.softmax(out, dim=1) if output == "probability" else out
    return fwd


def _baseline_inputs(view: ModelView, raw: np.ndarray, wl: np.ndarray, fwhm, baseline) -> tuple[np.ndarray | None, str]:
    """Model inputs of the baseline for raw spectra ``raw`` (..., B) on ``wl``."""
    if baseline is None:
        baseline = "zeros"
    if isinstance(baseline, str):
        key = _check_choice(baseline, BASELINES, "baseline")
        if key == "zeros":
            x, _ = model_input(view, raw, wl, fwhm)
            return np.zeros_like(x), "zeros"
        from ..preprocess import continuum
        hull = np.asarray(continuum(np.asarray(raw, dtype=np.float64), wl), dtype=np.float32)
        x, _ = model_input(view, hull, wl, fwhm)
        return np.nan_to_num(x, nan=0.0), "hull"
    arr = np.asarray(baseline, dtype=np.float32)
    return arr, "array"


def _device(device) -> Any:
    import torch
    d = "cpu" if device is None else str(device)
    if d == "auto":
        d = "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {d!r}: CUDA is not available here; use 'cpu' or 'auto'")
    return torch.device(d)


def _window_bands(wl: np.ndarray, window_nm: float) -> int:
    if not float(window_nm) > 0:
        raise InputError(f"window_nm must be > 0, got {window_nm}")
    spacing = float(np.median(np.diff(wl))) if wl.size > 1 else 1.0
    return int(max(1, min(wl.size, round(float(window_nm) / spacing))))


# --------------------------------------------------------------------------- one spectrum

def _check_steps(n_steps) -> None:
    """Integrated gradients needs at least one step (Captum asserts, which would surface as a bare AssertionError)."""
    try:
        ok = int(n_steps) >= 1 and int(n_steps) == float(n_steps)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"n_steps must be a positive integer, got {n_steps!r}")


def attribute_spectrum(model, spectrum_or_patch, wavelengths, target=None, method: str = "ig", *,
                       window_nm: float = 40.0, baseline="hull", output: str = "logit", n_steps: int = 64,
                       fwhm=None, class_names: Sequence[str] | None = None, device: str = "cpu") -> Attribution:
    """Captum attributions of one spectrum (or one k x k patch) over wavelength.

    Parameters
    ----------
    model : :class:`~hsimin.models.LoadedModel` (its recipe and wavelengths are honoured) or a torch ``nn.Module``
        taking ``(N, B, H, W)`` and returning ``(N, K)`` (or dense ``(N, K, H, W)``) class scores
    spectrum_or_patch : (B,) reflectance, or (k, k, B) for a patch model (centre pixel at k // 2)
    wavelengths : (B,) nm of ``spectrum_or_patch``
    target : class index or name; None: the class the model predicts
    method : ``"ig"``, ``"saliency"`` or ``"occlusion"``
    window_nm : occlusion window width (nm)
    baseline : ``"hull"`` (default: the continuum, features removed), ``"zeros"``, or an array of model inputs
    output : attribute the ``"logit"`` (default) or the softmax ``"probability"`` of the target class
    n_steps : integrated-gradients path steps
    fwhm : (B,) nm, passed to the model's recipe
    class_names : names for a bare ``nn.Module``
    device : ``cpu``, ``cuda`` or ``auto``

    Returns :class:`Attribution` on the model's input bands.
    """
    import torch

    from ..models.layout import to_torch

    method = _check_choice(method, ATTRIBUTION_METHODS, "method")
    _check_steps(n_steps)
    output = _check_choice(output, OUTPUTS, "output")
    view = model_view(model, class_names)
    raw = np.asarray(spectrum_or_patch, dtype=np.float32)
    if raw.ndim not in (1, 3) or (raw.ndim == 3 and raw.shape[0] != raw.shape[1]):
        raise InputError(f"give one spectrum (B,) or one k x k patch (k, k, B), got shape {raw.shape}")
    wl_in = check_wavelengths(wavelengths, raw.shape[-1], "wavelengths")
    k = 1 if raw.ndim == 1 else raw.shape[0]
    want = view.patch_size
    if want is not None and want > 1 and k != want:
        raise InputError(f"the model looks at {want} x {want} patches; give a ({want}, {want}, B) patch "
                         f"(hsimin.explain.explain_pixel cuts one from a cube)")
    x_np, wl = model_input(view, raw, wl_in, fwhm)
    if not np.isfinite(x_np).all():
        raise InputError("the spectrum has NaN or infinite values (masked or invalid pixel); pick a valid pixel")
    b_np, bname = (None, "none") if method == "saliency" else _baseline_inputs(view, raw, wl_in, fwhm, baseline)
    dev = _device(device)
    module = view.module
    was_training = module.training
    module.eval()
    x = (to_torch(x_np) if raw.ndim == 1 else to_torch(x_np[None])).to(dev).contiguous()
    fwd = _forward(module, output)
    try:
        with torch.no_grad():
            logits = _forward(module, "logit")(x)
            probs = torch.softmax(logits, dim=1)[0].cpu().numpy().astype(np.float64)
        K = probs.size
        names = view.class_names if len(view.class_names) == K else tuple("" for _ in range(K))
        t = resolve_target(target, names if any(names) else (), K)
        if t is None:
            t = int(np.argmax(probs))
        attr = import_captum()
        delta = float("nan")
        params: dict[str, Any] = {}
        if method == "ig":
            base = (to_torch(b_np) if raw.ndim == 1 else to_torch(b_np[None])).to(dev).contiguous()
            a, d = attr.IntegratedGradients(fwd).attribute(x, baselines=base, target=t, n_steps=int(n_steps),
                                                           return_convergence_delta=True)
            delta = float(d.detach().cpu().reshape(-1)[0])
            params["n_steps"] = int(n_steps)
        elif method == "saliency":
            x.requires_grad_(True)
            a = attr.Saliency(fwd).attribute(x, target=t, abs=True)
        else:
            base = (to_torch(b_np) if raw.ndim == 1 else to_torch(b_np[None])).to(dev).contiguous()
            wb = _window_bands(wl, window_nm)
            H, W = x.shape[2], x.shape[3]
            with torch.no_grad():
                a = attr.Occlusion(fwd).attribute(x, sliding_window_shapes=(wb, H, W), strides=(1, H, W),
                                                  baselines=base, target=t, perturbations_per_eval=64)
            params.update(window_nm=float(window_nm), window_bands=wb)
    finally:
        module.train(was_training)
    values = a.detach().cpu().double().sum(dim=(2, 3))[0].numpy()
    centre = x_np if raw.ndim == 1 else x_np[k // 2, k // 2]
    return Attribution(values=values, wavelengths=np.asarray(wl, dtype=np.float64), method=method, target=int(t),
                       target_name=names[t] if names[t] else "", inputs=np.asarray(centre, dtype=np.float64),
                       probabilities=probs, class_names=tuple(names), output=output, baseline=bname, delta=delta,
                       params=params)


def _patch_at(cube: Cube, row: int, col: int, k: int) -> np.ndarray:
    """The k x k window of the cube centred on (row, col), mirrored at the borders (as training samples are)."""
    H, W, _ = cube.shape
    h = k // 2
    r0, r1 = max(0, row - h), min(H, row - h + k)
    c0, c1 = max(0, col - h), min(W, col - h + k)
    block = np.asarray(cube.data[r0:r1, c0:c1], dtype=np.float32)
    pad = ((r0 - (row - h), (row - h + k) - r1), (c0 - (col - h), (col - h + k) - c1), (0, 0))
    if any(p for pair in pad[:2] for p in pair):
        mode = "reflect" if min(block.shape[:2]) > 1 else "edge"
        block = np.pad(block, pad, mode=mode)
    return block


def explain_pixel(model, cube: Cube, row: int, col: int, target=None, method: str = "ig", **kwargs) -> Attribution:
    """:func:`attribute_spectrum` of the pixel ``(row, col)`` of a cube (a k x k patch around it for a patch
    model); keyword arguments as there. ``params['pixel']`` records the pixel."""
    if not isinstance(cube, Cube):
        raise InputError(f"explain_pixel needs a hsimin Cube, got {type(cube).__name__}")
    H, W, _ = cube.shape
    r, c = int(row), int(col)
    if not (0 <= r < H and 0 <= c < W):
        raise InputError(f"pixel ({r}, {c}) is outside the {H} x {W} cube (rows 0..{H - 1}, columns 0..{W - 1})")
    view = model_view(model, kwargs.pop("class_names", None))
    k = view.patch_size if view.patch_size and view.patch_size > 1 else 1
    x = np.asarray(cube.data[r, c], dtype=np.float32) if k == 1 else _patch_at(cube, r, c, k)
    res = attribute_spectrum(view, x, cube.wavelengths, target, method, fwhm=kwargs.pop("fwhm", cube.fwhm), **kwargs)
    res.params["pixel"] = [r, c]
    return res


# --------------------------------------------------------------------------- whole image

def attribution_map(model, cube: Cube, target, band_window: Sequence[float], *, method: str = "occlusion",
                    baseline="hull", output: str = "logit", n_steps: int = 16, batch_size: int = 1024,
                    lines: int | None = None, device: str = "cpu",
                    progress: Callable[[int, int], Any] | None = None) -> np.ndarray:
    """The attribution of one class to one band window, for every pixel of a cube.

    Parameters
    ----------
    model : LoadedModel or ``nn.Module`` (as for :func:`attribute_spectrum`)
    cube : the cube; masked pixels and pixels with NaN bands are NaN in the result
    target : class index or name (one class for the whole image)
    band_window : ``(lo_nm, hi_nm)`` on the model's input bands (e.g. ``(2180, 2230)`` for AlOH)
    method : ``"occlusion"`` (default: ``f(x) - f(x with the window replaced by the baseline)``, two forward
        passes a pixel), ``"ig"`` or ``"saliency"`` (their per-band values summed over the window)
    baseline, output, n_steps : as for :func:`attribute_spectrum`
    batch_size : pixels per forward pass
    lines : lines per block (default: a block of about 64 MiB)
    progress : ``progress(lines_done, lines_total)`` after every block; it may raise to cancel

    Returns (H, W) float32.
    """
    import torch

    from ..core.blocks import block_lines
    from ..models.layout import to_torch

    method = _check_choice(method, ATTRIBUTION_METHODS, "method")
    output = _check_choice(output, OUTPUTS, "output")
    if not isinstance(cube, Cube):
        raise InputError(f"attribution_map needs a hsimin Cube, got {type(cube).__name__}")
    _check_steps(n_steps)
    view = model_view(model)
    try:
        lo, hi = (float(v) for v in band_window)
    except (TypeError, ValueError):
        raise InputError(f"band_window must be (lo_nm, hi_nm), got {band_window!r}") from None
    if not lo < hi:
        raise InputError(f"band window {lo:g}-{hi:g} nm: want lo < hi")
    H, W, B = cube.shape
    _, wl_model = model_input(view, np.ones((1, B), np.float32), cube.wavelengths, cube.fwhm)
    inside = (wl_model >= lo) & (wl_model <= hi)
    if not inside.any():
        raise InputError(f"no model band lies in {lo:g}-{hi:g} nm (the model's bands span "
                         f"{wl_model.min():g}-{wl_model.max():g} nm)")
    sel = torch.from_numpy(inside)
    k = view.patch_size if view.patch_size and view.patch_size > 1 else 1
    h = k // 2
    dev = _device(device)
    module = view.module
    fwd = _forward(module, output)
    was_training = module.training
    module.eval()
    with torch.no_grad():
        K = int(_forward(module, "logit")(to_torch(np.zeros((1, k, k, wl_model.size), np.float32))
                                           .to(dev)).shape[1])
    names = view.class_names if len(view.class_names) == K else ()
    t = resolve_target(target, names, K)
    if t is None:
        raise InputError("attribution_map needs a target class (index or name)")
    attr = import_captum() if method in ("ig", "saliency") else None
    out = np.full((H, W), np.nan, dtype=np.float32)
    n_lines = block_lines(cube, lines, max_bytes=64 * 2 ** 20)
    try:
        for r0 in range(0, H, n_lines):
            r1 = min(H, r0 + n_lines)
            a0, a1 = max(0, r0 - h), min(H, r1 + h)
            slab = np.asarray(cube.data[a0:a1], dtype=np.float32)
            X, _ = model_input(view, slab, cube.wavelengths, cube.fwhm)
            need_base = method != "saliency"
            if need_base:
                Xb, _ = _baseline_inputs(view, slab, cube.wavelengths, cube.fwhm, baseline)
                if Xb.shape != X.shape:
                    Xb = np.broadcast_to(Xb, X.shape).astype(np.float32)
            rows_local = np.arange(r0 - a0, r1 - a0)
            valid = np.isfinite(slab[rows_local]).all(axis=2) & np.isfinite(X[rows_local]).all(axis=2)
            if cube.mask is not None:
                valid &= cube.mask[r0:r1]
            rr, cc = np.nonzero(valid)
            rr_slab = rr + (r0 - a0)
            for s in range(0, rr.size, int(batch_size)):
                br, bc = rr_slab[s:s + batch_size], cc[s:s + batch_size]
                if k == 1:
                    xb = to_torch(X[br, bc]).to(dev)
                    bb = to_torch(Xb[br, bc]).to(dev) if need_base else None
                else:
                    from ..models.layout import extract_patches
                    xb = extract_patches(np.nan_to_num(X), br, bc, k, pad_mode="reflect").to(dev)
                    bb = extract_patches(Xb, br, bc, k, pad_mode="reflect").to(dev) if need_base else None
                if method == "occlusion":
                    with torch.no_grad():
                        occl = torch.where(sel.to(dev)[None, :, None, None], bb, xb)
                        val = fwd(xb)[:, t] - fwd(occl)[:, t]
                elif method == "ig":
                    a = attr.IntegratedGradients(fwd).attribute(xb, baselines=bb, target=t, n_steps=int(n_steps),
                                                                internal_batch_size=int(batch_size))
                    val = a.detach().sum(dim=(2, 3))[:, sel.to(dev)].sum(dim=1)
                else:
                    xb.requires_grad_(True)
                    a = attr.Saliency(fwd).attribute(xb, target=t, abs=True)
                    val = a.detach().sum(dim=(2, 3))[:, sel.to(dev)].sum(dim=1)
                out[r0 + rr[s:s + batch_size], cc[s:s + batch_size]] = val.float().cpu().numpy()
            if progress is not None:
                progress(r1, H)
    finally:
        module.train(was_training)
    return out
