"""Fixtures of the command-line tests: a small synthetic ENVI scan and tiny pixel-model checkpoints on its bands.

The scan (7 x 5 pixels, 40 bands 1000-2500 nm, ``fwhm`` 10 nm) holds one Gaussian absorption per pixel at a
seeded random centre, 30 % deep on a 0.5 albedo: spectra a model can run on, not minerals (the artefact screen
is turned off for them with ``--no-artefact-screen``)."""
from __future__ import annotations

import numpy as np
import pytest

CLI_WAVELENGTHS = np.linspace(1000.0, 2500.0, 40)
CLI_CLASSES = ["kaolinite", "calcite", "white_mica"]


@pytest.fixture
def cli_wavelengths():
    """(40,) nm: the bands of ``cube_hdr`` and of the ``make_model_pt`` checkpoints."""
    return CLI_WAVELENGTHS.copy()


@pytest.fixture
def cube_hdr(tmp_path, rng, write_envi):
    centre = rng.uniform(1400, 2400, (7, 5, 1))
    wl = CLI_WAVELENGTHS
    data = (0.5 * (1 - 0.3 * np.exp(-0.5 * ((wl - centre) / 50.0) ** 2))).astype(np.float32)
    hdr, _ = write_envi(tmp_path / "scan.hdr", data, interleave="bil",
                        fields={"wavelength units": "Nanometers", "wavelength": list(wl), "fwhm": [10.0] * 40})
    return hdr


@pytest.fixture
def make_model_pt(tmp_path):
    """``make_model_pt(recipe=None, name='tiny.pt')``: save an untrained (seeded) fastspec pixel model on the scan's
    bands with three classes and return its path."""
    def make(recipe=None, name: str = "tiny.pt"):
        import torch

        from hsimin.models import create_model, save_model
        torch.manual_seed(0)
        model = create_model({"backbone": {"name": "fastspec", "widths": [8]}, "in_bands": 40,
                              "num_outputs": len(CLI_CLASSES), "patch_size": 1}).eval()
        path = tmp_path / name
        save_model(model, path, wavelengths=CLI_WAVELENGTHS, class_names=CLI_CLASSES, recipe=recipe)
        return path
    return make
