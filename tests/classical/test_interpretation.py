"""The interpretation engine and workflow on real USGS spectra with planted degradations (water, mixing,
dilution, noise), and on the bundled cubes. Every case says what it planted and checks the answer."""
from __future__ import annotations

import numpy as np
import pytest

import hsimin
from hsimin.classical.interpretation import build_interpreter, interpret_cube, map_minerals
from hsimin.classical.references import CORE_SWIR_MINERALS, reference_library
from hsimin.classical.simulate import simulate_scanner_spectra, water_absorbance
from hsimin.classical.swir import STATUS_ASPECTRAL, STATUS_OK, STATUS_UNKNOWN, SwirInterpreter
from hsimin.classical.vnir import VnirInterpreter, ferric_band_position
from hsimin.core.vocabulary import answer_group
from hsimin.preprocess.resample import resample

HYLOGGER = np.arange(380.0, 2500.1, 4.0)      # a HyLogger-3 NIR-SWIR band set (4 nm steps)
FWHM = np.full(HYLOGGER.size, 11.0)


@pytest.fixture(scope="module")
def lib():
    return hsimin.load_library("usgs_splib07")


def _spectrum(lib, name: str) -> np.ndarray:
    """A real USGS spectrum (1 nm grid) by sample name, on the HyLogger bands."""
    i = list(lib.names).index(name)
    return resample(lib.spectra[i][None], lib.wavelengths, HYLOGGER, FWHM)[0]


def _held_out_engine(sample_ids):
    return SwirInterpreter(reference_library(exclude_samples=sample_ids), HYLOGGER, FWHM)


def test_references_are_the_core_minerals_and_tray_materials():
    refs = reference_library()
    assert set(refs.minerals) <= set(CORE_SWIR_MINERALS) | {"wood", "plastic", "cardboard"}
    assert {"kaolinite", "white_mica", "calcite", "magnesite", "wood", "plastic"} <= set(refs.minerals)
    assert "metal" not in refs.minerals and "goethite" not in refs.minerals
    held = reference_library(exclude_samples=["KGA-2"])
    assert len(held) < len(refs) and "KGA-2" not in held.sample_ids


def test_simulator_plants_what_it_says(lib):
    a = simulate_scanner_spectra(lib, 200, seed=3, sensor_wavelengths=HYLOGGER, sensor_fwhm=FWHM)
    b = simulate_scanner_spectra(lib, 200, seed=3, sensor_wavelengths=HYLOGGER, sensor_fwhm=FWHM)
    np.testing.assert_array_equal(a.spectra, b.spectra)                       # seeded
    assert a.spectra.shape == (200, HYLOGGER.size) and np.isfinite(a.spectra).all()
    assert 0.05 < np.mean(a.primary == "aspectral") < 0.3
    assert np.all(a.fraction2[a.secondary == ""] == 0) and np.all(a.fraction2 <= 0.5)
    assert np.all((a.secondary == "") | (a.secondary != a.primary))
    wa = water_absorbance(HYLOGGER, [0.5], [1915.0], [70.0])
    assert wa[np.argmin(np.abs(HYLOGGER - 1915))] == pytest.approx(0.5, abs=0.01) and wa[0] < 1e-6


def test_held_out_minerals_are_named_by_their_group(lib):
    cases = {"Kaolinite_KGa-2_(pxl)": "kaolin", "Muscovite_HS146.3B": "white_mica", "Calcite_HS48.3B": "carbonate",
             "Montmorillonite_SWy-1": "smectite", "Talc_HS21.3B": "talc", "Gypsum_SU2202": "sulfate"}
    ids = [lib.sample_ids[list(lib.names).index(n)] for n in cases]
    eng = _held_out_engine(ids)     # the spectra's own samples are not among the references
    X = np.array([_spectrum(lib, n) for n in cases], np.float32)
    r = eng.interpret(X)
    got = [answer_group(a) for a in r.names()]
    assert got == list(cases.values()), list(zip(cases, r.names()))
    assert np.all(r.status == STATUS_OK)


