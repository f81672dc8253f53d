"""The tray-artefact screen decides by absorption features: rock with a flat or odd continuum, or wet rock, stays
rock; tray materials under any brightness and slope are tray."""
import numpy as np
import pytest

from hsimin import load_library
from hsimin.classical.artefacts import ArtefactScreen
from hsimin.classical.simulate import water_absorbance
from hsimin.preprocess.continuum import remove_continuum

WL = np.arange(1300.0, 2481.0, 4.0)
FWHM = np.full(WL.size, 11.0)
MINERALS = ["kaolinite", "white_mica", "smectite", "calcite", "dolomite", "talc", "gypsum", "chlorite"]


@pytest.fixture(scope="module")
def screen():
    return ArtefactScreen(WL, FWHM, None, MINERALS)


def _spectra(lib_id, minerals=None):
    lib = load_library(lib_id, minerals=minerals, wavelengths=WL, fwhm=FWHM)
    S = np.asarray(lib.spectra, np.float64)
    ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    return S[ok], np.asarray(lib.minerals, dtype=object)[ok]


def test_rock_on_a_flat_bright_continuum_and_wet_rock_stay_rock(screen):
    """The features of the model's minerals on a flat continuum of another brightness (a bright chip, a dark
    one), tilted, and with molecular water: none of them reads as tray."""
    S, _ = _spectra("usgs_splib07", MINERALS)
    cr = remove_continuum(S, WL)
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, WL.size)
    wet = np.exp(-water_absorbance(WL, [0.15, 0.25, 0.3, 0.5], [1415, 1455, 1915, 1945], [60, 110, 70, 130]))
    rocks = []
    for level in (0.08, 0.35, 0.9, 1.8):
        rocks.append(cr * level * (1 + rng.uniform(-0.1, 0.1, (len(cr), 1)) * t))
        rocks.append(cr * level * wet)
    X = np.vstack(rocks).astype(np.float32)
    assert screen(X).mean() < 0.02


def test_tray_materials_are_tray_whatever_their_brightness(screen):
    A, names = _spectra("usgs_artefacts")
    keep = names != "metal"          # featureless: no absorption to tell it by (it reads as aspectral)
    t = np.linspace(-1, 1, WL.size)
    X = np.vstack([A[keep] * b * (1 + s * t) for b in (0.5, 1.0, 1.3) for s in (-0.1, 0.1)]).astype(np.float32)
    assert screen(X).mean() > 0.9


def _noisy(S, snr, rng):
    """Scanner-like noise (the sample tray's model): sigma = sqrt((mean / snr)^2 + 0.001^2) per spectrum."""
    sigma = np.sqrt((S.mean(axis=1, keepdims=True) / snr) ** 2 + 0.001 ** 2)
    return S + rng.normal(size=S.shape) * sigma


def test_black_plastic_under_noise_is_tray_though_its_features_are_noise(screen):
    """A black plastic (carbon black leaves almost no C-H band) at scanner noise: its absorption features are
    below its noise, so features cannot decide; its continuum does."""
    lib = load_library("usgs_artefacts", wavelengths=WL, fwhm=FWHM)
    S = np.asarray(lib.spectra, np.float64)
    black = [i for i, n in enumerate(lib.names) if ("Black" in n or "BlkSheet" in n) and np.isfinite(S[i]).all()]
    assert len(black) >= 2, "the artefact library holds black plastics"
    rng = np.random.default_rng(1)
    S = S[black]
    X = np.vstack([_noisy(S * b, 200, rng) for b in (0.9, 1.0, 1.1) for _ in range(30)]).astype(np.float32)
    flat = screen.featureless(np.asarray(X, np.float64)[:, screen.bands])
    assert flat.mean() > 0.5          # the case this test is about: features lost in the noise
    assert screen(X).mean() > 0.98


def test_dark_featureless_rock_under_noise_stays_rock(screen):
    """SWIR-inactive minerals (pyroxene, magnetite, feldspar, ...) dark and noisy: featureless like black plastic,
    but their continuum is a rock's, and the screen compares featureless pixels with them too."""
    from hsimin.classical.simulate import INACTIVE_MINERALS
    S, minerals = _spectra("usgs_splib07", list(INACTIVE_MINERALS))
    assert len(set(minerals)) >= 8
    rng = np.random.default_rng(2)
    X = np.vstack([_noisy(S * b / S.mean(axis=1, keepdims=True), 200, rng) for b in (0.05, 0.3)]).astype(np.float32)
    assert screen(X).mean() < 0.05
