"""Shared bits of the widgets: the per-viewer session (current model, last map), layer choosers, cached
libraries and models, and the calls into hsimin's public API that more than one widget makes."""
from __future__ import annotations

import functools
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


LIBRARY = "usgs_splib07"
ARTEFACTS = "usgs_artefacts"


@functools.lru_cache(maxsize=4)
def _library_on(wl_key: bytes, fwhm_key: bytes | None, artefacts: bool):
    from hsimin.core import SpectralLibrary
    from hsimin.io.libraries import load_library

    wl = np.frombuffer(wl_key, dtype=np.float64)
    fwhm = None if fwhm_key is None else np.frombuffer(fwhm_key, dtype=np.float64)
    ids = [LIBRARY] + ([ARTEFACTS] if artefacts else [])
    parts = [load_library(i, wavelengths=wl, fwhm=fwhm) for i in ids]
    attrs = {}
    if all(p.attrs.get("is_mixture") is not None for p in parts):
        attrs["is_mixture"] = [bool(v) for p in parts for v in p.attrs["is_mixture"]]
    return SpectralLibrary(np.vstack([p.spectra for p in parts]), wl, [n for p in parts for n in p.names],
                           [m for p in parts for m in p.minerals], source="+".join(ids), fwhm=fwhm, attrs=attrs)


def library_for(wavelengths, fwhm=None, artefacts: bool = True):
    """The USGS splib07 minerals (plus the tray artefact spectra: plastic, wood, metal, cardboard, so the tray
    is named for what it is) resampled to these bands from each instrument's own grid; cached."""
    wl = np.ascontiguousarray(wavelengths, dtype=np.float64)
    fw = None if fwhm is None else np.ascontiguousarray(np.broadcast_to(fwhm, wl.shape), dtype=np.float64)
    return _library_on(wl.tobytes(), None if fw is None else fw.tobytes(), bool(artefacts))


@functools.lru_cache(maxsize=8)
def _matcher(method: str, wl_key: bytes, fwhm_key: bytes | None, artefacts: bool):
    from hsimin.classical import make_identifier, prepare_library

    wl = np.frombuffer(wl_key, dtype=np.float64)
    fwhm = None if fwhm_key is None else np.frombuffer(fwhm_key, dtype=np.float64)
    lib = prepare_library(library_for(wl, fwhm, artefacts), wl, fwhm)
    est = make_identifier(method, wavelengths=wl)
    est.fit(lib.spectra.astype(np.float32), np.asarray(lib.minerals, dtype=object))
    return est


def matcher_for(method: str, wavelengths, fwhm=None, artefacts: bool = True):
    """A library matcher (``sam``, ``sid``, ``match``, ``mixture``) fitted on :func:`library_for` these bands
    (cached)."""
    wl = np.ascontiguousarray(wavelengths, dtype=np.float64)
    fw = None if fwhm is None else np.ascontiguousarray(fwhm, dtype=np.float64)
    return _matcher(method, wl.tobytes(), None if fw is None else fw.tobytes(), bool(artefacts))


_MODELS: dict = {}


def load_checkpoint(path, device: str = "cpu"):
    """``hsimin.models.load_model`` with a cache keyed by path, modification time and device."""
    from hsimin.core import ModelError
    from hsimin.models import load_model

    if path is None or str(path).strip() in ("", "."):
        raise ModelError("no model chosen: pick a checkpoint (.pt) or train one in the 'Label & retrain' widget")
    from hsimin.train.loop import resolve_device

    dev = str(resolve_device(device))
    p = Path(os.fspath(path))
    key = (str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0, dev)
    if key not in _MODELS:
        if len(_MODELS) > 4:
            _MODELS.clear()
        _MODELS[key] = load_model(p, map_location=dev)
    return _MODELS[key]


def predict_map(cube, loaded, *, device: str = "cpu", progress=None):
    """A mineral map of a cube from a trained model (``hsimin.predict.predict_cube``)."""
    from hsimin.predict import predict_cube
    return predict_cube(cube, loaded, device=device, progress=progress)