def test_molecular_water_does_not_outvote_the_diagnostic_features(lib):
    kaol = _spectrum(lib, "Kaolinite_KGa-2_(pxl)")
    eng = _held_out_engine(["KGA-2"])
    wet = [kaol * np.exp(-water_absorbance(HYLOGGER, [d / 2, d / 2, d, d], [1415, 1455, 1915, 1945],
                                           [60, 110, 70, 130])) for d in (0.0, 0.3, 0.8)]
    r = eng.interpret(np.array(wet, np.float32))
    assert [answer_group(a) for a in r.names()] == ["kaolin"] * 3


def test_aspectral_is_decided_by_the_pixels_noise(lib):
    quartz = next(i for i, m in enumerate(lib.minerals) if m == "quartz" and np.isfinite(lib.spectra[i][30:]).all())
    q = resample(lib.spectra[quartz][None], lib.wavelengths, HYLOGGER, FWHM)[0]
    kaol = _spectrum(lib, "Kaolinite_KGa-2_(pxl)")
    eng = _held_out_engine(["KGA-2"])
    rng = np.random.default_rng(0)
    weak = 0.85 * q + 0.15 * kaol             # kaolinite diluted to 15 % in quartz: a shallow 2200 feature
    wet_quartz = q * np.exp(-water_absorbance(HYLOGGER, [0.2, 0.2, 0.5, 0.5], [1415, 1455, 1915, 1945],
                                              [60, 110, 70, 130]))
    clean = np.array([weak, wet_quartz], np.float32)
    noisy = clean + rng.normal(0, 1, clean.shape).astype(np.float32) * (clean.mean(1, keepdims=True) / 30)
    r1, r2 = eng.interpret(clean), eng.interpret(noisy)
    assert r1.status[0] == STATUS_OK and answer_group(r1.names()[0]) == "kaolin"    # high SNR: it is there
    assert r1.status[1] == STATUS_ASPECTRAL                                        # water alone is no mineral
    assert r2.status[0] == STATUS_ASPECTRAL and r2.noise[0] > 5 * r1.noise[0]      # SNR 30: not certain


def test_two_minerals_with_weights(lib):
    kaol, calc = _spectrum(lib, "Kaolinite_KGa-2_(pxl)"), _spectrum(lib, "Calcite_HS48.3B")
    eng = _held_out_engine(["KGA-2", "HS48"])
    r = eng.interpret(np.array([0.65 * kaol + 0.35 * calc, 0.5 * kaol + 0.5 * calc], np.float32))
    names1, names2 = r.names("min1"), r.names("min2")
    assert answer_group(names1[0]) == "kaolin" and answer_group(names2[0]) == "carbonate"
    assert answer_group(names1[1]) == "carbonate" and answer_group(names2[1]) == "kaolin"
    assert np.all(r.wt1 > 0.5) and np.allclose(r.wt1 + r.wt2, 1.0)


def test_an_absorption_no_reference_explains_is_unknown(lib):
    kaol = _spectrum(lib, "Kaolinite_KGa-2_(pxl)")
    odd = kaol * np.exp(-0.6 * np.exp(-4 * np.log(2) * ((HYLOGGER - 1680.0) / 25.0) ** 2))  # a deep 1680 nm band
    r = _held_out_engine(["KGA-2"]).interpret(np.array([odd], np.float32))
    assert r.status[0] == STATUS_UNKNOWN


def test_vnir_names_the_ferric_oxide_by_its_band(lib):
    names = {"goethite": next(n for n, m in zip(lib.names, lib.minerals) if m == "goethite" and "ASD" in
                              str(lib.attrs["instrument"][list(lib.names).index(n)])),
             "hematite": next(n for n, m in zip(lib.names, lib.minerals) if m == "hematite" and "ASD" in
                              str(lib.attrs["instrument"][list(lib.names).index(n)]))}
    ids = [lib.sample_ids[list(lib.names).index(n)] for n in names.values()]
    from hsimin.classical.vnir import vnir_reference_library
    eng = VnirInterpreter(vnir_reference_library(exclude_samples=ids), HYLOGGER, FWHM)
    X = np.array([_spectrum(lib, n) for n in names.values()], np.float32)
    r = eng.interpret(X)
    assert list(r.names()) == list(names)
    pos = ferric_band_position(X, HYLOGGER)
    assert pos[1] < 900 < pos[0]


