"""hsimin.explain (torch side): why a model calls a pixel what it calls it, and how sure it is.

* :func:`attribute_spectrum` — Captum attributions of one spectrum (or k x k patch) over wavelength: integrated
  gradients (``"ig"``), saliency (``"saliency"``) or band-window occlusion (``"occlusion"``), returned as an
  :class:`Attribution` (one value per model input band, with the wavelengths in nm).
* :func:`explain_pixel` — the same for one pixel of a :class:`~hsimin.core.Cube` (what ``hsimin explain`` and the
  napari spectrum inspector call).
* :func:`attribution_map` — for a whole cube, the attribution of one class summed over a band window, as an
  (H, W) image ("how much does the 2200 nm AlOH feature push each pixel towards white mica?").
* :mod:`hsimin.explain.plots` (numpy + matplotlib only) — :func:`plot_attribution`, :func:`mark_features` and
  :data:`DIAGNOSTIC_FEATURES` (1400, 1900, 2160, 2200, 2250, 2330 nm ...).
* :mod:`hsimin.explain.uncertainty` (numpy only) — :func:`margin_map` and :func:`suggest_pixels`: the pixels a
  model is least sure about, the next ones worth labelling (active learning).

Captum is an optional dependency (``pip install "hsimin[explain]"``); it is imported only here, when an
attribution is asked for, and its absence raises :class:`MissingDependencyError` saying how to install it.
Names are resolved lazily so ``import hsimin.explain.plots`` or ``.uncertainty`` does not import torch.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "Attribution": "hsimin.explain.attribution",
    "ATTRIBUTION_METHODS": "hsimin.explain.attribution",
    "BASELINES": "hsimin.explain.attribution",
    "attribute_spectrum": "hsimin.explain.attribution",
    "attribution_map": "hsimin.explain.attribution",
    "explain_pixel": "hsimin.explain.attribution",
    "model_input": "hsimin.explain.inputs",
    "resolve_target": "hsimin.explain.inputs",
    "MissingDependencyError": "hsimin.core.errors",
    "DIAGNOSTIC_FEATURES": "hsimin.explain.plots",
    "draw_attribution": "hsimin.explain.plots",
    "mark_features": "hsimin.explain.plots",
    "plot_attribution": "hsimin.explain.plots",
    "margin_map": "hsimin.explain.uncertainty",
    "suggest_pixels": "hsimin.explain.uncertainty",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hsimin.explain' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
