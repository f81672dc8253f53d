"""The TSG (HyLogger) reader: every bundled real package, synthetic packages laid out byte by byte, bad input."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import hsimin
from hsimin.core.errors import FormatError, HeaderError, TruncatedDataError
from hsimin.io.tsg import find_tsg_files, open_tsg, read_tsg_header, sniff_tsg, tsa_results
from hsimin.samples import HYLOGGER_SETS, hylogger_path

# What each real package must read as (counted from the .tsg text and the .bip size, not by hsimin).
EXPECTED = {
    "SWMB007d": (72, 531, 380.0, 2500.0, "SWMB007d_Chips", 0.5, 71.5),
    "SWMB008d": (54, 531, 380.0, 2500.0, "SWMB008d_Chips", 0.5, 53.5),
    "SWMB007s": (30, 531, 380.0, 2500.0, "SWMB007s_Chips", 0.5, 29.5),
    "GSNSW_testrocks": (222, 526, 400.0, 2500.0, "Testrocks", 0.002252, 0.997748),
}


def _raw_planes(path, n, b):
    """The .bip decoded the plain way: two little-endian float32 planes of n x b values."""
    raw = np.fromfile(path.with_suffix(".bip"), dtype="<f4")
    assert raw.size == 2 * n * b
    return raw.reshape(2, n, b)


@pytest.mark.parametrize("name", sorted(HYLOGGER_SETS))
def test_every_bundled_package_reads_as_its_files_say(name):
    n, b, lo, hi, hole, d0, d1 = EXPECTED[name]
    tsg = hylogger_path(name)
    cube = hsimin.open_cube(tsg)
    assert cube.shape == (n, 1, b)
    assert cube.meta.attrs["format"] == "tsg" and cube.meta.attrs["spectral_range"] == "nir"
    assert cube.wavelengths[0] == pytest.approx(lo) and cube.wavelengths[-1] == pytest.approx(hi)
    assert np.allclose(np.diff(cube.wavelengths), (hi - lo) / (b - 1))
    assert cube.meta.hole_id == hole
    assert cube.meta.depth_from_m == pytest.approx(d0) and cube.meta.depth_to_m == pytest.approx(d1)
    planes = _raw_planes(tsg, n, b)
    data = np.asarray(cube.data)[:, 0, :]
    want = np.where(planes[0] <= -1e38, np.nan, planes[0])
    np.testing.assert_array_equal(data, want)
    # one row per spectrum, in file order; the table's depths are the sample headers' D values
    t = cube.table
    assert len(t) == n and t["depth_m"][0] == pytest.approx(d0) and t["depth_m"][-1] == pytest.approx(d1)
    assert np.all(np.diff(t["depth_m"]) > 0)
    assert set(t["hole_id"]) == {hole}
    # the same package opened by its folder and by its .bip is the same cube
    for other in (tsg.parent, tsg.with_suffix(".bip")):
        assert hsimin.open_cube(other).table["sample"].tolist() == t["sample"].tolist()


@pytest.mark.parametrize("name", sorted(HYLOGGER_SETS))
def test_tsa_columns_are_labels_with_missing_as_missing(name):
    cube = hsimin.open_cube(hylogger_path(name))
    swir = tsa_results(cube.table, "swir")
    assert swir is not None and swir.run in ("sTSAS", "uTSAS")
    named = swir.min1 != ""
    assert named.mean() > 0.9                                   # TSA names nearly every spectrum
    assert all(not m.replace(".", "").isdigit() for m in swir.min1)   # labels, never class numbers
    w = swir.wt1[named]
    assert np.all((w > 0) & (w <= 1.0 + 1e-6))
    assert np.all(np.isnan(swir.wt1[~named]))                  # -3.4e38 in the file: missing, not a number
    vnir = tsa_results(cube.table, "vnir")
    assert vnir is not None and vnir.run == "sTSAV"


def test_class_number_zero_is_a_class():
    """In SWMB007s TSA's minerals are class 0 (the first [class] section): read as names, like any class."""
    t = hsimin.open_cube(hylogger_path("SWMB007s")).table
    assert set(t["Min1 sTSAS"]) <= {"Kaolinite-WX", "Kaolinite-PX", "Montmorillonite", "Dickite", ""}
    assert (t["Min1 sTSAS"] == "Kaolinite-WX").sum() >= 10