def test_interpret_cube_on_a_package_gives_swir_vnir_and_scalars():
    from hsimin.samples import hylogger_path
    cube = hsimin.open_cube(hylogger_path("SWMB007s"))
    res = interpret_cube(cube)
    assert set(res.maps) == {"swir", "vnir"} and res.primary == "swir"
    sw, vn = res.maps["swir"], res.maps["vnir"]
    assert sw.shape == (30, 1) and sw.table is not None and len(sw.table) == 30
    assert sw.classes[-2:] == ("aspectral", "unknown") and vn.classes[-1] == "aspectral"
    assert {"min2", "wt1", "wt2", "error", "r2", "status"} <= set(sw.extra)
    ok = sw.extra["status"] == 0
    np.testing.assert_allclose((sw.extra["wt1"] + sw.extra["wt2"])[ok], 1.0, atol=1e-5)
    # a real chip hole of kaolinite and montmorillonite: every answer is kaolin or smectite
    groups = {answer_group(n) for n in sw.names().ravel()}
    assert groups <= {"kaolin", "smectite", "none"}
    assert "f1900_depth" in res.features and np.isfinite(res.features["f2200_wavelength_nm"]).mean() > 0.9
    assert set(vn.names().ravel()) <= {"goethite", "hematite", "aspectral", "jarosite", "olivine", "pyroxene"}
    assert list(res.hdf5_maps()) == ["mineral", "vnir"]
    assert interpret_cube(cube, range="vnir").primary == "vnir"


def test_every_method_goes_through_one_entry_point():
    from hsimin.samples import tray_path, truth_path
    cube = hsimin.open_cube(tray_path())
    truth = hsimin.open_map(truth_path())
    core = truth.labels >= 0
    for method in ("unmix", "sam"):
        mm = map_minerals(cube, method, features=False).map
        g = np.vectorize(answer_group)
        acc = np.mean(g(mm.names()[core]) == g(truth.names()[core]))
        assert acc > 0.8, (method, acc)
    with pytest.raises(hsimin.HsiminError, match="no VNIR bands"):
        map_minerals(cube, range="vnir")


def test_interpreters_are_built_once_per_band_set():
    from hsimin.samples import tray_path
    cube = hsimin.open_cube(tray_path())
    a = build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands)
    b = build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands)
    assert a is b and a.vnir is None and a.swir is not None


def test_noise_estimate_is_the_same_with_and_without_missing_bands():
    """A NaN band in one spectrum changes only that spectrum's estimate, and the white noise is read off the
    data (the kernel's equality with the numpy medians: tests/classical/test_swir_kernels.py)."""
    from hsimin.classical.swir import estimate_noise
    rng = np.random.default_rng(3)
    wl = np.arange(1300.0, 2481.0, 4.0)
    X = 0.3 + 0.01 * np.sin(wl / 50.0) + rng.normal(0, 0.003, (20, wl.size))
    noise, alb = estimate_noise(X, wl, (2080.0, 2460.0))
    Y = X.copy()
    Y[0, 250] = np.nan                      # a missing band in spectrum 0 (inside the window)
    noise_y, alb_y = estimate_noise(Y, wl, (2080.0, 2460.0))
    np.testing.assert_allclose(noise_y[1:], noise[1:], rtol=1e-12)
    np.testing.assert_allclose(alb_y[1:], alb[1:], rtol=1e-12)
    assert np.isfinite(noise_y[0]) and abs(noise_y[0] / noise[0] - 1) < 0.2
    # white noise at sigma 0.003 on reflectance 0.3 is 1 % relative, read off the data (a MAD of ~95 second
    # differences: about 12 % scatter per spectrum), with the floors added in quadrature
    ratio = noise / np.sqrt(0.01 ** 2 + 0.004 ** 2 + (0.002 / 0.3) ** 2)
    assert abs(np.median(ratio) - 1) < 0.1 and np.all(np.abs(ratio - 1) < 0.4)
