"""The per-mineral fit floors of the SWIR interpretation (hsimin.classical.calibration): shipped as made, applied
to the mineral named (the lower of two for a mixture), and never below the global floor."""
import json

import numpy as np
import pytest

from hsimin import load_library
from hsimin.classical.calibration import CALIBRATION, FLOORS_PATH, default_fit_r2_floors, fit_r2_floors
from hsimin.classical.references import CORE_SWIR_MINERALS, reference_library
from hsimin.classical.swir import STATUS_OK, STATUS_UNKNOWN, SwirInterpreter

WL = np.arange(1300.0, 2481.0, 4.0)
FWHM = np.full(WL.size, 11.0)


def test_the_shipped_floors_are_what_the_calibration_makes():
    """A fresh run of the seeded calibration gives the shipped file's floors and counts, with its parameters."""
    shipped = json.loads(FLOORS_PATH.read_text(encoding="utf-8"))
    fresh = fit_r2_floors()
    assert fresh["floors"] == shipped["floors"] and fresh["spectra"] == shipped["spectra"]
    assert shipped["parameters"] == {**fresh["parameters"]} and shipped["parameters"]["seed"] == CALIBRATION["seed"]
    floors = default_fit_r2_floors()
    assert set(floors) >= {m for m in CORE_SWIR_MINERALS if shipped["spectra"].get(m, 0) >= 50}
    assert all(0.45 < v < 1.0 for v in floors.values())
    assert len(floors) >= 15


@pytest.fixture(scope="module")
def kaolinite_and_mixture():
    lib = load_library("usgs_splib07", minerals=["kaolinite", "calcite"], wavelengths=WL, fwhm=FWHM)
    S = np.asarray(lib.spectra, np.float64)
    names = np.asarray(lib.minerals, dtype=object)
    good = np.isfinite(S).all(axis=1)
    k = S[good & (names == "kaolinite")][0]
    c = S[good & (names == "calcite")][0]
    rng = np.random.default_rng(1)
    noisy = k + rng.normal(0, 0.004, WL.size)            # a fit well short of perfect
    mix = np.sqrt(k * c)                                   # intimate: absorbances add (a pair)
    return np.vstack([noisy, mix]).astype(np.float32)


def test_a_fit_below_its_minerals_floor_is_unknown(kaolinite_and_mixture):
    refs = reference_library()
    plain = SwirInterpreter(refs, WL, FWHM, fit_floors=None).interpret(kaolinite_and_mixture[:1])
    assert plain.status[0] == STATUS_OK and plain.names()[0] == "kaolinite"
    r2 = float(plain.r2[0])
    above = SwirInterpreter(refs, WL, FWHM, fit_floors={"kaolinite": r2 + 0.01}).interpret(kaolinite_and_mixture[:1])
    below = SwirInterpreter(refs, WL, FWHM, fit_floors={"kaolinite": r2 - 0.01}).interpret(kaolinite_and_mixture[:1])
    assert above.status[0] == STATUS_UNKNOWN and above.names("min1")[0] == "kaolinite"   # what came closest
    assert below.status[0] == STATUS_OK
    # a floor under the global min_r2 does not lower it
    low = SwirInterpreter(refs, WL, FWHM, fit_floors={"kaolinite": 0.0}, min_r2=r2 + 0.01).interpret(
        kaolinite_and_mixture[:1])
    assert low.status[0] == STATUS_UNKNOWN


def test_a_mixture_takes_the_lower_of_its_two_floors(kaolinite_and_mixture):
    refs = reference_library()
    x = kaolinite_and_mixture[1:]
    plain = SwirInterpreter(refs, WL, FWHM, fit_floors=None).interpret(x)
    pair = {plain.names("min1")[0], plain.names("min2")[0]}
    assert pair == {"kaolinite", "calcite"} and plain.status[0] == STATUS_OK
    r2 = float(plain.r2[0])
    one_high = SwirInterpreter(refs, WL, FWHM, fit_floors={"kaolinite": 0.999, "calcite": r2 - 0.01}).interpret(x)
    both_high = SwirInterpreter(refs, WL, FWHM, fit_floors={"kaolinite": 0.999, "calcite": 0.999}).interpret(x)
    assert one_high.status[0] == STATUS_OK and both_high.status[0] == STATUS_UNKNOWN


def test_the_default_interpreter_uses_the_shipped_floors():
    eng = SwirInterpreter(reference_library(), WL, FWHM)
    floors = default_fit_r2_floors()
    assert eng.params["fit_floors"] == {c: floors[c] for c in eng.classes if c in floors}
    assert SwirInterpreter(reference_library(), WL, FWHM, fit_floors=None).params["fit_floors"] == {}
