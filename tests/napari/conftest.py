"""Fixtures of the napari plugin tests: the sample tray, its truth, and a small model trained on it.

Widget tests (marked ``gui``) need a display: ``make test`` runs pytest under ``xvfb-run`` with software OpenGL
(``QT_QPA_PLATFORM=offscreen`` cannot draw a canvas); without one they are skipped."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tray():
    from hsimin.io import open_cube
    from hsimin.samples import tray_path
    return open_cube(tray_path()).load()


@pytest.fixture(scope="session")
def truth():
    from hsimin.io import open_map
    from hsimin.samples import truth_path
    return open_map(truth_path())


@pytest.fixture(scope="session")
def tiny_model(tray, truth, tmp_path_factory):
    """A small pixel model (fastspec) trained for a few epochs on 40 truth pixels per mineral of the tray;
    good enough to classify and explain, trained in about a second."""
    import torch

    from hsimin.data import cube_samples
    from hsimin.data.datasets import TensorSamples
    from hsimin.models import create_model, save_model
    from hsimin.train import fit

    s = cube_samples(tray, truth.labels, truth.classes, max_per_class=40, seed=0)
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [32]}, "head": "linear",
                          "in_bands": s.n_bands, "num_outputs": len(s.class_names), "patch_size": 1})
    fit(model, TensorSamples.from_samples(s), None, epochs=25, batch_size=64, lr=1e-2, patience=None,
        progress=False, seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(model, path, wavelengths=s.wavelengths, class_names=s.class_names, extra={"note": "test model"})
    return str(path)
