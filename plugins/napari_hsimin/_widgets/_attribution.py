"""Attribution map widget: for a chosen class and band window, how much that window pushes every pixel towards
the class (``hsimin.explain.attribution_map``), computed in the background and shown as an Image layer with a
diverging colour map."""
from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label, ProgressBar, PushButton

from .._convert import attribution_to_layer_data, layer_to_cube
from ._common import cube_chooser, load_checkpoint, session
from ._jobs import Job
from ._mapping import add_or_update

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["AttributionMapWidget", "BAND_WINDOWS"]

BAND_WINDOWS = [
    ("AlOH 2200 nm (2180-2230)", (2180.0, 2230.0)),
    ("kaolin doublet 2160 nm (2150-2185)", (2150.0, 2185.0)),
    ("FeOH 2250 nm (2235-2270)", (2235.0, 2270.0)),
    ("MgOH / CO3 2330 nm (2300-2360)", (2300.0, 2360.0)),
    ("H2O 1900 nm (1880-1960)", (1880.0, 1960.0)),
    ("OH 1400 nm (1380-1450)", (1380.0, 1450.0)),
    ("custom", None),
]
"""Band-window presets: the diagnostic SWIR features."""


class AttributionMapWidget(Container):
    """Attribution of one class to one band window, for every pixel of a cube."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.session = session(viewer)
        self.cube = cube_chooser(viewer)
        self.checkpoint = FileEdit(label="model", filter="*.pt", mode="r", value=self.session.model_path or "")
        self._classes: list = []      # the model's classes (a callable keeps them through napari's reset_choices)
        self.target = ComboBox(label="class", choices=lambda _w: list(self._classes))
        self.preset = ComboBox(label="band window", choices=[(n, n) for n, _ in BAND_WINDOWS],
                               value=BAND_WINDOWS[0][0])
        self.lo = FloatSpinBox(label="from (nm)", min=300.0, max=20000.0, step=5.0, value=2180.0)
        self.hi = FloatSpinBox(label="to (nm)", min=300.0, max=20000.0, step=5.0, value=2230.0)
        self.method = ComboBox(label="method", value="occlusion",
                               choices=[("band-window occlusion (fast)", "occlusion"),
                                        ("integrated gradients", "ig"), ("saliency", "saliency")])
        self.device = ComboBox(label="device", choices=["cpu", "auto", "cuda"], value="cpu")
        self.run_button = PushButton(text="Attribution map")
        self.cancel_button = PushButton(text="Cancel")
        self.progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self.status = Label(value="")
        self.extend([self.cube, self.checkpoint, self.target, self.preset, self.lo, self.hi, self.method, self.device,
                     Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False),
                     self.progress, self.status])
        self.job = Job(self.progress, self.status, self.cancel_button, [self.run_button])
        self.layer = None
        self.checkpoint.changed.connect(self._on_checkpoint)
        self.preset.changed.connect(self._on_preset)
        self.run_button.changed.connect(self.run)
        self.session.listeners.append(self._on_session_model)
        self._on_checkpoint()

    def _on_session_model(self, path) -> None:
        if path:
            self.checkpoint.value = path

    def _on_checkpoint(self, *_) -> None:
        value = str(self.checkpoint.value)
        classes: list = []
        if value not in ("", "."):
            try:
                classes = list(load_checkpoint(value).class_names)
            except Exception as exc:  # noqa: BLE001 - shown in the widget
                self.job._set_status(f"model: {exc}", error=True)
        self._classes = classes
        self.target.reset_choices()
        if classes:
            self.target.value = classes[0]

    def _on_preset(self, *_) -> None:
        window = dict(BAND_WINDOWS).get(self.preset.value)
        if window is not None:
            self.lo.value, self.hi.value = window

    def run(self, *_):
        """Start the attribution map; returns the worker."""
        layer = self.cube.value
        if layer is None or self.target.value is None:
            self.job._fail(ValueError("choose a cube and a model with classes first"))
            return None
        cube = layer_to_cube(layer)
        ckpt, target, method, device = str(self.checkpoint.value), self.target.value, self.method.value, \
            self.device.value
        window = (float(self.lo.value), float(self.hi.value))
        name = f"why {target} @ {window[0]:.0f}-{window[1]:.0f} nm ({method})"

        def work(report):
            from hsimin.explain import attribution_map
            loaded = load_checkpoint(ckpt, device)
            return attribution_map(loaded, cube, target, window, method=method, device=device, progress=report)

        def done(values):
            self.layer = add_or_update(self.viewer, attribution_to_layer_data(values, name, target=target,
                                                                               band_window=window, method=method))

        return self.job.start(work, done, what=f"attribution map for {target}")
