"""Label -> retrain -> re-map: paint mineral classes on a Labels layer, export them as a training set, fine-tune
the current model (or train a new one) in the background, re-map the cube with it, and mark the pixels the new
model is least sure about as the next ones to label (active learning)."""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from magicgui.widgets import (ComboBox, Container, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton,
                              SpinBox)

from .._convert import (classes_of, labels_to_map, layer_to_cube, suggestions_to_layer_data,
                        training_layer_data)
from ._common import cube_chooser, labels_chooser, load_checkpoint, predict_map, session
from ._jobs import Job
from ._mapping import add_or_update, show_map

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["LabelTrainWidget", "RetrainResult", "export_training_set", "retrain"]

NEW_MODELS = {
    "fastspec (fast pixel MLP)": {"backbone": {"name": "fastspec", "widths": [64], "normalize": True},
                                  "head": "linear", "patch_size": 1},
    "cnn1d (spectral 1-D CNN)": {"backbone": {"name": "cnn1d", "widths": [16, 32], "kernel_size": 7},
                                 "head": "linear", "patch_size": 1},
}
"""Architectures offered for a new model (pixel models on reflectance, brightness-normalised by fastspec: they train
in seconds on a few hundred painted pixels)."""

DEFAULT_LR = {"new": 1e-2, "finetune": 1e-3}
"""Learning rates the widget proposes: a new model learns fast, a trained one is only nudged."""


@dataclass
class RetrainResult:
    checkpoint: str
    class_names: tuple
    history: list
    n_samples: int
    counts: dict
    mineral_map: Any = None
    suggestions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    seconds: float = 0.0


def _painted(labels_layer) -> tuple:
    mm = labels_to_map(np.asarray(labels_layer.data), {"metadata": labels_layer.metadata,
                                                        "features": labels_layer.features,
                                                        "name": labels_layer.name})
    if not (mm.labels >= 0).any():
        from hsimin.core import InputError
        raise InputError(f"the labels layer {labels_layer.name!r} has no painted pixels yet: pick a class and paint")
    return mm


def export_training_set(cube, mineral_map, path, *, overwrite: bool = True) -> Path:
    """Write painted labels as a training set (hsimin HDF5): the label raster with its class names at
    ``/maps/labels`` and the labelled spectra at ``/training`` (``x`` (N, B) reflectance, ``y`` (N,) class
    index, ``rows``, ``cols``, ``wavelengths``; class names and the cube's source as attributes)."""
    from hsimin.data import cube_samples
    from hsimin.io.hdf5 import write_hdf5

    s = cube_samples(cube, mineral_map.labels, mineral_map.classes)
    Path(os.fspath(path)).parent.mkdir(parents=True, exist_ok=True)
    arrays = {"x": s.x, "y": s.y, "rows": s.coords[:, 1], "cols": s.coords[:, 2],
              "wavelengths": np.asarray(cube.wavelengths, dtype=np.float64)}
    attrs = {"class_names": list(s.class_names), "cube_source": cube.meta.source or "",
             "counts": s.counts(), "written_by": "napari-hsimin"}
    return write_hdf5(path, maps={"labels": mineral_map}, arrays={"training": arrays},
                      arrays_attrs={"training": attrs}, overwrite=overwrite)


