"""The ``features`` and ``identify`` verbs on an ENVI cube of real USGS spectra; one-line errors, exit code 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hsimin.cli import main

WL = np.linspace(1000.0, 2500.0, 270)
ROWS = [("Kaolinite_CM9", "kaolinite"), ("Muscovite_GDS113_Ruby", "white_mica"), ("Calcite_WS272", "calcite"),
        ("Clinochlore_Fe_GDS157.b", "chlorite")]


@pytest.fixture(scope="module")
def library():
    import hsimin
    return hsimin.load_library("usgs_splib07", wavelengths=WL, fwhm=np.full(WL.size, 10.0))


@pytest.fixture
def cube_hdr(tmp_path, write_envi, library):
    """A BIL float32 ENVI cube (4 lines x 6 samples x 270 bands, nm, fwhm 10): line r holds noisy (SNR 200),
    brightness-scaled copies of the r-th ROWS spectrum. Returns (header, truth names per line)."""
    rng = np.random.default_rng(41)
    names = np.asarray(library.names)
    data = np.empty((len(ROWS), 6, WL.size), np.float32)
    for r, (name, _) in enumerate(ROWS):
        s = library.spectra[np.flatnonzero(names == name)[0]]
        data[r] = s[None] * rng.uniform(0.7, 1.1, (6, 1)) + rng.normal(0, s.mean() / 200, (6, s.size))
    hdr, _ = write_envi(tmp_path / "tray.hdr", data, interleave="bil",
                        fields={"wavelength units": "Nanometers", "wavelength": list(WL), "fwhm": [10.0] * WL.size})
    return hdr, np.array([m for _, m in ROWS])


def _cli(*args, cwd=None):
    """Run ``python -m hsimin`` in a fresh interpreter (what a user sees)."""
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_features_writes_one_map_per_scalar(cube_hdr, tmp_path, capsys):
    from hsimin.classical import feature_names
    from hsimin.io.hdf5 import read_arrays_hdf5
    hdr, truth = cube_hdr
    out = tmp_path / "features.h5"
    assert main(["features", str(hdr), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    maps, attrs = read_arrays_hdf5(out, "features", return_attrs=True)
    assert list(maps) == feature_names()
    for name, arr in maps.items():
        assert arr.shape == (4, 6) and arr.dtype == np.float32, name
    alo = maps["f2200_wavelength_nm"][:2]
    assert np.all((alo > 2190) & (alo < 2215))
    assert np.all(np.abs(maps["f2330_wavelength_nm"][2] - 2340) < 8)          # calcite
    assert np.all(np.abs(maps["f2250_wavelength_nm"][3] - 2253) < 5)          # chlorite FeOH
    assert np.isnan(maps["f2160_wavelength_nm"][1]).all()                     # muscovite: no kaolinite doublet
    assert "f2200:2180-2228" in attrs["windows"]
    # custom windows; refusing to overwrite; --overwrite
    assert main(["features", str(hdr), "-o", str(out), "--windows", "al:2180-2228", "--overwrite"]) == 0
    assert sorted(read_arrays_hdf5(out, "features")) == ["al_asymmetry", "al_depth", "al_wavelength_nm",
                                                          "al_width_nm"]


def test_identify_default_is_the_interpretation(cube_hdr, tmp_path, capsys):
    import hsimin
    from hsimin.io.hdf5 import list_maps_hdf5, read_arrays_hdf5
    hdr, truth = cube_hdr
    out = tmp_path / "map.h5"
    assert main(["identify", str(hdr), "-o", str(out)]) == 0
    assert "unmix, SWIR answers of 24 pixels" in capsys.readouterr().out
    mm = hsimin.open_map(out)
    assert np.mean(mm.names() == truth[:, None]) >= 0.9
    assert {"aspectral", "unknown"} <= set(mm.classes) and {"wood", "plastic"} <= set(mm.classes)
    assert {"min2", "wt1", "wt2", "error", "r2", "status"} <= set(mm.extra)
    assert np.all(mm.extra["wt1"][mm.extra["status"] == 0] >= 0.5)
    assert list_maps_hdf5(out) == ["mineral"]                    # 1000-2500 nm: no VNIR answer
    assert "f1900_depth" in read_arrays_hdf5(out, "features")


@pytest.mark.parametrize("method", ["sam", "match", "mixture"])
def test_identify_h5(cube_hdr, tmp_path, method, capsys):
    import hsimin
    hdr, truth = cube_hdr
    out = tmp_path / f"map_{method}.h5"
    assert main(["identify", str(hdr), "-o", str(out), "--method", method, "--top-k", "2"]) == 0
    assert f"{method}, SWIR answers of 24 pixels" in capsys.readouterr().out
    mm = hsimin.open_map(out)
    assert mm.labels.shape == (4, 6)
    assert np.mean(mm.names() == truth[:, None]) >= 0.9
    assert mm.extra["topk_labels"].shape == (4, 6, 2)
    assert mm.provenance["method"] == method
    if method == "mixture":
        assert {"mineral_2", "fraction_1", "fraction_2", "fit_error"} <= set(mm.extra)


def test_identify_envi_and_png(cube_hdr, tmp_path):
    import hsimin
    hdr, truth = cube_hdr
    out = tmp_path / "map.hdr"
    assert main(["identify", str(hdr), "-o", str(out), "--method", "sid"]) == 0
    mm = hsimin.open_map(out)
    assert np.mean(mm.names() == truth[:, None]) >= 0.9
    curated = mm.classes
    png = tmp_path / "map.png"
    assert main(["identify", str(hdr), "-o", str(png), "--minerals", "all"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --minerals all: the uncurated minerals (zircon, cinnabar...) are classes too
    allmap = tmp_path / "all.h5"
    assert main(["identify", str(hdr), "-o", str(allmap), "--minerals", "all", "--method", "sid"]) == 0
    every = hsimin.open_map(allmap).classes
    assert set(curated) < set(every) and "cinnabar" in every and "cinnabar" not in curated


def test_one_line_errors(cube_hdr, tmp_path, capsys):
    hdr, _ = cube_hdr
    out = tmp_path / "m.h5"
    out.write_bytes(b"")
    cases = [
        (("identify", hdr, "-o", out), "m.h5"),                                   # exists, no --overwrite
        (("identify", tmp_path / "nope.hdr", "-o", tmp_path / "x.h5"), "nope.hdr"),
        (("identify", hdr, "-o", tmp_path / "x.tif"), "x.tif"),                   # unknown output format
        (("identify", hdr, "-o", tmp_path / "x.h5", "--library", "nolib"), "nolib"),
        (("identify", hdr, "-o", tmp_path / "x.h5", "--method", "sam", "--fit-range", "400-900"), "bands"),
        (("identify", hdr, "-o", tmp_path / "x.h5", "--fit-range", "1300-2400"), "--fit-range"),   # not for unmix
        (("features", hdr, "-o", tmp_path / "f.h5", "--windows", "f2200"), "f2200"),
        (("identify", hdr, "-o", tmp_path / "x.h5", "--method", "neural"), "neural"),
    ]
    for args, hint in cases:
        rc = main([str(a) for a in args])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2, (args, rc, err)
        assert len(lines) == 1 and lines[0].startswith("hsimin: error:") and hint in lines[0], (args, lines)
    # the same through a fresh interpreter: one line, no traceback
    p = _cli(*cases[0][0])
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(lines) == 1 and "m.h5" in lines[0]


def test_help_texts(capsys):
    from hsimin.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["identify"].format_help()
    for word in ("--library", "--method", "--top-k", "--fit-range", "sam", "sid", "match", "mixture", ".h5",
                 ".hdr", ".png", "usgs_splib07"):
        assert word in text, word
    text = sub.choices["features"].format_help()
    assert "{window}_wavelength_nm" in text and "f2200:2180-2228" in text and "--min-depth" in text
