"""Spectral libraries: the bundled USGS libraries, their filters, and the ASCII / ENVI .sli / CSV readers."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import hsimin
from hsimin.core import FormatError, LibraryError, SpectralLibrary, TruncatedDataError
from hsimin.io.libraries import (COMMON_GRID_NM, increasing_bands, list_libraries, load_library, read_csv_library,
                                 read_envi_sli, read_usgs_ascii, spectral_libs_dir, usgs_physical_sample)
from hsimin.preprocess.resample import resample


@pytest.fixture(scope="module")
def splib():
    return load_library("usgs_splib07")


def test_bundled_libraries_are_listed_and_exported():
    assert {"usgs_splib07", "usgs_artefacts"} <= set(list_libraries())
    assert hsimin.load_library is load_library and hsimin.list_libraries is list_libraries
    assert (spectral_libs_dir() / "usgs_splib07" / "PROVENANCE.md").is_file()


def test_usgs_splib07_on_the_common_grid(splib):
    assert isinstance(splib, SpectralLibrary)
    assert splib.spectra.shape == (1276, 2151)
    np.testing.assert_array_equal(splib.wavelengths, COMMON_GRID_NM)
    assert splib.fwhm is None
    assert 0.3 < np.nanmedian(splib.spectra) < 0.7
    assert {"kaolinite", "white_mica", "calcite", "chlorite", "dolomite", "smectite", "serpentine"} <= set(splib.minerals)
    # instruments and their ranges: NIC4 has nothing below 1123 nm and little below 1500 nm
    inst = np.array(splib.attrs["instrument"])
    assert set(inst) == {"ASDFR", "ASDNG", "ASDHR", "BECK", "NIC4"}
    nic = splib.spectra[inst == "NIC4"]
    assert np.isnan(nic[:, COMMON_GRID_NM < 1120]).all()
    assert np.isfinite(nic[:, (COMMON_GRID_NM > 2000) & (COMMON_GRID_NM < 2300)]).mean() > 0.95
    asd = np.char.startswith(inst.astype(str), "ASD")
    assert np.isfinite(splib.spectra[asd]).mean() > 0.99
    for k in ("purity", "instrument", "mtype", "title", "usgs_sample_id", "record", "is_mixture"):
        assert len(splib.attrs[k]) == len(splib)


def test_asd_spectra_are_copied_unchanged(splib):
    with h5py.File(spectral_libs_dir() / "usgs_splib07" / "usgs_splib07a_minerals.h5", "r") as f:
        raw = f["ASD"]["reflectance"][:5].astype(np.float64)
        names = f["ASD"]["name"].asstr()[:5]
    np.testing.assert_array_equal(splib.spectra[:5], raw)
    assert list(splib.names[:5]) == list(names)


def test_sample_ids_group_one_physical_sample(splib):
    ids = dict(zip(splib.names, splib.sample_ids))
    assert ids["Actinolite_HS116.1B"] == ids["Actinolite_HS116.4B"] == "HS116"
    assert ids["Epidote_GDS26.a_75-200um"] == ids["Epidote_GDS26.b_lt75um"] == "GDS26"
    both = [i for i, n in enumerate(splib.names) if n == "Kaolinite_CM9"]
    assert len(both) >= 3 and {splib.sample_ids[i] for i in both} == {"CM9"}   # ASD, BECK and NIC4
    assert 300 < len(set(splib.sample_ids)) < len(splib)


@pytest.mark.parametrize("sid,want", [
    ("HS116.1B", "HS116"), ("GDS26.b_lt75um", "GDS26"), ("Fe_GDS157.b", "GDS157"), ("KGa-1_(wxl)", "KGA-1"),
    ("GDS116a_Tanzania", "GDS116"), ("NMNH117611.HCl", "NMNH117611"), ("CM9", "CM9"), ("Glen_Cove_#6", "GLEN_COVE_#6"),
])
def test_usgs_physical_sample(sid, want):
    assert usgs_physical_sample(sid) == want


def test_loading_is_cached_and_read_only(splib):
    assert load_library("usgs_splib07") is splib
    with pytest.raises(ValueError):
        splib.spectra[0, 0] = 1.0
    sub = splib.subset([0, 1])
    sub.spectra[0, 0] = 2.0                         # subsets are copies
    assert splib.spectra[0, 0] != 2.0


def test_filters(splib):
    a = load_library("usgs_splib07", purity="a")
    assert 0 < len(a) < len(splib) and all(set(p) <= {"a"} for p in a.attrs["purity"])
    asd = load_library("usgs_splib07", instruments="ASD")
    assert len(asd) == 448 and set(asd.attrs["instrument"]) == {"ASDFR", "ASDNG", "ASDHR"}
    beck = load_library("usgs_splib07", instruments=["beck"])
    assert len(beck) == 439
    swir = load_library("usgs_splib07", wavelength_range=(1000, 2500), min_coverage=1.0)
    assert swir.wavelengths[0] == 1000 and swir.wavelengths[-1] == 2500 and swir.spectra.shape[1] == 1501
    assert np.isfinite(swir.spectra).all() and "NIC4" not in set(swir.attrs["instrument"])
    carb = load_library("usgs_splib07", minerals=["Calcite", "dolomite"])
    assert set(carb.minerals) == {"calcite", "dolomite"} and len(carb) == 14
    with pytest.raises(hsimin.HsiminError, match="wavelength_range"):
        load_library("usgs_splib07", wavelength_range=(2600, 2700))


def test_resampled_on_load_to_a_scanner(splib):
    wl = np.linspace(1000.0, 2500.0, 270)
    fw = np.full(270, 10.0)
    lib = load_library("usgs_splib07", wavelengths=wl, fwhm=fw)
    assert lib.spectra.shape == (1276, 270)
    np.testing.assert_array_equal(lib.wavelengths, wl)
    np.testing.assert_array_equal(lib.fwhm, fw)
    # each instrument from its native grid with the effective width sqrt(10^2 - FWHM_instrument^2)
    with h5py.File(spectral_libs_dir() / "usgs_splib07" / "usgs_splib07a_minerals.h5", "r") as f:
        g = f["ASD"]
        i = list(g["name"].asstr()[:]).index("Kaolinite_CM9")
        inst = g["instrument"].asstr()[i]
        want = resample(g["reflectance"][i].astype(np.float64), g["wavelength_nm"][:].astype(np.float64), wl, fw,
                        source_fwhm=g[f"fwhm_nm_{inst}"][:].astype(np.float64))
    j = [k for k in range(len(lib)) if lib.names[k] == "Kaolinite_CM9" and lib.attrs["instrument"][k] == inst][0]
    np.testing.assert_allclose(lib.spectra[j], want, rtol=0, atol=1e-12)
    asd = np.array([i.startswith("ASD") for i in lib.attrs["instrument"]])
    assert np.isfinite(lib.spectra[asd]).mean() > 0.999


def test_usgs_artefacts():
    art = load_library("usgs_artefacts")
    assert len(art) == 48 and set(art.minerals) == {"plastic", "wood", "cardboard", "metal"}
    assert art.wavelengths.size == 214 and np.all(np.diff(art.wavelengths) > 0)
    assert 380 < art.wavelengths[0] < 390 and 2500 < art.wavelengths[-1] < 2510
    assert art.fwhm is not None and np.all((art.fwhm > 5) & (art.fwhm < 20))
    i = art.names.index("Plastic_HDPE_GDS351_BlkSheet")
    assert art.sample_ids[i] == "GDS351" and art.attrs["purity"][i] == "a" and art.attrs["instrument"][i] == "ASDFR"
    assert np.nanmean(art.spectra[i]) < 0.15        # black plastic is dark


def test_increasing_bands():
    np.testing.assert_array_equal(increasing_bands([1.0, 2.0, 3.0]), [0, 1, 2])
    np.testing.assert_array_equal(increasing_bands([3.0, 2.0, 1.0]), [2, 1, 0])
    wl = [600.0, 650.0, 687.0, 664.3, 674.0, 700.0, 710.0]          # an AVIRIS-like spectrometer overlap
    np.testing.assert_array_equal(increasing_bands(wl), [0, 1, 5, 6])
    np.testing.assert_array_equal(increasing_bands(wl, "sort"), [0, 1, 3, 4, 2, 5, 6])
    with pytest.raises(hsimin.HsiminError):
        increasing_bands([1.0, 2.0, 2.0, 3.0], "sort")


# --------------------------------------------------------------------------- readers on tiny files

def _usgs_txt(path: Path, header: str, values) -> Path:
    path.write_text(header + "\n" + "\n".join(f"{v:14.6E}" for v in values) + "\n")
    return path


def test_read_usgs_ascii(tmp_path):
    wl_um = [0.40, 0.50, 0.60, 0.70, 0.80]
    wfile = _usgs_txt(tmp_path / "splib07a_Wavelengths_TEST_0.4-0.8_microns.txt",
                      "splib07a Record=1: Wavelengths in microns 5 ch", wl_um)
    ffile = _usgs_txt(tmp_path / "splib07a_Bandpass_(FWHM)_TEST.txt", "splib07a Record=2: Bandpass", [0.01] * 5)
    a = _usgs_txt(tmp_path / "splib07a_Kaolinite_CM9_BECKb_AREF.txt",
                  "splib07a Record=7781: Kaolinite CM9  BECKb AREF", [0.5, 0.6, -1.23e34, 0.7, 0.65])
    b = _usgs_txt(tmp_path / "splib07a_Clinochlore_Fe_GDS157.b_ASDFRa_AREF.txt",
                  "splib07a Record=99: Clinochlore Fe GDS157.b  ASDFRa AREF", [0.3, 0.31, 0.32, 0.33, 0.34])
    lib = read_usgs_ascii([a, b], wfile, fwhm=ffile)
    np.testing.assert_allclose(lib.wavelengths, [400, 500, 600, 700, 800])
    np.testing.assert_allclose(lib.fwhm, 10.0)
    assert np.isnan(lib.spectra[0, 2]) and lib.spectra[0, 3] == pytest.approx(0.7)
    assert lib.names == ("Kaolinite_CM9", "Clinochlore_Fe_GDS157.b")
    assert lib.minerals == ("kaolinite", "chlorite")
    assert lib.sample_ids == ("CM9", "GDS157")
    assert lib.attrs["instrument"] == ("BECK", "ASDFR") and lib.attrs["purity"] == ("b", "a")
    assert lib.attrs["mtype"] == ("AREF", "AREF")
    short = _usgs_txt(tmp_path / "short.txt", "splib07a Record=3: Talc GDS23 ASDFRa AREF", [0.1, 0.2])
    with pytest.raises(FormatError, match="wrong wavelength file"):
        read_usgs_ascii(short, wfile)


def test_read_envi_sli_written_by_spy(tmp_path):
    import spectral.io.envi as envi
    S = np.array([[0.5, 0.6, 0.7, 0.8], [0.2, 0.25, -1.23e34, 0.3]], dtype=np.float32)
    lib = envi.SpectralLibrary(S, {"wavelength": [2.5, 2.3, 2.1, 1.9], "fwhm": [0.01] * 4,
                                   "spectra names": ["Calcite WS272  ASDNGa AREF", "Muscovite GDS113 Ruby"],
                                   "wavelength units": "Micrometers"})
    lib.save(str(tmp_path / "tiny"))
    got = read_envi_sli(tmp_path / "tiny.hdr")
    np.testing.assert_allclose(got.wavelengths, [1900, 2100, 2300, 2500])     # µm -> nm, decreasing -> increasing
    np.testing.assert_allclose(got.spectra[0], [0.8, 0.7, 0.6, 0.5], rtol=1e-6)
    assert np.isnan(got.spectra[1, 1])
    np.testing.assert_allclose(got.fwhm, 10.0)
    assert got.minerals == ("calcite", "white_mica") and got.attrs["instrument"][0] == "ASDNG"
    assert load_library(tmp_path / "tiny.sli").names == got.names            # dispatch on the extension


def test_read_envi_sli_scale_and_offset(tmp_path):
    S = np.array([[5000, 6000, 7000]], dtype="<i2")
    (tmp_path / "lib.sli").write_bytes(b"\0" * 16 + S.tobytes())
    (tmp_path / "lib.hdr").write_text(
        "ENVI\nsamples = 3\nlines = 1\nbands = 1\nheader offset = 16\nfile type = ENVI Spectral Library\n"
        "data type = 2\ninterleave = bsq\nbyte order = 0\nwavelength units = Nanometers\n"
        "reflectance scale factor = 10000\nwavelength = {1000, 1500, 2000}\nspectra names = {Talc_GDS23}\n")
    got = read_envi_sli(tmp_path / "lib.hdr")
    np.testing.assert_allclose(got.spectra, [[0.5, 0.6, 0.7]])
    assert got.minerals == ("talc",)
    (tmp_path / "img.hdr").write_text("ENVI\nsamples = 3\nlines = 1\nbands = 1\nfile type = ENVI Standard\n"
                                      "data type = 2\ninterleave = bsq\n")
    with pytest.raises(FormatError, match="not an ENVI spectral library"):
        read_envi_sli(tmp_path / "img.hdr")


def test_read_csv_library_both_layouts(tmp_path):
    cols = tmp_path / "cols.csv"
    cols.write_text("# a comment line\nwavelength_um,Kaolinite_CM9,Calcite_WS272\n"
                    "1.0,81.0,90.0\n1.5,80.0,\n2.0,70.5,88.0\n")
    a = read_csv_library(cols)
    np.testing.assert_allclose(a.wavelengths, [1000, 1500, 2000])
    np.testing.assert_allclose(a.spectra[0], [0.81, 0.80, 0.705])            # percent -> fraction
    assert np.isnan(a.spectra[1, 1]) and a.minerals == ("kaolinite", "calcite")
    rows = tmp_path / "rows.csv"
    rows.write_text("name;2000;1500;1000\nTalc_HS21.3B;0.7;0.8;0.9\nMuscovite_HS146.3B;0.5;0.6;0.65\n")
    b = read_csv_library(rows)
    np.testing.assert_allclose(b.wavelengths, [1000, 1500, 2000])
    np.testing.assert_allclose(b.spectra, [[0.9, 0.8, 0.7], [0.65, 0.6, 0.5]])
    assert b.minerals == ("talc", "white_mica") and b.sample_ids == ("HS21", "HS146")
    c = read_csv_library(rows, scale=0.5)
    np.testing.assert_allclose(c.spectra[0], [1.8, 1.6, 1.4])
    lib = load_library(cols, wavelengths=[1250.0, 1750.0])
    np.testing.assert_allclose(lib.spectra[0], [0.805, 0.7525])
    bad = tmp_path / "bad.csv"
    bad.write_text("wavelength,a\n1000,x\n")
    with pytest.raises(FormatError, match="not a number"):
        read_csv_library(bad)


def test_load_library_errors_say_what_to_do(tmp_path):
    with pytest.raises(LibraryError, match="usgs_splib07"):
        load_library("no_such_library")
    with pytest.raises(LibraryError, match="no such library file"):
        load_library(tmp_path / "missing.csv")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(LibraryError, match="extension"):
        load_library(tmp_path / "x.xyz")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["stuff"] = np.zeros(3)
    with pytest.raises(FormatError, match="spectral library"):
        load_library(tmp_path / "other.h5")
    with pytest.raises(hsimin.HsiminError, match="fwhm= needs wavelengths="):
        load_library("usgs_splib07", fwhm=[10.0])


def test_envi_sli_widths_in_wavenumbers_convert_as_for_cubes(tmp_path):
    """One header path for cubes and libraries: a cm-1 fwhm becomes nm at each band (dl = l^2 dv / 1e7), the way
    open_cube converts it, instead of being dropped."""
    S = np.array([[0.5, 0.6, 0.7]], dtype="<f4")
    (tmp_path / "w.sli").write_bytes(S.tobytes())
    (tmp_path / "w.hdr").write_text(
        "ENVI\nsamples = 3\nlines = 1\nbands = 1\nfile type = ENVI Spectral Library\ndata type = 4\n"
        "interleave = bsq\nbyte order = 0\nwavelength units = cm-1\nwavelength = {5000, 4500, 4000}\n"
        "fwhm = {10, 10, 10}\nspectra names = {Talc_GDS23}\n")
    got = read_envi_sli(tmp_path / "w.hdr")
    np.testing.assert_allclose(got.wavelengths, [2000.0, 1e7 / 4500, 2500.0])
    np.testing.assert_allclose(got.fwhm, got.wavelengths ** 2 * 10 / 1e7)
    np.testing.assert_allclose(got.spectra, [[0.5, 0.6, 0.7]], rtol=1e-6)   # decreasing cm-1 -> increasing nm
    (tmp_path / "w.sli").write_bytes(S.tobytes()[:8])
    with pytest.raises(TruncatedDataError):
        read_envi_sli(tmp_path / "w.hdr")
