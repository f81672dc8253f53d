"""Spectrum inspector: click a pixel (or hover with Shift held) to see its spectrum, continuum-removed
spectrum, hsimin's interpretation of it (the SWIR Min1/Min2 with weights and error, aspectral or unknown, and the
VNIR answer: :mod:`hsimin.classical.interpretation`, as ``hsimin identify`` gives it), the best library matches,
absorption-feature scalars and, with a model, Captum attributions over wavelength. Pin pixels to compare them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton
from qtpy.QtCore import Qt

from .._convert import layer_to_cube, pixel_of, spectrum_of
from ._common import cube_chooser, load_checkpoint, matcher_for, session

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["PixelReport", "SpectrumInspector", "pixel_answers"]

PIN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
"""Colours of pinned pixels (plot lines and their markers on the canvas)."""

FEATURE_ROWS = (("f1900", "H2O 1900"), ("f2160", "kaolin 2160"), ("f2200", "AlOH 2200"), ("f2250", "FeOH 2250"),
                ("f2330", "MgOH/CO3 2330"))
TOP_K = 5
MAX_PINS = len(PIN_COLORS)


@dataclass(eq=False)
class PixelReport:
    """Everything the inspector shows for one pixel."""

    row: int
    col: int
    wavelengths: np.ndarray
    spectrum: np.ndarray
    continuum_removed: np.ndarray
    matches: list = field(default_factory=list)        # [(mineral, similarity), ...] best first
    features: dict = field(default_factory=dict)       # f2200_wavelength_nm, f2200_depth, ...
    attribution: Any = None                            # hsimin.explain.Attribution or None
    color: str = "k"
    answers: dict = field(default_factory=dict)        # 'swir'/'vnir' -> {answer, min1, wt1, min2, wt2, error}

    @property
    def label(self) -> str:
        best = self.answers.get("swir", {}).get("text") or (self.matches[0][0] if self.matches else "")
        return f"({self.row}, {self.col})" + (f" {best}" if best else "")


def pixel_answers(cube, spectrum) -> dict:
    """hsimin's interpretation of one spectrum (B,) of ``cube``'s bands: per range, the answer text
    (``kaolinite 0.62 + smectite 0.38``, ``aspectral``...), Min1/Min2 with weights and the fit error."""
    from hsimin.classical.interpretation import build_interpreter
    from hsimin.core.errors import HsiminError
    try:
        interp = build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands, features=False)
    except HsiminError:
        return {}
    a = interp.answer(np.asarray(spectrum, np.float32)[None])
    out = {}
    if "swir_labels" in a:
        cls = interp.swir_classes
        k1, k2 = int(a["swir_labels"][0]), int(a["swir_min2"][0])
        w1, w2 = float(a["swir_wt1"][0]), float(a["swir_wt2"][0])
        text = cls[k1] if k1 >= 0 else ""
        if k2 >= 0:
            text = f"{cls[k1]} {w1:.2f} + {cls[k2]} {w2:.2f}"
        out["swir"] = {"text": text, "min1": cls[k1] if k1 >= 0 else "", "wt1": w1,
                       "min2": cls[k2] if k2 >= 0 else "", "wt2": w2, "error": float(a["swir_error"][0]),
                       "closest": cls[int(a["swir_min1"][0])]}
    if "vnir_labels" in a:
        cls = interp.vnir_classes
        k = int(a["vnir_labels"][0])
        out["vnir"] = {"text": cls[k] if k >= 0 else "", "min1": cls[k] if k >= 0 else "",
                       "wt1": float(a["vnir_wt1"][0]), "error": float(a["vnir_error"][0]),
                       "ferric_nm": float(a["vnir_ferric_nm"][0])}
    return out


def info_html(report: PixelReport) -> str:
    """Two small tables side by side: the best library matches, and the absorption-feature scalars."""
    def num(v, fmt):
        return "-" if v is None or not np.isfinite(v) else format(v, fmt)

    matches = "".join(f"<tr><td>{i + 1}</td><td>{m}</td><td align='right'>{s:.4f}</td></tr>"
                      for i, (m, s) in enumerate(report.matches))
    feats = "".join(f"<tr><td>{name}</td><td align='right'>{num(report.features.get(key + '_wavelength_nm'), '.1f')}"
                    f"</td><td align='right'>{num(report.features.get(key + '_depth'), '.3f')}</td></tr>"
                    for key, name in FEATURE_ROWS)
    head = "style='padding-right:6px'"
    ans = ""
    for rng, a in report.answers.items():
        extra = f" (closest {a['closest']})" if a.get("closest") and a["text"] in ("aspectral", "unknown") else ""
        ans += (f"<tr><td {head}>{rng.upper()}</td><td>{a['text']}{extra}</td><td align='right'>"
                f"{num(a.get('error'), '.1f')}</td></tr>")
    if ans:
        ans = (f"<table cellspacing='0' cellpadding='1'><tr><th colspan='3' align='left'>interpretation</th></tr>"
               f"<tr><td></td><td {head}><i>answer (weights)</i></td><td><i>error</i></td></tr>{ans}</table>")
    return ans + (f"<table><tr><td valign='top'><table cellspacing='0' cellpadding='1'><tr><th colspan='3' align='left'>"
            f"best library matches</th></tr><tr><td></td><td {head}><i>mineral</i></td><td><i>similarity</i></td>"
            f"</tr>{matches}</table></td><td width='12'></td><td valign='top'><table cellspacing='0' cellpadding='1'>"
            f"<tr><th colspan='3' align='left'>absorption features</th></tr><tr><td {head}><i>feature</i></td>"
            f"<td {head}><i>nm</i></td><td><i>depth</i></td></tr>{feats}</table></td></tr></table>")


class SpectrumInspector(Container):
    """Docked spectrum plot of the clicked pixel (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.viewer = viewer
        self.session = session(viewer)
        self.cube = cube_chooser(viewer)
        self.method = ComboBox(label="library match", value="sam",
                               choices=[("spectral angle (SAM)", "sam"), ("information divergence (SID)", "sid"),
                                        ("absorption-feature match", "match")])
        self.artefacts = CheckBox(text="match tray artefacts too (plastic, wood ...)", value=True)
        self.hover = CheckBox(text="follow the mouse while Shift is held", value=True)
        self.pin_button = PushButton(text="Pin this pixel")
        self.clear_button = PushButton(text="Clear pins")
        self.explain = CheckBox(text="explain with a model (Captum)", value=False)
        self.checkpoint = FileEdit(label="model", filter="*.pt", mode="r",
                                   value=self.session.model_path or "")
        self.attr_method = ComboBox(label="attribution", value="ig",
                                    choices=[("integrated gradients", "ig"), ("saliency", "saliency"),
                                             ("band-window occlusion", "occlusion")])
        self._classes: list = []      # the model's classes (a callable keeps them through napari's reset_choices)
        self.target = ComboBox(label="explain class", choices=lambda _w: ["predicted", *self._classes],
                               value="predicted")
        self.status = Label(value="click a pixel of the cube (Shift + move to follow the mouse)")
        self.info = Label(value="", label="")
        self.info.native.setTextFormat(Qt.TextFormat.RichText)
        self.info.native.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = Container(widgets=[self.pin_button, self.clear_button], layout="horizontal", labels=False)
        self.extend([self.cube, self.method, self.artefacts, self.hover, buttons, self.explain, self.checkpoint,
                     self.attr_method, self.target, self.status, self.info])
        self.figure = Figure(figsize=(5.0, 6.0), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(360, 460)
        self.native.layout().addWidget(self.canvas, 1)
        self.current: PixelReport | None = None
        self.pins: list[PixelReport] = []
        self.last_error: BaseException | None = None
        self._last_hover: tuple | None = None

        self.pin_button.changed.connect(self.pin)
        self.clear_button.changed.connect(self.clear_pins)
        self.checkpoint.changed.connect(self._on_checkpoint)
        for w in (self.method, self.artefacts, self.explain, self.attr_method, self.target):
            w.changed.connect(self._refresh)
        self.session.listeners.append(self._on_session_model)
        viewer.mouse_drag_callbacks.append(self._on_mouse_drag)
        viewer.mouse_move_callbacks.append(self._on_mouse_move)
        self.native.destroyed.connect(lambda *_: self.close_callbacks())
        self._on_checkpoint()
        self._draw()

    # ------------------------------------------------------------------ mouse
    def _on_mouse_drag(self, viewer, event):
        """Inspect on a click that does not drag (a drag pans the canvas)."""
        if getattr(event, "button", 1) != 1:
            return
        active = viewer.layers.selection.active
        if getattr(active, "mode", "pan_zoom") not in ("pan_zoom", "transform"):
            return  # painting or editing: clicks belong to the layer
        dragged = False
        yield
        while event.type == "mouse_move":
            dragged = True
            yield
        if not dragged:
            self.inspect_at(event.position)

    def _on_mouse_move(self, viewer, event):
        if not self.hover.value or "Shift" not in {str(getattr(m, "name", m)) for m in event.modifiers}:
            return
        self.inspect_at(event.position, hover=True)

    def inspect_at(self, world_position, hover: bool = False) -> PixelReport | None:
        """Inspect the pixel under a world position of the viewer (None if it is off the cube)."""
        layer = self.cube.value
        if layer is None:
            return None
        rc = pixel_of(layer, world_position)
        if rc is None or (hover and rc == self._last_hover):
            return None
        self._last_hover = rc
        return self.inspect_pixel(*rc)

    # ------------------------------------------------------------------ analysis
    def inspect_pixel(self, row: int, col: int) -> PixelReport | None:
        """Analyse pixel (row, col) of the chosen cube and show it."""
        layer = self.cube.value
        if layer is None:
            self._say("no cube layer: open a cube (File > Open, or the hsimin sample tray)", error=True)
            return None
        try:
            report = self._analyse(layer, int(row), int(col))
        except Exception as exc:  # noqa: BLE001 - shown in the widget, kept for tests
            self.last_error = exc
            self._say(f"pixel ({row}, {col}): {exc}", error=True)
            return None
        self.last_error = None
        self.current = report
        msg = f"pixel ({row}, {col})"
        if report.matches:
            msg += f": {report.matches[0][0]} ({report.matches[0][1]:.3f})"
        if report.attribution is not None:
            a = report.attribution
            msg += f"; model says {a.predicted_name or a.predicted} (p = {a.probabilities[a.predicted]:.2f})"
        self._say(msg)
        self._show(report)
        return report

    def _analyse(self, layer, row: int, col: int) -> PixelReport:
        from hsimin.classical import extract_features, select_bands
        from hsimin.preprocess import remove_continuum

        cube = layer_to_cube(layer)
        spec = spectrum_of(layer, row, col)
        wl = cube.wavelengths
        good = np.isfinite(spec)
        if cube.bad_bands is not None:
            good &= ~cube.bad_bands
        if good.sum() < 3:
            raise ValueError("no valid data here (masked or NaN pixel)")
        wl_g, spec_g = wl[good], spec[good]
        cr = np.asarray(remove_continuum(spec_g, wl_g), dtype=np.float64)
        feats = {k: float(v) for k, v in extract_features(spec_g, wl_g).items()}
        matches: list = []
        idx = select_bands(cube)
        x = spec[idx].astype(np.float32)[None]
        if np.isfinite(x).all():
            est = matcher_for(self.method.value, wl[idx], None if cube.fwhm is None else cube.fwhm[idx],
                              self.artefacts.value)
            names, scores = est.predict_top_k(x, TOP_K)
            matches = [(str(n), float(s)) for n, s in zip(names[0], scores[0])]
        attribution = None
        if self.explain.value:
            from hsimin.explain import explain_pixel
            loaded = load_checkpoint(self.checkpoint.value)
            attribution = explain_pixel(loaded, cube, row, col, target=self.target.value,
                                        method=self.attr_method.value)
        return PixelReport(row, col, wl_g, spec_g, cr, matches, feats, attribution,
                           answers=pixel_answers(cube, spec))

    # ------------------------------------------------------------------ pins
    def pin(self, *_) -> None:
        """Keep the current pixel on the plot to compare it with the next ones."""
        if self.current is None:
            self._say("click a pixel first, then pin it", error=True)
            return
        if any((p.row, p.col) == (self.current.row, self.current.col) for p in self.pins):
            return
        if len(self.pins) >= MAX_PINS:
            self.pins.pop(0)
        used = {p.color for p in self.pins}
        self.current.color = next(c for c in PIN_COLORS if c not in used)
        self.pins.append(self.current)
        self._show(self.current)

    def clear_pins(self, *_) -> None:
        self.pins.clear()
        self._show(self.current)

    # ------------------------------------------------------------------ model choice
    def _on_session_model(self, path) -> None:
        if path and str(self.checkpoint.value) in ("", "."):
            self.checkpoint.value = path

    def _on_checkpoint(self, *_) -> None:
        classes: list = []
        value = str(self.checkpoint.value)
        if value not in ("", "."):
            try:
                classes = list(load_checkpoint(value).class_names)
            except Exception as exc:  # noqa: BLE001
                self._say(f"model: {exc}", error=True)
        self._classes = classes
        self.target.reset_choices()
        self.target.value = "predicted"
        self._refresh()

    def _refresh(self, *_) -> None:
        if self.current is not None:
            self.inspect_pixel(self.current.row, self.current.col)

    # ------------------------------------------------------------------ display
    def _say(self, text: str, error: bool = False) -> None:
        self.status.value = text
        self.status.native.setStyleSheet("color: #ff6060;" if error else "")

    def _show(self, report: PixelReport | None) -> None:
        self.info.value = "" if report is None else info_html(report)
        self._mark_pixels()
        self._draw()

    def _mark_pixels(self) -> None:
        shown = [p for p in self.pins] + ([self.current] if self.current is not None and self.current not in self.pins
                                          else [])
        name = "inspected pixels"
        pts = np.array([[p.row, p.col] for p in shown], dtype=float).reshape(-1, 2)
        colors = [p.color if p in self.pins else "#ffffff" for p in shown]
        layer = next((lyr for lyr in self.viewer.layers if lyr.name == name), None)
        if not len(pts):
            if layer is not None:
                layer.data = np.zeros((0, 2))
            return
        if layer is None:
            self.viewer.add_points(pts, name=name, symbol="cross", size=5, face_color=colors,
                                   border_color=colors, border_width=0)
            # keep the cube layer selected so clicks keep inspecting
            if self.cube.value is not None:
                self.viewer.layers.selection.active = self.cube.value
        else:
            layer.data = pts
            layer.face_color = colors
            layer.border_color = colors

    def _draw(self) -> None:
        from hsimin.explain.plots import draw_attribution, mark_features

        fig = self.figure
        fig.clear()
        shown = list(self.pins) + ([self.current] if self.current is not None and self.current not in self.pins else [])
        attr = self.current.attribution if self.current is not None else None
        axes = fig.subplots(3 if attr is not None else 2, 1, sharex=False)
        ax_r, ax_cr = axes[0], axes[1]
        for p in shown:
            color = p.color if p in self.pins else "k"
            lw = 1.6 if p is self.current else 1.1
            ax_r.plot(p.wavelengths, p.spectrum, color=color, lw=lw, label=p.label)
            ax_cr.plot(p.wavelengths, p.continuum_removed, color=color, lw=lw)
            for key, _ in FEATURE_ROWS:
                pos, depth = p.features.get(f"{key}_wavelength_nm"), p.features.get(f"{key}_depth")
                if pos is not None and np.isfinite(pos):
                    ax_cr.plot([pos], [1.0 - depth], marker="v", color=color, ms=5, ls="none")
        ax_r.set_ylabel("reflectance")
        ax_cr.set_ylabel("continuum removed")
        wl_all = [p.wavelengths for p in shown]
        lo = min((float(w.min()) for w in wl_all), default=1000.0)
        hi = max((float(w.max()) for w in wl_all), default=2500.0)
        for ax in axes:
            ax.set_xlim(lo, hi)
            ax.tick_params(labelsize=8)
        ax_cr.set_xlabel("wavelength (nm)")
        mark_features(ax_r)
        mark_features(ax_cr, labels=False)
        if shown:
            handles, names = ax_r.get_legend_handles_labels()
            ax_cr.legend(handles, names, fontsize=7, loc="lower left")
        else:
            ax_r.text(0.5, 0.5, "click a pixel", transform=ax_r.transAxes, ha="center", va="center", color="0.4")
        if attr is not None:
            draw_attribution(axes[2], attr, feature_labels=False)
            axes[2].set_xlim(lo, hi)
            axes[2].tick_params(labelsize=8)
        self.canvas.draw_idle()

    def close_callbacks(self) -> None:
        """Detach the mouse callbacks from the viewer (called when the widget is deleted)."""
        for lst, cb in ((self.viewer.mouse_drag_callbacks, self._on_mouse_drag),
                        (self.viewer.mouse_move_callbacks, self._on_mouse_move)):
            if cb in lst:
                lst.remove(cb)
        if self._on_session_model in self.session.listeners:
            self.session.listeners.remove(self._on_session_model)
