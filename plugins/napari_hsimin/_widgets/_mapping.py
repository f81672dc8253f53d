"""Mineral map widget: hsimin's interpretation (the default of ``hsimin identify``: SWIR minerals with weights,
aspectral, unknown, tray artefacts; or the VNIR ferric mineral), a whole-spectrum library matcher (SAM, SID,
feature match, two-mineral mixture) or a trained model on the chosen cube, in the background with a progress bar
and cancel; the result is a Labels layer with the mineral names and colours, a legend, the confidence as an Image
layer, and on request the absorption-feature scalar maps (2200/2250/2330 nm positions and depths ...) as Image
layers.

The widget keeps no mapping logic of its own: it calls the one interpretation workflow of the package,
:func:`hsimin.classical.interpretation.map_minerals` (library methods) and
:func:`hsimin.predict.workflow.classify_cube` (a model), as ``hsimin identify`` and ``hsimin classify`` do."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSlider, Label, ProgressBar, PushButton
from qtpy.QtCore import Qt

from .._convert import (feature_maps_to_layer_data, layer_to_cube, legend_entries, legend_html,
                        map_to_layer_data)
from ._common import cube_chooser, load_checkpoint, session
from ._jobs import Job

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["MapWidget", "add_or_update", "show_map"]

METHODS = [("interpretation: SWIR minerals, aspectral, artefacts", "unmix"),
           ("interpretation: VNIR ferric mineral", "unmix-vnir"),
           ("library: spectral angle (SAM)", "sam"), ("library: information divergence (SID)", "sid"),
           ("library: absorption-feature match", "match"), ("library: two-mineral mixture", "mixture"),
           ("trained model (checkpoint)", "model")]


def add_or_update(viewer, layer_data) -> object:
    """Add a LayerData tuple as a layer, or update the layer of the same name and type in place."""
    data, kwargs, kind = layer_data
    name = kwargs.get("name")
    layer = next((lyr for lyr in viewer.layers if lyr.name == name and type(lyr).__name__.lower() == kind), None)
    if layer is None:
        return getattr(viewer, f"add_{kind}")(data, **kwargs)
    layer.data = data
    for key in ("colormap", "features", "metadata", "contrast_limits"):
        if key in kwargs:
            setattr(layer, key, kwargs[key])
    return layer


def show_map(viewer, mineral_map, name: str, min_confidence: float = 0.0):
    """Show a mineral map: a Labels layer (and its confidence as an Image layer, hidden). Returns the labels
    layer."""
    layers = [add_or_update(viewer, ld) for ld in
              map_to_layer_data(mineral_map, name=name, min_confidence=min_confidence)[::-1]]
    labels = layers[-1]
    viewer.layers.selection.active = labels
    return labels


class MapWidget(Container):
    """Run a library identification or a trained model on a cube and show the mineral map."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.session = session(viewer)
        self.cube = cube_chooser(viewer)
        self.method = ComboBox(label="method", choices=METHODS, value="unmix")
        self.checkpoint = FileEdit(label="model", filter="*.pt", mode="r", value=self.session.model_path or "")
        self.device = ComboBox(label="device", choices=["cpu", "auto", "cuda"], value="cpu")
        self.mask_background = CheckBox(text="leave out tray and background (hsimin.preprocess.mask_cube)",
                                        value=True)
        self.artefacts = CheckBox(text="match tray artefacts too (plastic, wood, metal, cardboard)", value=True)
        self.min_confidence = FloatSlider(label="min confidence", min=0.0, max=1.0, step=0.01, value=0.0)
        self.run_button = PushButton(text="Map minerals")
        self.features_button = PushButton(text="Feature maps (2200/2250/2330 nm ...)")
        self.cancel_button = PushButton(text="Cancel")
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = Label(value="")
        self.legend = Label(value="", label="")
        self.legend.native.setTextFormat(Qt.TextFormat.RichText)
        self.extend([self.cube, self.method, self.checkpoint, self.device, self.mask_background, self.artefacts,
                     self.min_confidence,
                     Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False),
                     self.features_button, self.progress, self.status, self.legend])
        self.job = Job(self.progress, self.status, self.cancel_button, [self.run_button, self.features_button])
        self.map_layer = None
        self.last_map = None
        self.feature_layers: list = []
        self.run_button.changed.connect(self.run)
        self.features_button.changed.connect(self.run_features)
        self.method.changed.connect(self._on_method)
        self.artefacts.changed.connect(self._on_method)
        self.min_confidence.changed.connect(self._apply_threshold)
        self.session.listeners.append(self._on_session_model)
        self._on_method()

    # ------------------------------------------------------------------ actions
    def run(self, *_):
        """Start mapping the chosen cube with the chosen method; returns the worker."""
        layer = self.cube.value
        if layer is None:
            self.job._fail(ValueError("no cube layer: open a cube first"))
            return None
        cube = layer_to_cube(layer)
        method = self.method.value
        name = f"{layer.name} minerals ({method})"
        device = self.device.value
        ckpt = str(self.checkpoint.value)
        need_mask = self.mask_background.value and cube.mask is None
        artefacts = self.artefacts.value

        def work(report):
            nonlocal cube
            if need_mask:
                import dataclasses

                from hsimin.preprocess.masking import mask_cube
                report(0, 1, "finding the core (tray and background left out)")
                cube = dataclasses.replace(cube, mask=mask_cube(cube))
            if method == "model":
                from hsimin.predict.workflow import classify_cube
                loaded = load_checkpoint(ckpt, device)
                res = classify_cube(cube, loaded, artefact_screen=artefacts, device=device, progress=report)
                return res.map, name, cube.mask
            from hsimin.classical.interpretation import map_minerals
            report(0, 1, "preparing the reference library")
            unmix = method.startswith("unmix")
            result = map_minerals(cube, "unmix" if unmix else method, range="vnir" if method == "unmix-vnir"
                                  else "swir", artefacts=artefacts, top_k=5, features=False, progress=report)
            return result.map, name, cube.mask

        def done(result):
            mineral_map, name_, mask = result
            if need_mask and mask is not None and layer in self.viewer.layers:
                layer.metadata = {**layer.metadata, "mask": mask}  # the other widgets use it from now on
            self._show_result((mineral_map, name_))

        return self.job.start(work, done, what=f"mapping {layer.name} ({method})")

    def run_features(self, *_):
        """Start computing the absorption-feature scalar maps of the chosen cube."""
        layer = self.cube.value
        if layer is None:
            self.job._fail(ValueError("no cube layer: open a cube first"))
            return None
        cube = layer_to_cube(layer)
        prefix = f"{layer.name} "

        def work(report):
            from hsimin.classical import map_features
            return map_features(cube, progress=report)

        def done(features):
            keep = {k: v for k, v in features.items() if k.endswith(("_wavelength_nm", "_depth"))}
            self.feature_layers = [add_or_update(self.viewer, ld)
                                   for ld in feature_maps_to_layer_data(keep, prefix=prefix)]

        return self.job.start(work, done, what=f"feature maps of {layer.name}")

    # ------------------------------------------------------------------ results
    def _show_result(self, result) -> None:
        mineral_map, name = result
        self.last_map = mineral_map
        self.session.last_map = mineral_map
        self.map_layer = show_map(self.viewer, mineral_map, name, self.min_confidence.value)
        self._update_legend()

    def _apply_threshold(self, *_) -> None:
        if self.last_map is None or self.map_layer is None or self.map_layer not in self.viewer.layers:
            return
        data, kwargs, _ = map_to_layer_data(self.last_map, name=self.map_layer.name,
                                            min_confidence=self.min_confidence.value, confidence=False)[0]
        self.map_layer.data = data
        self.map_layer.features = kwargs["features"]
        self.map_layer.metadata = kwargs["metadata"]
        self._update_legend()

    def _update_legend(self) -> None:
        if self.map_layer is None:
            self.legend.value = ""
            return
        classes = self.map_layer.metadata.get("classes", [])
        entries = legend_entries(classes, np.asarray(self.map_layer.data), min_fraction=0.0)
        unclassified = float(np.mean(np.asarray(self.map_layer.data) == 0))
        self.legend.value = legend_html(entries, title=f"{self.map_layer.name}<br/>"
                                                       f"<small>{100 * unclassified:.0f}% of pixels unclassified"
                                                       f"</small>")

    def _on_method(self, *_) -> None:
        model = self.method.value == "model"
        self.checkpoint.visible = model
        self.device.visible = model
        # library: match the artefact spectra too; model: screen the tray out before the model (no tray class)
        self.artefacts.text = ("screen out the tray (plastic, wood, metal, cardboard) first" if model
                               else "match tray artefacts too (plastic, wood, metal, cardboard)")

    def _on_session_model(self, path) -> None:
        if path:
            self.checkpoint.value = path