def retrain(cube, mineral_map, *, base_checkpoint: str | None, new_spec: dict | None, out_path, epochs: int = 40,
            lr: float = 1e-2, device: str = "cpu", n_suggest: int = 20, remap: bool = True,
            report: Callable | None = None) -> RetrainResult:
    """Fine-tune ``base_checkpoint`` (or train ``new_spec`` from scratch) on the painted labels, save it, re-map
    the cube and suggest the least certain pixels. ``report(done, total, message)`` follows the epochs and the
    re-mapping (it may raise to cancel)."""
    import torch

    from hsimin.data import cube_samples
    from hsimin.data.datasets import TensorSamples
    from hsimin.explain import suggest_pixels
    from hsimin.explain.inputs import model_input
    from hsimin.models import create_model, load_model, save_model, to_torch
    from hsimin.train import fit

    t0 = time.perf_counter()
    say = report or (lambda *a, **k: None)
    painted = [c for i, c in enumerate(mineral_map.classes) if (mineral_map.labels == i).any()]
    extra: dict = {"trained_in": "napari-hsimin", "epochs": int(epochs)}
    if base_checkpoint:
        base = load_model(base_checkpoint, map_location="cpu")
        classes = list(base.class_names) + [c for c in painted if c not in base.class_names]
        recipe, wl_model = base.recipe, base.wavelengths
        if len(classes) == len(base.class_names):
            model = base.model
        else:  # new classes: same architecture with a wider head, backbone weights carried over
            from hsimin.train.run import init_backbone_from
            spec = dict(base.spec)
            spec["head"] = {**dict(spec["head"]), "num_outputs": len(classes)}
            model = create_model(spec)
            init_backbone_from(model, base_checkpoint)
        extra["base_model"] = base.model_hash
        view_src = base
    else:  # a new pixel model on the cube's own bands (reflectance as it is)
        classes = painted
        recipe, wl_model, view_src, model = None, None, None, None
    samples = cube_samples(cube, mineral_map.labels, mineral_map.classes, target_classes=classes)
    if view_src is not None:
        x, wl = model_input(view_src, samples.x, cube.wavelengths, cube.fwhm)
    else:
        x, wl = np.asarray(samples.x, dtype=np.float32), np.asarray(cube.wavelengths, dtype=np.float64)
    ok = np.isfinite(x).all(axis=1)
    x, y = x[ok], samples.y[ok]
    if x.shape[0] < 2:
        from hsimin.core import InputError
        raise InputError(f"only {x.shape[0]} usable labelled pixels; paint more (on core, not on the tray)")
    if model is None:
        spec = {**dict(new_spec or NEW_MODELS["fastspec (fast pixel MLP)"]), "in_bands": int(x.shape[1]),
                "num_outputs": len(classes)}
        torch.manual_seed(0)
        model = create_model(spec)
    ds = TensorSamples(to_torch(x), torch.from_numpy(y.astype(np.int64)), class_names=classes, wavelengths=wl)
    epoch = {"n": 0}

    def log(line: str) -> None:
        epoch["n"] += 1
        say(epoch["n"], int(epochs) + (1 if remap else 0), f"training: {line}")

    result = fit(model, ds, None, epochs=int(epochs), batch_size=min(64, max(2, len(ds))), lr=float(lr),
                 patience=None, balance=True, device=device, progress=False, log=log)
    counts = {c: int((y == i).sum()) for i, c in enumerate(classes) if (y == i).any()}
    extra["labels_per_class"] = counts
    out = Path(os.fspath(out_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(result.model.to("cpu"), out, wavelengths=wl if wl_model is None else wl_model, class_names=classes,
               recipe=recipe, extra=extra, overwrite=True)
    res = RetrainResult(str(out), tuple(classes), result.history, int(x.shape[0]), counts)
    if remap:
        say(int(epochs), int(epochs) + 1, "re-mapping the cube with the new model")
        loaded = load_model(out, map_location="cpu")
        res.mineral_map = predict_map(cube, loaded, device=device)
        res.suggestions = suggest_pixels(res.mineral_map, int(n_suggest), mask=cube.mask,
                                         exclude=mineral_map.labels >= 0)
        say(int(epochs) + 1, int(epochs) + 1, "re-mapped")
    res.seconds = time.perf_counter() - t0
    return res


class LabelTrainWidget(Container):
    """Paint classes, export a training set, retrain, re-map, and get the next pixels to label."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.session = session(viewer)
        self.cube = cube_chooser(viewer)
        self.class_source = ComboBox(label="classes from", value="model",
                                     choices=[("the current model", "model"), ("the sample tray minerals + plastic", "tray"),
                                              ("hsimin's mineral vocabulary", "vocabulary")])
        self.new_layer_button = PushButton(text="New labels layer")
        self.labels = labels_chooser(viewer, "labels")
        self.paint_class = ComboBox(label="paint class", choices=self._paint_choices)
        self.export_path = FileEdit(label="training set", mode="w", filter="*.h5",
                                    value=str(Path(tempfile.gettempdir()) / "hsimin-napari" / "training_set.h5"))
        self.export_button = PushButton(text="Export training set")
        self.checkpoint = FileEdit(label="current model", filter="*.pt", mode="r",
                                   value=self.session.model_path or "")
        self.mode = ComboBox(label="training", value="finetune",
                             choices=[("fine-tune the current model", "finetune"), ("train a new model", "new")])
        self.architecture = ComboBox(label="new model", choices=list(NEW_MODELS), value=list(NEW_MODELS)[0])
        self.epochs = SpinBox(label="epochs", min=1, max=500, value=40)
        self.lr = FloatSpinBox(label="learning rate", min=1e-5, max=1.0, step=1e-4, value=DEFAULT_LR["finetune"])
        self.device = ComboBox(label="device", choices=["cpu", "auto", "cuda"], value="cpu")
        self.out_path = FileEdit(label="save model as", mode="w", filter="*.pt",
                                 value=str(Path(tempfile.gettempdir()) / "hsimin-napari" / "retrained.pt"))
        self.n_suggest = SpinBox(label="suggest pixels", min=1, max=500, value=20)
        self.train_button = PushButton(text="Train, re-map and suggest")
        self.suggest_button = PushButton(text="Suggest pixels from the current map")
        self.cancel_button = PushButton(text="Cancel")
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = Label(value="")
        self.extend([self.cube, self.class_source, self.new_layer_button, self.labels, self.paint_class,
                     self.export_path, self.export_button, self.checkpoint, self.mode, self.architecture,
                     self.epochs, self.lr, self.device, self.out_path, self.n_suggest,
                     Container(widgets=[self.train_button, self.cancel_button], layout="horizontal", labels=False),
                     self.suggest_button, self.progress, self.status])
        self.job = Job(self.progress, self.status, self.cancel_button,
                       [self.train_button, self.export_button, self.suggest_button])
        self.last_result: RetrainResult | None = None
        self.map_layer = None
        self.suggestions_layer = None
        self.new_layer_button.changed.connect(self.new_labels_layer)
        self.labels.changed.connect(self._on_labels)
        self.paint_class.changed.connect(self._on_paint_class)
        self.export_button.changed.connect(self.export)
        self.train_button.changed.connect(self.train)
        self.suggest_button.changed.connect(self.suggest)
        self.mode.changed.connect(self._on_mode)
        self.session.listeners.append(self._on_session_model)
        self._on_mode()
        self._on_labels()

    # ------------------------------------------------------------------ classes and layers
    def class_list(self) -> list[str]:
        """The classes a new labels layer offers, from the chosen source."""
        src = self.class_source.value
        if src == "model":
            value = str(self.checkpoint.value)
            if value not in ("", "."):
                return list(load_checkpoint(value).class_names)
            src = "tray"
        if src == "tray":
            from hsimin.samples import TRAY_MINERALS
            return [*TRAY_MINERALS, "plastic"]          # the tray floor is a class too
        from hsimin.core.vocabulary import vocabulary_names
        return vocabulary_names()

    def new_labels_layer(self, *_):
        """Add an empty labels layer over the cube with the chosen class list, ready to paint."""
        layer = self.cube.value
        if layer is None:
            self.job._fail(ValueError("no cube layer: open a cube first"))
            return None
        try:
            classes = self.class_list()
        except Exception as exc:  # noqa: BLE001
            self.job._fail(exc)
            return None
        from hsimin.core import ScanMeta
        data, kwargs, _ = training_layer_data(layer.data.shape, classes, name=f"{layer.name} training labels",
                                              meta=ScanMeta.from_dict(layer.metadata.get("scan_meta")))
        new = self.viewer.add_labels(data, **kwargs)
        self.labels.value = new
        self._on_labels()
        new.mode = "paint"
        return new

    def _paint_choices(self, _widget=None) -> list:
        layer = self.labels.value if hasattr(self, "labels") else None
        return list((classes_of(layer) if layer is not None else None) or [])

    def _on_labels(self, *_) -> None:
        self.paint_class.reset_choices()

    def _on_paint_class(self, *_) -> None:
        layer, name = self.labels.value, self.paint_class.value
        classes = classes_of(layer) if layer is not None else None
        if classes and name in classes:
            layer.selected_label = classes.index(name) + 1
            self.viewer.layers.selection.active = layer
            layer.mode = "paint"

    def _on_mode(self, *_) -> None:
        self.architecture.visible = self.mode.value == "new"
        self.lr.value = DEFAULT_LR[self.mode.value]

    def _on_session_model(self, path) -> None:
        if path:
            self.checkpoint.value = path

    # ------------------------------------------------------------------ actions
    def export(self, *_):
        """Write the painted labels and their spectra as an HDF5 training set; returns the path."""
        try:
            cube = layer_to_cube(self.cube.value)
            mm = _painted(self.labels.value)
            path = export_training_set(cube, mm, self.export_path.value)
        except Exception as exc:  # noqa: BLE001
            self.job._fail(exc)
            return None
        n = int((mm.labels >= 0).sum())
        self.job._set_status(f"training set: {n} labelled pixels -> {path}")
        return path

    def train(self, *_):
        """Start fine-tuning (or training), re-mapping and suggesting in the background; returns the worker."""
        try:
            cube_layer = self.cube.value
            cube = layer_to_cube(cube_layer)
            mm = _painted(self.labels.value)
        except Exception as exc:  # noqa: BLE001
            self.job._fail(exc)
            return None
        finetune = self.mode.value == "finetune"
        base = str(self.checkpoint.value) if finetune and str(self.checkpoint.value) not in ("", ".") else None
        if finetune and base is None:
            self.job._fail(ValueError("no current model to fine-tune: choose one, or 'train a new model'"))
            return None
        spec = NEW_MODELS[self.architecture.value]
        kw = dict(base_checkpoint=base, new_spec=spec, out_path=self.out_path.value, epochs=self.epochs.value,
                  lr=self.lr.value, device=self.device.value, n_suggest=self.n_suggest.value)
        name = f"{cube_layer.name} minerals (retrained)"

        def work(report):
            return retrain(cube, mm, report=report, **kw)

        return self.job.start(work, lambda res: self._show(res, name), what="retraining")

    def _show(self, res: RetrainResult, name: str) -> None:
        self.last_result = res
        self.session.set_model(res.checkpoint)
        if res.mineral_map is not None:
            self.session.last_map = res.mineral_map
            self.map_layer = show_map(self.viewer, res.mineral_map, name)
            self._show_suggestions(res.mineral_map, res.suggestions)
        self.job._set_status(f"model saved: {res.checkpoint} ({res.n_samples} labelled pixels, "
                             f"{len(res.history)} epochs, {res.seconds:.0f} s); "
                             f"{len(res.suggestions)} pixels to label next")
        lab = self.labels.value
        if lab is not None and lab in self.viewer.layers:
            # the painted labels above the new map, the suggestions above both
            self.viewer.layers.move(self.viewer.layers.index(lab), len(self.viewer.layers))
            if self.suggestions_layer is not None and self.suggestions_layer in self.viewer.layers:
                self.viewer.layers.move(self.viewer.layers.index(self.suggestions_layer), len(self.viewer.layers))
            self.viewer.layers.selection.active = lab

    def suggest(self, *_):
        """Mark the least certain pixels of the last map (from this widget, or the map widget)."""
        mm = self.session.last_map
        if mm is None:
            self.job._fail(ValueError("no mineral map yet: map the cube first (Mineral map widget) or retrain"))
            return None
        from hsimin.explain import suggest_pixels
        labelled = None
        if self.labels.value is not None and np.shape(self.labels.value.data) == mm.shape:
            labelled = np.asarray(self.labels.value.data) > 0
        mask = None
        if self.cube.value is not None:
            mask = self.cube.value.metadata.get("mask")
        pts = suggest_pixels(mm, int(self.n_suggest.value), mask=mask, exclude=labelled)
        self._show_suggestions(mm, pts)
        return pts

    def _show_suggestions(self, mm, pts: np.ndarray) -> None:
        from hsimin.explain import margin_map
        margin = margin_map(mm)
        names = mm.names()
        r, c = (pts[:, 0], pts[:, 1]) if len(pts) else (np.zeros(0, int), np.zeros(0, int))
        ld = suggestions_to_layer_data(pts, margin[r, c], [str(n) for n in names[r, c]], name="label next")
        self.suggestions_layer = add_or_update(self.viewer, ld)
