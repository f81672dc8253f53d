"""Label -> retrain -> re-map: the loop a geologist runs on one cube, as a public function.

The napari widget (``napari_hsimin``'s "Label, retrain, re-map") calls :func:`retrain_from_labels`; a script can
call it the same way. Painted labels (a :class:`~hsimin.core.MineralMap` over the cube) fine-tune a model (its
head widened with :meth:`~hsimin.models.HSIModel.reset_classifier` when new classes are painted, old classes'
weights kept) or train a new pixel model, the model is saved (a plain, ``weights_only`` checkpoint), the cube is
re-mapped with it through :func:`hsimin.predict.workflow.classify_cube` (as ``hsimin classify`` maps it), and the
pixels the new model is least sure about are suggested as the next ones to label (active learning).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import InputError

__all__ = ["NEW_MODELS", "RetrainResult", "export_training_set", "retrain_from_labels"]

NEW_MODELS = {
    "fastspec (fast pixel MLP)": {"backbone": {"name": "fastspec", "widths": [64], "normalize": True},
                                  "head": "linear", "patch_size": 1},
    "cnn1d (spectral 1-D CNN)": {"backbone": {"name": "cnn1d", "widths": [16, 32], "kernel_size": 7},
                                 "head": "linear", "patch_size": 1},
}
"""Architectures for a new model (pixel models on reflectance, brightness-normalised by fastspec: they train in
seconds on a few hundred painted pixels)."""


@dataclass
class RetrainResult:
    """What :func:`retrain_from_labels` made: the checkpoint, its classes, the training history, the labelled pixels
    used (and per class), the re-mapped cube and the suggested next pixels ((n, 2) rows, cols)."""

    checkpoint: str
    class_names: tuple
    history: list
    n_samples: int
    counts: dict
    mineral_map: Any = None
    suggestions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    seconds: float = 0.0


def export_training_set(cube, mineral_map, path, *, overwrite: bool = True) -> Path:
    """Write painted labels as a training set (hsimin HDF5): the label raster with its class names at
    ``/maps/labels`` and the labelled spectra at ``/training`` (``x`` (N, B) reflectance, ``y`` (N,) class
    index, ``rows``, ``cols``, ``wavelengths``; class names and the cube's source as attributes)."""
    from ..data import cube_samples
    from ..io.hdf5 import write_hdf5

    s = cube_samples(cube, mineral_map.labels, mineral_map.classes)
    Path(os.fspath(path)).parent.mkdir(parents=True, exist_ok=True)
    arrays = {"x": s.x, "y": s.y, "rows": s.coords[:, 1], "cols": s.coords[:, 2],
              "wavelengths": np.asarray(cube.wavelengths, dtype=np.float64)}
    attrs = {"class_names": list(s.class_names), "cube_source": cube.meta.source or "",
             "counts": s.counts(), "written_by": "hsimin.train.retrain"}
    return write_hdf5(path, maps={"labels": mineral_map}, arrays={"training": arrays},
                      arrays_attrs={"training": attrs}, overwrite=overwrite)


def retrain_from_labels(cube, labels, *, base_checkpoint: str | None = None, new_spec: dict | None = None,
                        out_path, epochs: int = 40, lr: float = 1e-2, device: str = "cpu", n_suggest: int = 20,
                        remap: bool = True, report: Callable | None = None) -> RetrainResult:
    """Fine-tune ``base_checkpoint`` (or train ``new_spec``, default :data:`NEW_MODELS`' first, from scratch) on
    the painted ``labels`` (a MineralMap over ``cube``, -1 = not painted), save it to ``out_path``, re-map the cube
    and suggest the ``n_suggest`` least certain pixels. ``report(done, total, message)`` follows the epochs and the
    re-mapping (it may raise to cancel)."""
    import torch

    from ..data import cube_samples
    from ..data.datasets import TensorSamples
    from ..explain import suggest_pixels
    from ..explain.inputs import model_input
    from ..models import create_model, load_model, save_model, to_torch
    from ..predict.workflow import classify_cube
    from .loop import fit

    t0 = time.perf_counter()
    say = report or (lambda *a, **k: None)
    painted = [c for i, c in enumerate(labels.classes) if (labels.labels == i).any()]
    if not painted:
        raise InputError("no painted pixel: paint at least one class on the labels first")
    extra: dict = {"trained_in": "hsimin.train.retrain_from_labels", "epochs": int(epochs)}
    if base_checkpoint:
        base = load_model(base_checkpoint, map_location="cpu")
        classes = list(base.class_names) + [c for c in painted if c not in base.class_names]
        recipe, wl_model = base.recipe, base.wavelengths
        model = base.model
        if len(classes) != len(base.class_names):  # new classes: a wider head, the old classes' weights kept
            model.reset_classifier(len(classes), keep=range(len(base.class_names)))
        extra["base_model"] = base.model_hash
        view_src = base
    else:  # a new pixel model on the cube's own bands (reflectance as it is)
        classes = painted
        recipe, wl_model, view_src, model = None, None, None, None
    samples = cube_samples(cube, labels.labels, labels.classes, target_classes=classes)
    if view_src is not None:
        x, wl = model_input(view_src, samples.x, cube.wavelengths, cube.fwhm)
    else:
        x, wl = np.asarray(samples.x, dtype=np.float32), np.asarray(cube.wavelengths, dtype=np.float64)
    ok = np.isfinite(x).all(axis=1)
    x, y = x[ok], samples.y[ok]
    if x.shape[0] < 2:
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
        res.mineral_map = classify_cube(cube, load_model(out, map_location="cpu"), device=device).map
        res.suggestions = suggest_pixels(res.mineral_map, int(n_suggest), mask=cube.mask,
                                         exclude=labels.labels >= 0)
        say(int(epochs) + 1, int(epochs) + 1, "re-mapped")
    res.seconds = time.perf_counter() - t0
    return res