def test_thermal_and_mid_ir_pairs_open_as_their_own_cubes():
    tir = hsimin.open_cube(hylogger_path("SWMB007d", "tir"))
    assert tir.shape == (72, 1, 341) and tir.wavelengths[0] == 6000.0 and tir.wavelengths[-1] == 14500.0
    assert tir.meta.attrs["spectral_range"] == "tir"
    mir = hsimin.open_cube(hylogger_path("GSNSW_testrocks", "mir"))
    assert mir.shape == (222, 1, 438) and mir.wavelengths[0] == 2000.0 and mir.wavelengths[-1] == 5496.0
    folder_tir = open_tsg(hylogger_path("GSNSW_testrocks").parent, spectral_range="tir")
    assert folder_tir.shape == (222, 1, 341)


def test_lazy_reads_only_what_is_asked(tmp_path, write_tsg, rng):
    X = rng.uniform(0.05, 0.9, (40, 32)).astype(np.float32)
    tsg, bip = write_tsg(tmp_path, X, start_nm=1000, end_nm=2500)
    cube = open_tsg(tsg)
    assert type(cube.data).__name__ == "TsgSpectraArray"
    np.testing.assert_array_equal(cube.data[10:13, 0], X[10:13])
    np.testing.assert_array_equal(cube.data[-1, 0, :5], X[-1, :5])
    import pickle
    again = pickle.loads(pickle.dumps(cube.data))    # holds a path and numbers: picklable for batch workers
    np.testing.assert_array_equal(np.asarray(again)[:, 0], X)


def test_synthetic_layouts(tmp_path, write_tsg, rng):
    X = rng.uniform(0.05, 0.9, (7, 12)).astype(np.float32)
    X[2, 3] = np.nan
    scal = {"Depth1": rng.uniform(0, 1, 7), "Min1 sTSAS": [0, 1, 1, np.nan, 0, 2, 1], "Wt1 sTSAS": [1, .5, .6, np.nan,
                                                                                                    .9, .7, .8]}
    cls = {"Min1 sTSAS": ["Kaolinite-WX", "Muscovite", "Aspectral"]}
    for kw in ({}, {"dataheader": 64}, {"byteorder": ">"}, {"with_scalars": False}):
        folder = tmp_path / "_".join(f"{k}{v}" for k, v in kw.items()) if kw else tmp_path / "plain"
        tsg, _ = write_tsg(folder, X, scalars=scal, classes=cls, **kw)
        cube = open_tsg(tsg)
        got = np.asarray(cube.data)[:, 0]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(X))
        np.testing.assert_allclose(got[~np.isnan(X)], X[~np.isnan(X)])
        if kw.get("with_scalars", True):
            assert cube.table["Min1 sTSAS"].tolist() == ["Kaolinite-WX", "Muscovite", "Muscovite", "", "Kaolinite-WX",
                                                        "Aspectral", "Muscovite"]
            assert np.isnan(cube.table["Wt1 sTSAS"][3]) and cube.table["Wt1 sTSAS"][4] == pytest.approx(0.9)
        else:
            assert "Min1 sTSAS" not in cube.table and cube.meta.attrs["scalars_stored"] is False


def test_wavenumber_axis_is_put_in_increasing_nm(tmp_path, write_tsg, rng):
    X = rng.uniform(0.05, 0.9, (3, 5)).astype(np.float32)
    tsg, _ = write_tsg(tmp_path, X, start_nm=1000.0, end_nm=2000.0, unit="cm-1")
    cube = open_tsg(tsg)
    assert np.all(np.diff(cube.wavelengths) > 0)
    assert cube.wavelengths[0] == pytest.approx(5000.0) and cube.wavelengths[-1] == pytest.approx(10000.0)
    np.testing.assert_allclose(np.asarray(cube.data)[:, 0], X[:, ::-1])


# --------------------------------------------------------------------------- bad input

def test_truncated_bip(tmp_path, write_tsg, rng):
    tsg, bip = write_tsg(tmp_path, rng.uniform(0, 1, (6, 10)).astype(np.float32))
    bip.write_bytes(bip.read_bytes()[:100])
    with pytest.raises(TruncatedDataError, match="truncated") as e:
        open_tsg(tsg)
    assert e.value.path == str(bip)


def test_bip_that_disagrees_with_the_tsg(tmp_path, write_tsg, rng):
    tsg, bip = write_tsg(tmp_path, rng.uniform(0, 1, (6, 10)).astype(np.float32))
    bip.write_bytes(bip.read_bytes() + b"\0" * 40)
    with pytest.raises(FormatError, match="do not belong together"):
        open_tsg(tsg)


