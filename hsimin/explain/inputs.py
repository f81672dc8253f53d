"""What a model sees: cube spectra mapped onto a model's input bands, targets resolved, captum imported lazily.

A :class:`~hsimin.models.LoadedModel` knows the wavelengths it was trained on (the output of its preprocessing
recipe) and the recipe itself. :func:`model_input` maps reflectance on a cube's bands onto those inputs by the
same rule as :func:`hsimin.predict.input_plan` (so an explanation sees exactly what the map was made from): the
recipe replayed on the cube's bands when that gives the model's bands, else the cube resampled onto the model's
grid and the recipe replayed there; a cube that does not cover the model's bands is refused. A bare
``nn.Module`` is taken to want the spectra as they are.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core.errors import HsiminError, InputError, MissingDependencyError, ModelError, WavelengthError, import_optional
from ..core.units import check_wavelengths

__all__ = ["ModelView", "import_captum", "model_input", "model_view", "resolve_target"]


def import_captum():
    """The ``captum.attr`` module, or :class:`~hsimin.core.errors.MissingDependencyError` saying how to install
    it."""
    return import_optional("captum.attr", extra="explain", needed_for="attributions", package="captum")


def _same_grid(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0.0, atol=1e-6))


class ModelView:
    """A model as attribution code needs it: the module, its input bands and class names, and how cube spectra
    become its inputs.

    Attributes
    ----------
    module : the ``nn.Module`` (eval mode)
    wavelengths : (B,) nm of the model's input bands, or None (a bare module: the caller's bands)
    class_names : K names or ()
    recipe : the preprocessing recipe dict, or None
    patch_size : the window side the model wants (1 for pixel models; None: any)
    """

    def __init__(self, module, wavelengths=None, class_names: Sequence[str] = (), recipe=None,
                 patch_size: int | None = 1, extra=None):
        self.module = module
        self.extra = dict(extra or {})
        self.wavelengths = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
        self.class_names = tuple(str(c) for c in class_names)
        self.recipe = recipe
        self.patch_size = patch_size

    def inputs(self, spectra, wavelengths, fwhm=None) -> tuple[np.ndarray, np.ndarray]:
        """``(..., B_cube)`` reflectance -> ``(..., B_model)`` float32 model inputs and their wavelengths."""
        return model_input(self, spectra, wavelengths, fwhm)


def model_view(model, class_names: Sequence[str] | None = None) -> ModelView:
    """A :class:`ModelView` of a :class:`~hsimin.models.LoadedModel`, an ``nn.Module`` or a ModelView."""
    if isinstance(model, ModelView):
        return model
    module = getattr(model, "model", None)
    if module is not None and hasattr(model, "class_names") and hasattr(model, "wavelengths"):
        ps = getattr(model, "patch_size", None)
        return ModelView(module, model.wavelengths, model.class_names, getattr(model, "recipe", None),
                         1 if ps is None else int(ps), getattr(model, "extra", None))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        raise MissingDependencyError("attributions need torch; pip install torch") from None
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a LoadedModel (hsimin.models.load_model) or a torch nn.Module, got "
                         f"{type(model).__name__}")
    ps = getattr(model, "patch_size", 1)
    return ModelView(model, None, class_names or (), None, None if ps is None else int(ps))


def model_input(model, spectra, wavelengths, fwhm=None) -> tuple[np.ndarray, np.ndarray]:
    """Map reflectance on a cube's bands to a model's input bands, as :func:`hsimin.predict.predict_cube` does.

    Parameters
    ----------
    model : LoadedModel, nn.Module or :class:`ModelView`
    spectra : (..., B) reflectance on ``wavelengths`` (a spectrum, spectra, a k x k patch or a cube block)
    wavelengths : (B,) nm
    fwhm : (B,) nm or None

    Returns
    -------
    ((..., B_model) float32, (B_model,) wavelengths nm). When the model's recipe, replayed on the given bands,
    gives exactly the model's bands, that is all; otherwise the spectra are resampled onto the model's band grid
    (Gaussian responses when the checkpoint records the model's FWHM in ``extra['fwhm']``, linear interpolation
    otherwise) and the recipe replayed there. Raises :class:`WavelengthError` when the spectra do not cover the
    model's bands, :class:`ModelError` when the recipe cannot run.
    """
    from ..preprocess import Recipe

    view = model_view(model)
    x = np.asarray(spectra, dtype=np.float32)
    wl = check_wavelengths(wavelengths, x.shape[-1], "the spectra's wavelengths")
    fw = None if fwhm is None else np.broadcast_to(np.asarray(fwhm, dtype=np.float64), wl.shape)
    try:
        recipe = Recipe.from_dict(dict(view.recipe)) if view.recipe else Recipe(())
    except HsiminError as exc:
        raise ModelError(f"the model's preprocessing recipe is unusable: {exc}") from None
    target = view.wavelengths

    def run(X, w, f):
        try:
            out, bands = recipe.transform(X, w, f)
        except HsiminError as exc:
            raise ModelError(f"the model's preprocessing recipe cannot run on {w.min():g}-{w.max():g} nm: "
                             f"{exc}") from None
        return np.asarray(out, dtype=np.float32), np.asarray(bands.wavelengths, dtype=np.float64)

    try:
        direct = recipe.output_bands(wl, fw).wavelengths
    except HsiminError:
        direct = None
    if target is None or (direct is not None and _same_grid(direct, target)):
        out, out_wl = run(x, wl, fw)
        return out, (out_wl if target is None else target.copy())
    lo, hi = float(target.min()), float(target.max())
    spacing = float(np.median(np.diff(target))) if target.size > 1 else 0.0
    if wl.min() > lo + 0.5 * spacing + 0.05 or wl.max() < hi - 0.5 * spacing - 0.05:
        raise WavelengthError(f"the model was trained on {lo:g}-{hi:g} nm but the spectra cover only "
                              f"{wl.min():g}-{wl.max():g} nm; use a cube that covers the model's bands")
    from ..preprocess import resample
    extra = getattr(view, "extra", None) or {}
    model_fwhm = extra.get("fwhm")
    if model_fwhm is not None:
        model_fwhm = np.broadcast_to(np.asarray(model_fwhm.tolist() if hasattr(model_fwhm, "tolist") else model_fwhm,
                                                dtype=np.float64), target.shape).copy()
    grid = np.asarray(resample(x, wl, target, model_fwhm, source_fwhm=fw if model_fwhm is not None else None),
                      dtype=np.float32)
    if np.isnan(grid).any() and np.isfinite(x).all():
        raise WavelengthError(f"the spectra ({wl.min():g}-{wl.max():g} nm) do not cover the model's bands "
                              f"({lo:g}-{hi:g} nm) well enough to resample onto them")
    out, out_wl = run(grid, target, model_fwhm)
    if not _same_grid(out_wl, target):
        raise ModelError("the model's recipe, replayed on its own band grid, does not give its input bands; "
                         "resample the cube to the model's wavelengths first")
    return out, target.copy()


def resolve_target(target: Any, class_names: Sequence[str], num_outputs: int | None = None) -> int | None:
    """A class index from an index, a class name (case-insensitive) or None (None: "the predicted class")."""
    if target is None or (isinstance(target, str) and target.strip().lower() in ("", "predicted", "auto")):
        return None
    names = [str(c) for c in class_names]
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        t = int(target)
    elif isinstance(target, str) and target.strip().lstrip("-").isdigit() and target.strip().lower() not in \
            [n.lower() for n in names]:
        t = int(target.strip())
    elif isinstance(target, str):
        low = [n.lower() for n in names]
        key = target.strip().lower()
        if key not in low:
            raise InputError(f"target class {target!r} is not one of the model's classes: {', '.join(names) or '(none)'}")
        t = low.index(key)
    else:
        raise InputError(f"target must be a class index or name, got {type(target).__name__}")
    k = num_outputs if num_outputs is not None else (len(names) or None)
    if t < 0 or (k is not None and t >= k):
        raise InputError(f"target class index {t} is outside 0..{(k or 1) - 1}")
    return t
