"""Screenshots of the hsimin napari plugin for the docs (``docs/images/*.png``), made from the bundled sample tray.

Run with a display; on a machine without one, under a virtual X server with software OpenGL::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python scripts/make_screenshots.py

Writes (overwriting):

* ``docs/images/napari_mineral_map.png`` — the sample tray with its library-identification mineral map (SAM
  against USGS splib07 + the tray artefact spectra) over the 2200 nm band, and the legend;
* ``docs/images/napari_spectrum_inspector.png`` — the spectrum inspector: two pinned pixels and the current one,
  raw and continuum-removed, best matches, feature scalars and integrated-gradients attributions of a model;
* ``docs/images/napari_retrain.png`` — label -> retrain -> re-map: painted labels, the retrained model's map and
  the pixels suggested for labelling next.

The model: the shipped default model when this installation has one (trained on USGS spectra with the tray's
samples held out), otherwise a small demo model trained here on a few hundred truth pixels of the tray itself
(then its answers on the tray are optimistic; the window title says which).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _wait(job, timeout=600):
    job.wait(timeout)
    if job.error is not None:
        raise RuntimeError(f"job failed: {job.error}")


def demo_model(tmpdir: Path) -> tuple[str, str]:
    """(checkpoint path, description): the shipped default model, or a small model trained on the tray."""
    from napari_hsimin._widgets._common import default_checkpoint
    path = default_checkpoint()
    if path:
        return path, "shipped default model"
    import torch

    from hsimin.data import apply_recipe, cube_samples
    from hsimin.data.datasets import TensorSamples
    from hsimin.io import open_cube, open_map
    from hsimin.models import create_model, save_model
    from hsimin.preprocess import BandWindow, ContinuumRemoval, Recipe
    from hsimin.samples import tray_path, truth_path
    from hsimin.train import fit

    cube, truth = open_cube(tray_path()).load(), open_map(truth_path())
    recipe = Recipe([BandWindow(1300.0, 2480.0), ContinuumRemoval()])
    s = apply_recipe(cube_samples(cube, truth.labels, truth.classes, max_per_class=60, seed=0), recipe)
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [64, 32], "normalize": False},
                          "head": "linear", "in_bands": s.n_bands, "num_outputs": len(s.class_names),
                          "patch_size": 1})
    fit(model, TensorSamples.from_samples(s), None, epochs=40, batch_size=64, lr=5e-3, patience=None,
        progress=False, seed=0)
    out = tmpdir / "demo_model.pt"
    save_model(model, out, wavelengths=s.wavelengths, class_names=s.class_names, recipe=recipe.to_dict(),
               extra={"note": "demo model trained on 60 truth pixels per mineral of the sample tray"})
    return str(out), "demo model trained on the tray's own truth pixels"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"), help="output folder")
    ap.add_argument("--size", default="1680x1050", help="window size WxH")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.lower().split("x"))

    os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")  # no toasts over the canvas
    import napari
    from napari_hsimin import LabelTrainWidget, MapWidget, SpectrumInspector
    from hsimin.io import open_map
    from hsimin.samples import truth_path

    tmp = Path(tempfile.mkdtemp(prefix="hsimin-shots-"))
    t0 = time.perf_counter()
    model_path, model_note = demo_model(tmp)
    truth = open_map(truth_path())

    viewer = napari.Viewer(title=f"hsimin - sample tray ({model_note})", show=True)
    viewer.window.resize(width, height)
    viewer.open_sample("hsimin", "sample_tray")
    cube_layer = viewer.layers["sample tray"]
    wl = cube_layer.metadata["wavelengths"]
    viewer.dims.set_current_step(0, int(np.argmin(np.abs(wl - 2200.0))))

    # 1. the mineral map and its legend
    mapper = MapWidget(viewer)
    dock = viewer.window.add_dock_widget(mapper, name="Mineral map", area="right")
    mapper.method.value = "sam"
    mapper.run()
    _wait(mapper.job)
    viewer.reset_view()
    viewer.layers.selection.active = mapper.map_layer
    _settle()
    viewer.screenshot(str(out / "napari_mineral_map.png"), canvas_only=False, flash=False)
    print(f"wrote {out / 'napari_mineral_map.png'}")

    # 2. the spectrum inspector with attributions
    viewer.window.remove_dock_widget(dock)
    inspector = SpectrumInspector(viewer)
    viewer.window.add_dock_widget(inspector, name="Spectrum inspector", area="right")
    inspector.checkpoint.value = model_path
    picks = {}
    for name in ("white_mica", "kaolinite", "chlorite"):
        px = np.argwhere(truth.labels == truth.classes.index(name))
        picks[name] = tuple(int(v) for v in px[len(px) // 2])
    inspector.inspect_pixel(*picks["kaolinite"])
    inspector.pin()
    inspector.inspect_pixel(*picks["chlorite"])
    inspector.pin()
    inspector.explain.value = True
    inspector.inspect_pixel(*picks["white_mica"])
    if inspector.last_error is not None:
        raise RuntimeError(f"inspector: {inspector.last_error}")
    viewer.layers.selection.active = cube_layer
    _settle()
    viewer.screenshot(str(out / "napari_spectrum_inspector.png"), canvas_only=False, flash=False)
    print(f"wrote {out / 'napari_spectrum_inspector.png'}")

    # 3. label -> retrain -> re-map -> suggestions
    viewer.window.remove_dock_widget("all")
    trainer = LabelTrainWidget(viewer)
    viewer.window.add_dock_widget(trainer, name="Label, retrain, re-map", area="right")
    trainer.class_source.value = "tray"
    labels = trainer.new_labels_layer()
    rng = np.random.default_rng(0)
    data = np.zeros_like(labels.data)
    for name in truth.classes:                   # two small brush strokes per mineral, in different places
        px = np.argwhere(truth.labels == truth.classes.index(name))
        for start in px[rng.choice(len(px), 2, replace=False)]:
            stroke = px[(np.abs(px[:, 0] - start[0]) <= 1) & (np.abs(px[:, 1] - start[1]) <= 3)]
            data[stroke[:, 0], stroke[:, 1]] = labels.metadata["classes"].index(name) + 1
    floor = np.argwhere(truth.extra["core_fraction"] == 0)           # and the tray floor as plastic
    for start in floor[rng.choice(len(floor), 3, replace=False)]:
        stroke = floor[(np.abs(floor[:, 0] - start[0]) <= 1) & (np.abs(floor[:, 1] - start[1]) <= 2)]
        data[stroke[:, 0], stroke[:, 1]] = labels.metadata["classes"].index("plastic") + 1
    labels.data = data
    trainer.mode.value = "new"
    trainer.epochs.value = 40
    trainer.out_path.value = str(tmp / "retrained.pt")
    trainer.train()
    _wait(trainer.job)
    for layer in viewer.layers:
        if layer.name.endswith("(sam)") or layer.name == "inspected pixels":
            layer.visible = False
    viewer.layers.selection.active = labels
    labels.mode = "pan_zoom"
    _settle()
    viewer.screenshot(str(out / "napari_retrain.png"), canvas_only=False, flash=False)
    print(f"wrote {out / 'napari_retrain.png'} ({time.perf_counter() - t0:.0f} s in all)")
    viewer.close()
    return 0


def _settle(seconds: float = 0.5) -> None:
    """Let Qt lay out and paint the window before it is grabbed."""
    from qtpy.QtWidgets import QApplication
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
