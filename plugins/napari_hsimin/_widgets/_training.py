"""Label -> retrain -> re-map: paint mineral classes on a Labels layer, export them as a training set, fine-tune
the current model (or train a new one) in the background, re-map the cube with it, and mark the pixels the new
model is least sure about as the next ones to label (active learning). The loop itself is the package's public
:func:`hsimin.train.retrain_from_labels`; this widget paints, shows and calls it."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (ComboBox, Container, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton,
                              SpinBox)

from hsimin.train.retrain import NEW_MODELS, RetrainResult, export_training_set

from .._convert import (classes_of, labels_to_map, layer_to_cube, suggestions_to_layer_data,
                        training_layer_data)
from ._common import cube_chooser, labels_chooser, load_checkpoint, session
from ._jobs import Job
from ._mapping import add_or_update, show_map

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["LabelTrainWidget", "RetrainResult", "export_training_set", "retrain"]

DEFAULT_LR = {"new": 1e-2, "finetune": 1e-3}
"""Learning rates the widget proposes: a new model learns fast, a trained one is only nudged."""


def _painted(labels_layer) -> tuple:
    mm = labels_to_map(np.asarray(labels_layer.data), {"metadata": labels_layer.metadata,
                                                        "features": labels_layer.features,
                                                        "name": labels_layer.name})
    if not (mm.labels >= 0).any():
        from hsimin.core import InputError
        raise InputError(f"the labels layer {labels_layer.name!r} has no painted pixels yet: pick a class and paint")
    return mm


def retrain(cube, mineral_map, **kw) -> RetrainResult:
    """:func:`hsimin.train.retrain_from_labels` (the public label -> retrain -> re-map loop), as the widget runs it."""
    from hsimin.train.retrain import retrain_from_labels
    return retrain_from_labels(cube, mineral_map, **kw)


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