def test_tsg_without_bip_and_bip_without_tsg(tmp_path, write_tsg, rng):
    tsg, bip = write_tsg(tmp_path, rng.uniform(0, 1, (6, 10)).astype(np.float32))
    data = bip.read_bytes()
    bip.unlink()
    with pytest.raises(FormatError, match=r"FAKE_tsg\.bip is missing"):
        open_tsg(tsg)
    bip.write_bytes(data)
    tsg.unlink()
    with pytest.raises(FormatError, match="without its .tsg"):
        open_tsg(bip)


def test_folder_with_two_nir_packages(tmp_path, write_tsg, rng):
    X = rng.uniform(0, 1, (4, 8)).astype(np.float32)
    write_tsg(tmp_path, X, stem="A_tsg")
    write_tsg(tmp_path, X, stem="B_tsg")
    with pytest.raises(FormatError, match="holds 2 NIR TSG packages"):
        open_tsg(tmp_path)
    assert find_tsg_files(tmp_path / "A_tsg.tsg")[1].name == "A_tsg.bip"   # one file of the two: fine


def test_non_numeric_fields_name_the_line(tmp_path, write_tsg, rng):
    tsg, _ = write_tsg(tmp_path, rng.uniform(0, 1, (4, 8)).astype(np.float32), scalars={"Albedo": [1, 2, 3, 4]})
    text = tsg.read_text(encoding="cp1252")
    bad = text.replace("D=2.500000", "D=two")
    tsg.write_text(bad, encoding="cp1252")
    with pytest.raises(HeaderError, match=r"line \d+: sample 2 has D='two'"):
        open_tsg(tsg)
    tsg.write_text(text.replace("0:Albedo;0.0;1.0;2;-1", "0:Albedo;0.0;1.0;x;-1"), encoding="cp1252")
    with pytest.raises(HeaderError, match="non-numeric flag"):
        open_tsg(tsg)
    tsg.write_text(text.replace("lastband = 8", "lastband = eight"), encoding="cp1252")
    with pytest.raises(HeaderError, match="lastband"):
        open_tsg(tsg)


def test_counts_that_disagree(tmp_path, write_tsg, rng):
    tsg, _ = write_tsg(tmp_path, rng.uniform(0, 1, (4, 8)).astype(np.float32))
    text = tsg.read_text(encoding="cp1252")
    tsg.write_text(text.replace("samples = 4", "samples = 5"), encoding="cp1252")
    with pytest.raises(HeaderError, match="disagree on the number of spectra"):
        read_tsg_header(tsg)
    lines = [ln for ln in text.splitlines() if not ln.startswith("3:FAKE01")]
    tsg.write_text("\n".join(lines), encoding="cp1252")
    with pytest.raises(HeaderError, match="3 sample headers for 4 spectra"):
        read_tsg_header(tsg)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_named_tsg_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "x.tsg"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="not a regular file"):
        read_tsg_header(fifo)


def test_sniff_claims_packages_only(tmp_path, write_tsg, rng):
    tsg, bip = write_tsg(tmp_path / "pkg", rng.uniform(0, 1, (2, 4)).astype(np.float32))
    assert sniff_tsg(tsg) and sniff_tsg(bip) and sniff_tsg(tsg.parent)
    other = tmp_path / "other"
    other.mkdir()
    (other / "cube.bip").write_bytes(b"\0" * 16)      # an ENVI-style .bip without a .tsg is not TSG's
    assert not sniff_tsg(other / "cube.bip") and not sniff_tsg(other)


# --------------------------------------------------------------------------- through the CLI

def _hsimin(*args):
    return subprocess.run([sys.executable, "-m", "hsimin", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_info_describes_a_package():
    p = _hsimin("info", hylogger_path("SWMB007s").parent)
    assert p.returncode == 0, p.stderr
    assert "30 spectra x 531 bands" in p.stdout and "380.000 - 2500.000 nm" in p.stdout
    assert "SWMB007s_Chips" in p.stdout and "0.5 - 29.5 m" in p.stdout
    assert "TSA sTSAS" in p.stdout and "TSA sTSAV" in p.stdout and "Kaolinite-WX" in p.stdout


def test_cli_bad_package_is_one_line_exit_2(tmp_path, write_tsg, rng):
    tsg, bip = write_tsg(tmp_path, rng.uniform(0, 1, (6, 10)).astype(np.float32))
    bip.write_bytes(bip.read_bytes()[:50])
    for args in (("info", tsg), ("identify", tsg, "-o", tmp_path / "m.h5")):
        p = _hsimin(*args)
        assert p.returncode == 2
        err = p.stderr.strip().splitlines()
        assert len(err) == 1 and "FAKE_tsg.bip" in err[0] and "truncated" in err[0]
    assert not (tmp_path / "m.h5").exists()
