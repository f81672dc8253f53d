"""Shared bits of the widgets: the per-viewer session (current model, last map), layer choosers, cached
libraries and models, and the calls into hsimin's public API that more than one widget makes."""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._convert import MAP_KIND, TRAINING_KIND, is_cube_layer, is_labels_with_classes

__all__ = ["Session", "default_checkpoint", "layer_chooser", "library_for", "load_checkpoint", "matcher_for",
           "predict_map", "session"]


@dataclass
class Session:
    """What the widgets of one viewer share: the model in use and the last mineral map made."""

    model_path: str | None = None
    last_map: Any = None
    listeners: list = field(default_factory=list)

    def set_model(self, path) -> None:
        """Make ``path`` the viewer's current model and tell the widgets (closed ones are forgotten)."""
        self.model_path = None if path is None else str(path)
        for fn in list(self.listeners):
            try:
                fn(self.model_path)
            except RuntimeError:           # its Qt widget was deleted
                self.listeners.remove(fn)


_SESSIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def session(viewer) -> Session:
    """The :class:`Session` of a viewer (created on first use)."""
    key = getattr(viewer, "__wrapped__", viewer)  # napari hands widgets a PublicOnlyProxy of the viewer
    s = _SESSIONS.get(key)
    if s is None:
        s = Session(model_path=default_checkpoint())
        _SESSIONS[key] = s
    return s


def default_checkpoint() -> str | None:
    """The shipped default model (``hsimin.models.default_model_path()``) when this hsimin has one, else None."""
    try:
        from hsimin.models import default_model_path
    except ImportError:
        return None
    try:
        p = default_model_path()
    except Exception:  # noqa: BLE001 - no default model installed
        return None
    return str(p) if p is not None and Path(p).is_file() else None


def layer_chooser(viewer, predicate: Callable[[Any], bool], label: str, *, nullable: bool = False):
    """A magicgui ComboBox of the viewer's layers that satisfy ``predicate``, kept up to date as layers come
    and go."""
    from magicgui.widgets import ComboBox

    def choices(_widget=None):
        return [(layer.name, layer) for layer in viewer.layers if predicate(layer)]

    box = ComboBox(label=label, choices=choices, nullable=nullable)

    def refresh(event=None):
        try:
            box.reset_choices()
        except RuntimeError:  # the widget was closed
            pass
        if box.value is None and not nullable:
            opts = choices()
            if opts:
                box.value = opts[-1][1]

    viewer.layers.events.inserted.connect(refresh)
    viewer.layers.events.removed.connect(refresh)
    viewer.layers.events.moved.connect(refresh)
    refresh()
    return box


def cube_chooser(viewer, label: str = "cube"):
    return layer_chooser(viewer, is_cube_layer, label)


def labels_chooser(viewer, label: str = "labels", kinds=(TRAINING_KIND, MAP_KIND)):
    return layer_chooser(viewer, lambda lyr: is_labels_with_classes(lyr) and
                         (lyr.metadata or {}).get("hsimin_kind") in kinds, label)


def library_for(wavelengths, fwhm=None, artefacts: bool = True):
    """The one reference library (:func:`hsimin.classical.references.reference_library`: the core SWIR minerals
    plus the tray materials) resampled to these bands."""
    from hsimin.classical.references import reference_library
    from hsimin.preprocess.resample import resample_library
    wl = np.ascontiguousarray(wavelengths, dtype=np.float64)
    fw = None if fwhm is None else np.ascontiguousarray(np.broadcast_to(fwhm, wl.shape), dtype=np.float64)
    return resample_library(reference_library(artefacts=artefacts), wl, fw)


def matcher_for(method: str, wavelengths, fwhm=None, artefacts: bool = True):
    """A library matcher (``sam``, ``sid``, ``match``, ``mixture``) fitted on those references for these bands:
    :func:`hsimin.classical.interpretation.library_matcher` (cached there)."""
    from hsimin.classical.interpretation import library_matcher
    est, _ = library_matcher(method, wavelengths, fwhm, None, artefacts=artefacts, fit_range=(-np.inf, np.inf))
    return est


_MODELS: dict = {}


def load_checkpoint(path, device: str = "cpu"):
    """``hsimin.models.load_model`` with a cache keyed by path, modification time and device."""
    from hsimin.core import ModelError
    from hsimin.models import load_model

    if path is None or str(path).strip() in ("", "."):
        raise ModelError("no model chosen: pick a checkpoint (.pt) or train one in the 'Label & retrain' widget")
    from hsimin.models.device import resolve_device

    dev = str(resolve_device(device))
    p = Path(os.fspath(path))
    key = (str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0, dev)
    if key not in _MODELS:
        if len(_MODELS) > 4:
            _MODELS.clear()
        _MODELS[key] = load_model(p, map_location=dev)
    return _MODELS[key]


def predict_map(cube, loaded, *, device: str = "cpu", progress=None):
    """A mineral map of a cube from a trained model, as the map widget makes it
    (:func:`hsimin.predict.workflow.classify_cube`)."""
    from hsimin.predict.workflow import classify_cube
    return classify_cube(cube, loaded, device=device, progress=progress).map
