"""The I/O verbs: info, convert, calibrate, quicklook; one-line errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hsimin.cli import main
from hsimin.io import open_cube

WL = np.linspace(1002.5, 2497.5, 23)


@pytest.fixture
def cube_hdr(tmp_path, rng, write_envi):
    """A BIP float32 ENVI cube in micrometers with fwhm and bbl; returns (header, data in nm order)."""
    data = rng.uniform(0.02, 0.95, (9, 6, 23)).astype(np.float32)
    bbl = np.ones(23, int)
    bbl[[4, 17]] = 0
    hdr, _ = write_envi(tmp_path / "tray.hdr", data, interleave="bip",
                        fields={"wavelength units": "Micrometers", "wavelength": list(WL / 1000.0),
                                "fwhm": [0.0095] * 23, "bbl": list(bbl), "hole id": "DH7"})
    return hdr, data


def _cli(*args, cwd=None):
    """Run ``python -m hsimin`` in a fresh interpreter (what a user sees)."""
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _one_line_error(p, name):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    assert len(lines) == 1, lines
    assert lines[0].startswith("hsimin: error:") and name in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------- info

def test_info_json_reports_shape_wavelengths_and_bad_bands(cube_hdr, capsys):
    hdr, data = cube_hdr
    assert main(["info", str(hdr), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["shape"] == {"lines": 9, "samples": 6, "bands": 23} and doc["bands"] == 23
    assert doc["wavelength_min_nm"] == pytest.approx(1002.5) and doc["wavelength_max_nm"] == pytest.approx(2497.5)
    assert doc["interleave"] == "bip" and doc["dtype_on_disk"] == "float32" and doc["reader"] == "envi"
    assert doc["bad_bands"]["count"] == 2 and doc["bad_bands"]["indices"] == [4, 17]
    assert doc["fwhm_nm"] == pytest.approx([9.5, 9.5])
    assert doc["size_float32_mib"] == pytest.approx(9 * 6 * 23 * 4 / 2**20, abs=1e-3)
    assert doc["meta"]["hole_id"] == "DH7"


def test_info_text(cube_hdr, capsys):
    hdr, _ = cube_hdr
    assert main(["info", str(hdr)]) == 0
    out = capsys.readouterr().out
    assert "9 lines x 6 samples x 23 bands" in out and "1002.500 - 2497.500 nm" in out and "bip" in out


# --------------------------------------------------------------------------------------------- convert

def test_convert_envi_hdf5_envi_round_trip(cube_hdr, tmp_path, capsys):
    hdr, data = cube_hdr
    h5, back = tmp_path / "t.h5", tmp_path / "back.hdr"
    assert main(["convert", str(hdr), str(h5)]) == 0
    assert main(["convert", str(h5), "-o", str(back), "--interleave", "BSQ"]) == 0
    a, c = open_cube(hdr), open_cube(back)
    np.testing.assert_array_equal(np.asarray(c.data), np.asarray(a.data))
    for attr in ("wavelengths", "fwhm", "bad_bands"):
        np.testing.assert_array_equal(getattr(c, attr), getattr(a, attr))
    assert c.meta.attrs["interleave"] == "bsq" and c.meta.hole_id == "DH7"


def test_convert_refuses_before_reading_and_keeps_the_existing_file(cube_hdr, tmp_path, capsys):
    hdr, _ = cube_hdr
    out = tmp_path / "exists.h5"
    out.write_bytes(b"precious")
    broken = tmp_path / "broken.hdr"
    broken.write_text("not a header")
    assert main(["convert", str(broken), str(out)]) == 2
    assert "exists.h5" in capsys.readouterr().err          # the output is checked first
    assert out.read_bytes() == b"precious"
    assert main(["convert", str(hdr), str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_convert_usage_errors(cube_hdr, tmp_path, capsys):
    hdr, _ = cube_hdr
    assert main(["convert", str(hdr), str(tmp_path / "x.h5"), "--interleave", "bsq"]) == 2
    assert "--interleave applies to ENVI" in capsys.readouterr().err
    assert main(["convert", str(hdr)]) == 2
    assert "needs an output" in capsys.readouterr().err
    assert main(["convert", str(hdr), str(tmp_path / "x.tif")]) == 2
    assert ".tif" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))


# --------------------------------------------------------------------------------------------- calibrate

def _specim(root, rng, write_envi):
    S, B = 5, 23
    d0 = rng.integers(80, 200, (S, B))
    w0 = rng.integers(3000, 4000, (S, B))
    R = rng.uniform(0.05, 0.9, (4, S, B))
    raw = np.round(d0 + R * (w0 - d0))
    cap = root / "SCAN" / "capture"
    cap.mkdir(parents=True)
    for prefix, arr in (("", raw), ("DARKREF_", np.repeat(d0[None], 3, 0)), ("WHITEREF_", np.repeat(w0[None], 3, 0))):
        write_envi(cap / f"{prefix}T1.hdr", arr.astype("uint16"), ext=".raw",
                   fields={"wavelength units": "nm", "wavelength": list(WL)})
    return root / "SCAN", R


@pytest.mark.parametrize("ext", [".h5", ".hdr"])
def test_calibrate_writes_reflectance(tmp_path, rng, write_envi, capsys, ext):
    scan, R = _specim(tmp_path, rng, write_envi)
    out = tmp_path / f"refl{ext}"
    assert main(["calibrate", str(scan), "-o", str(out)]) == 0
    assert "0 dead cells" in capsys.readouterr().out
    cube = open_cube(out)
    assert np.abs(np.asarray(cube.data) - R).max() < 1e-3
    np.testing.assert_allclose(cube.wavelengths, WL)


# --------------------------------------------------------------------------------------------- quicklook

def test_quicklook_png(cube_hdr, tmp_path, capsys):
    hdr, _ = cube_hdr
    out = tmp_path / "q.png"
    assert main(["quicklook", str(hdr), "-o", str(out), "--rgb", "2200,1700,1100"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["quicklook", str(hdr), "-o", str(tmp_path / "q.h5")]) == 2
    assert "q.h5" in capsys.readouterr().err and not (tmp_path / "q.h5").exists()


# --------------------------------------------------------------------------------------------- errors

def test_help_lists_the_verbs_with_one_line_each():
    p = _cli("--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    for verb, words in (("info", "describe a cube"), ("convert", "convert a cube between ENVI"),
                        ("calibrate", "Specim scan folder (raw + dark + white) to reflectance"),
                        ("quicklook", "false-colour PNG")):
        assert f"{verb} {words}" in text


def _broken_copies(tmp_path, hdr):
    text = hdr.read_text()
    cut = tmp_path / "cut_tray.hdr"
    cut.write_text(text)
    (tmp_path / "cut_tray.img").write_bytes((tmp_path / "tray.img").read_bytes()[:100])
    nob = tmp_path / "nobands_tray.hdr"
    nob.write_text(text.replace("bands = 23\n", ""))
    (tmp_path / "nobands_tray.img").write_bytes((tmp_path / "tray.img").read_bytes())
    return cut, nob


def test_bad_inputs_give_one_line_errors_in_a_fresh_process(cube_hdr, tmp_path):
    """What a user sees: exit 2, one stderr line naming the file, no traceback (two cases; the rest of the
    bad inputs go through the same ``main`` in-process below)."""
    hdr, _ = cube_hdr
    cut, nob = _broken_copies(tmp_path, hdr)
    line = _one_line_error(_cli("info", cut), "cut_tray")
    assert "bytes" in line
    _one_line_error(_cli("convert", nob, tmp_path / "o.h5"), "nobands_tray")
    assert not (tmp_path / "o.h5").exists()


def _main_error(capsys, *args):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("hsimin: error:"), (code, err)
    return lines[0]


def test_bad_inputs_in_process(cube_hdr, tmp_path, capsys):
    hdr, _ = cube_hdr
    cut, nob = _broken_copies(tmp_path, hdr)
    assert "cut_tray" in _main_error(capsys, "convert", cut, tmp_path / "o.hdr")
    assert "no `bands`" in _main_error(capsys, "info", nob)
    assert "no_such_folder" in _main_error(capsys, "convert", hdr, tmp_path / "no_such_folder" / "o.h5")
    line = _main_error(capsys, "calibrate", tmp_path, "-o", tmp_path / "r.h5")
    assert "not a Specim capture" in line and "tray.hdr" in line and str(tmp_path) in line
    assert "--rgb" in _main_error(capsys, "quicklook", hdr, "-o", tmp_path / "q.png", "--rgb", "red,green")
    assert "missing.hdr" in _main_error(capsys, "info", tmp_path / "missing.hdr")
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".h5", ".png") or p.name.startswith("o.")]
