"""ENVI reader and writer: every layout and quirk the issue lists, laziness, and every bad input."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import hsimin.io.envi as envi_mod
import hsimin.io.interleaved as interleaved
from hsimin.core import (Cube, FormatError, HeaderError, OutputError, OutputExistsError, ScanMeta,
                         TruncatedDataError, WavelengthError)
from hsimin.io import open_cube
from hsimin.io.envi import (EnviLazyArray, inspect_envi, open_envi, parse_envi_header, sniff_envi,
                            write_envi_cube)
import subprocess
import sys

WL_NM = np.linspace(1000.0, 2500.0, 12)


def _nm_fields(wl=WL_NM, **more):
    return {"wavelength units": "Nanometers", "wavelength": list(wl), **more}


def _raw(rng, dtype, shape=(7, 5, 12)):
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-0.1, 1.2, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -3000), min(info.max, 60000), shape).astype(dtype)


# --------------------------------------------------------------------------------------------- layouts

@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("byte_order", [0, 1])
def test_every_interleave_dtype_and_byte_order(tmp_path, rng, write_envi, interleave, dtype, byte_order):
    raw = _raw(rng, dtype)
    hdr, _ = write_envi(tmp_path / "c.hdr", raw, interleave=interleave, byte_order=byte_order,
                        fields=_nm_fields())
    cube = open_envi(hdr)
    assert isinstance(cube.data, EnviLazyArray)
    got = np.asarray(cube.data)
    assert got.dtype == np.float32 and got.shape == raw.shape
    np.testing.assert_array_equal(got, raw.astype(np.float32))
    np.testing.assert_array_equal(cube.wavelengths, WL_NM)
    assert cube.meta.attrs["interleave"] == interleave and cube.meta.attrs["dtype"] == dtype
    assert cube.meta.attrs["byte_order"] == byte_order


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("compiled", [True, False])
def test_threaded_chunked_reads_equal_single_reads(tmp_path, rng, write_envi, monkeypatch, interleave, compiled):
    """The path of large reads (threads, the compiled transpose or numpy's when numba is missing), forced on a
    small cube with tiny chunks, gives the same numbers, including byte swapping, a non-trivial band order,
    the scale factor and the ignore value."""
    raw = _raw(rng, "int16", (37, 6, 12))
    raw[5, 2, :] = -999
    raw[9, 1, 3] = -999
    order = rng.permutation(12)
    fields = _nm_fields(WL_NM[order], **{"reflectance scale factor": 1000, "data ignore value": -999})
    hdr, _ = write_envi(tmp_path / "t.hdr", raw, interleave=interleave, byte_order=1, fields=fields)
    single = np.asarray(open_envi(hdr).data)
    monkeypatch.setattr(interleaved, "THREAD_MIN_BYTES", 0)
    monkeypatch.setattr(interleaved, "CHUNK_BYTES", 1)
    monkeypatch.setattr(interleaved, "BSQ_CHUNK_BYTES", 3 * 6 * 12 * 2)
    monkeypatch.setattr(interleaved, "IO_THREADS", 3)
    if not compiled:
        monkeypatch.setattr(interleaved, "_KERNEL", [None])
    elif interleave != "bip":
        assert interleaved._transpose_kernel() is not None
    cube = open_envi(hdr)
    threaded = np.asarray(cube.data)
    np.testing.assert_array_equal(threaded, single)
    expected = raw[..., np.argsort(WL_NM[order])].astype(np.float64) / 1000.0
    expected[raw[..., np.argsort(WL_NM[order])] == -999] = np.nan
    np.testing.assert_allclose(threaded, expected, rtol=1e-6)
    assert not cube.mask[5, 2] and cube.mask[9, 1] and cube.mask.sum() == cube.mask.size - 1


def test_header_offset_junk_capitals_and_big_endian_bsq(tmp_path, rng):
    L, S, B = 6, 4, 9
    refl = rng.uniform(0.0, 1.0, (L, S, B)).astype(np.float32)
    wl_um = np.linspace(1.1, 2.4, B)
    junk = bytes(rng.integers(1, 255, 300, dtype=np.uint8))
    payload = junk + refl.transpose(2, 0, 1).astype(">f4").tobytes()
    text = "\n".join(["ENVI", "Description = {capitals,", "  over two lines}", f"SAMPLES = {S}", f"Lines   = {L}",
                      f"Bands= {B}", "HEADER  OFFSET = 300", "Data Type = 4", "Interleave = BSQ", "Byte Order = 1",
                      "Wavelength Units = Micrometers", "",
                      "Wavelength = {" + ",\n\n ".join(repr(float(w)) for w in wl_um) + "}", "; a comment"])
    (tmp_path / "caps.hdr").write_text(text + "\n")
    (tmp_path / "caps.dat").write_bytes(payload)
    cube = open_envi(tmp_path / "caps.hdr")
    np.testing.assert_array_equal(np.asarray(cube.data), refl)
    np.testing.assert_allclose(cube.wavelengths, wl_um * 1000.0)
    assert cube.meta.attrs["header_offset"] == 300
    assert cube.meta.attrs["description"] == "capitals, over two lines"


# --------------------------------------------------------------------------------------------- wavelengths

@pytest.mark.parametrize("unit,factor", [("nm", 1.0), ("Nanometers", 1.0), ("micrometers", 1e-3), ("um", 1e-3),
                                         ("µm", 1e-3), ("Microns", 1e-3), ("Unknown", 1e-3), (None, 1.0)])
def test_wavelength_units_to_nm(tmp_path, rng, write_envi, unit, factor):
    fields = {"wavelength": list(WL_NM * factor), "fwhm": list(np.full(12, 10.0) * factor)}
    if unit is not None:
        fields["wavelength units"] = unit
    hdr, _ = write_envi(tmp_path / "u.hdr", _raw(rng, "float32"), fields=fields)
    cube = open_envi(hdr)
    np.testing.assert_allclose(cube.wavelengths, WL_NM, rtol=1e-12)
    np.testing.assert_allclose(cube.fwhm, 10.0, rtol=1e-12)


def test_wavenumbers_reorder_bands_and_convert_fwhm(tmp_path, rng, write_envi):
    nu = np.linspace(4000.0, 10000.0, 12)           # increasing cm-1 = decreasing nm
    dnu = np.linspace(20.0, 42.0, 12)
    bbl = np.ones(12, int)
    bbl[1] = 0
    raw = _raw(rng, "float32")
    hdr, _ = write_envi(tmp_path / "w.hdr", raw, fields={"wavelength units": "cm-1", "wavelength": list(nu),
                                                         "fwhm": list(dnu), "bbl": list(bbl)})
    cube = open_envi(hdr)
    nm = 1e7 / nu
    np.testing.assert_allclose(cube.wavelengths, nm[::-1])
    np.testing.assert_allclose(cube.fwhm, (nm ** 2 * dnu / 1e7)[::-1])
    np.testing.assert_array_equal(cube.bad_bands, (bbl == 0)[::-1])
    np.testing.assert_array_equal(np.asarray(cube.data), raw[..., ::-1])
    assert cube.meta.attrs["bands_reordered"]


def test_shuffled_wavelengths_reorder_everything_consistently(tmp_path, rng, write_envi):
    order = rng.permutation(12)
    wl, fwhm = WL_NM[order], np.arange(12.0)[order] + 5
    bbl = (np.arange(12) % 5 != 0).astype(int)[order]
    raw = _raw(rng, "uint16")
    for inter in ("bsq", "bil", "bip"):
        hdr, _ = write_envi(tmp_path / f"s_{inter}.hdr", raw, interleave=inter,
                            fields=_nm_fields(wl, fwhm=list(fwhm), bbl=list(bbl)))
        cube = open_envi(hdr)
        back = np.argsort(wl)
        np.testing.assert_array_equal(cube.wavelengths, WL_NM)
        np.testing.assert_array_equal(cube.fwhm, np.arange(12.0) + 5)
        np.testing.assert_array_equal(cube.bad_bands, np.arange(12) % 5 == 0)
        np.testing.assert_array_equal(np.asarray(cube.data), raw[..., back].astype(np.float32))
        np.testing.assert_array_equal(cube.data[3, 2], raw[3, 2, back])


def test_wavelength_problems_raise_wavelength_errors_naming_the_header(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32")
    cases = {
        "count": _nm_fields(WL_NM[:11]),
        "dup": _nm_fields(np.r_[WL_NM[:11], WL_NM[3]]),
        "unit": _nm_fields(**{"wavelength units": "furlongs"}),
        "negative": {"wavelength units": "nm", "wavelength": list(WL_NM - 1500)},
        "missing": {},
    }
    for name, fields in cases.items():
        hdr, _ = write_envi(tmp_path / f"{name}_tray.hdr", raw, fields=fields)
        with pytest.raises(WavelengthError) as exc:
            open_envi(hdr)
        assert exc.value.path == str(hdr), name
        assert f"{name}_tray.hdr" in str(exc.value)
    assert "repeat" in str(pytest.raises(WavelengthError, open_envi, tmp_path / "dup_tray.hdr").value)


def test_missing_wavelengths_can_be_given(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32")
    hdr, _ = write_envi(tmp_path / "nowl.hdr", raw)
    cube = open_cube(hdr, wavelengths=WL_NM[::-1])
    np.testing.assert_array_equal(cube.wavelengths, WL_NM)
    np.testing.assert_array_equal(np.asarray(cube.data), raw[..., ::-1])


def test_fwhm_and_bbl_must_have_one_value_per_band(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32")
    for key in ("fwhm", "bbl"):
        hdr, _ = write_envi(tmp_path / f"{key}.hdr", raw, fields=_nm_fields(**{key: [1] * 11}))
        with pytest.raises(HeaderError, match=f"`{key}` has 11 values for 12 bands"):
            open_envi(hdr)


# --------------------------------------------------------------------------------------------- values

def test_data_ignore_value_gives_nan_and_masks_only_all_band_pixels(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32", (6, 5, 12))
    raw[0, :2] = -9999.0
    raw[4, 4] = -9999.0
    raw[2, 3, 7] = -9999.0                      # one bad value: NaN, pixel still core
    for inter in ("bsq", "bil", "bip"):
        hdr, _ = write_envi(tmp_path / f"ig_{inter}.hdr", raw, interleave=inter,
                            fields=_nm_fields(**{"data ignore value": "-9999"}))
        cube = open_envi(hdr)
        data = np.asarray(cube.data)
        assert np.array_equal(np.isnan(data), raw == -9999.0)
        want = np.ones((6, 5), bool)
        want[0, :2] = want[4, 4] = False
        np.testing.assert_array_equal(cube.mask, want)
        assert cube.meta.attrs["data_ignore_value"] == -9999.0


def test_ignore_value_absent_from_data_leaves_no_mask(tmp_path, rng, write_envi):
    hdr, _ = write_envi(tmp_path / "i.hdr", _raw(rng, "uint16"), fields=_nm_fields(**{"data ignore value": 65535}))
    assert open_envi(hdr).mask is None


def test_reflectance_scale_factor_single_and_per_band(tmp_path, rng, write_envi):
    raw = _raw(rng, "int16")
    hdr, _ = write_envi(tmp_path / "s1.hdr", raw, fields=_nm_fields(**{"reflectance scale factor": "10000.0"}))
    np.testing.assert_allclose(np.asarray(open_envi(hdr).data), raw / 10000.0, rtol=1e-6)
    per_band = np.arange(1.0, 13.0)
    wl = WL_NM[::-1]
    hdr, _ = write_envi(tmp_path / "s2.hdr", raw,
                        fields=_nm_fields(wl, **{"reflectance scale factor": list(per_band)}))
    cube = open_envi(hdr)
    np.testing.assert_allclose(np.asarray(cube.data), (raw / per_band)[..., ::-1], rtol=1e-6)
    assert cube.meta.attrs["reflectance_scale_factor"] == list(per_band[::-1])
    hdr, _ = write_envi(tmp_path / "s0.hdr", raw, fields=_nm_fields(**{"reflectance scale factor": 0}))
    with pytest.raises(HeaderError, match="scale factor"):
        open_envi(hdr)


# --------------------------------------------------------------------------------------------- laziness

def test_data_are_lazy_and_reads_touch_only_the_lines_asked_for(tmp_path, rng, write_envi, monkeypatch):
    raw = _raw(rng, "float32", (40, 5, 12))
    hdr, data_file = write_envi(tmp_path / "lazy.hdr", raw, fields=_nm_fields())
    read = []
    real = interleaved._PositionalFile.read_at

    def counting(self, arr, offset):
        read.append(arr.nbytes)
        return real(self, arr, offset)

    monkeypatch.setattr(interleaved._PositionalFile, "read_at", counting)
    cube = open_cube(hdr)
    assert read == [] and not isinstance(cube.data, np.ndarray)
    np.testing.assert_array_equal(cube.data[10:12], raw[10:12])
    assert sum(read) == 2 * 5 * 12 * 4
    loaded = open_envi(hdr, load=True)
    assert isinstance(loaded.data, np.ndarray)
    assert sum(read) == 2 * 5 * 12 * 4 + raw.nbytes
    np.testing.assert_array_equal(loaded.data, raw)


def test_lazy_indexing_matches_full_load(tmp_path, rng, write_envi):
    raw = _raw(rng, "uint16", (11, 6, 12))
    hdr, _ = write_envi(tmp_path / "ix.hdr", raw, interleave="bsq", fields=_nm_fields())
    lazy, full = open_envi(hdr).data, raw.astype(np.float32)
    for key in [3, -1, slice(2, 9, 3), slice(None, None, -2), (slice(1, 4), 2), (Ellipsis, 5), (4, 1, 7),
                [0, 5, 2], np.array([True] * 5 + [False] * 6), (slice(2, 3), slice(None), [1, 0])]:
        np.testing.assert_array_equal(lazy[key], full[key], err_msg=str(key))
    assert lazy.shape == raw.shape and len(lazy) == 11 and lazy.dtype == np.float32


def test_lazy_array_pickles_as_a_description(tmp_path, rng, write_envi):
    raw = _raw(rng, "int32", (5, 4, 12))
    hdr, _ = write_envi(tmp_path / "p.hdr", raw, interleave="bip", byte_order=1, fields=_nm_fields())
    lazy = open_envi(hdr).data
    blob = pickle.dumps(lazy)
    assert len(blob) < 2000
    np.testing.assert_array_equal(np.asarray(pickle.loads(blob)), raw.astype(np.float32))


def test_truncation_after_opening_is_reported_on_read(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32", (10, 5, 12))
    hdr, data_file = write_envi(tmp_path / "shrink.hdr", raw, fields=_nm_fields())
    cube = open_envi(hdr)
    data_file.write_bytes(data_file.read_bytes()[:1000])
    with pytest.raises(TruncatedDataError) as exc:
        np.asarray(cube.data)
    assert exc.value.path == os.path.abspath(data_file)


# --------------------------------------------------------------------------------------------- files

def test_data_file_names_and_the_data_file_key(tmp_path, rng, write_envi):
    raw = _raw(rng, "float32", (3, 4, 12))
    for ext in (".img", ".dat", ".raw", ".bil", ""):
        hdr, data = write_envi(tmp_path / f"n{ext or 'none'}.hdr", raw, fields=_nm_fields(), ext=ext)
        np.testing.assert_array_equal(np.asarray(open_cube(hdr).data), raw)
        if ext:
            assert sniff_envi(data)
            np.testing.assert_array_equal(np.asarray(open_cube(data).data), raw)
    hdr, data = write_envi(tmp_path / "k.hdr", raw, fields=_nm_fields(**{"data file": "elsewhere.bin"}))
    data.rename(tmp_path / "elsewhere.bin")
    np.testing.assert_array_equal(np.asarray(open_envi(hdr).data), raw)
    # NAME.img with header NAME.img.hdr
    (tmp_path / "d.img").write_bytes((tmp_path / "elsewhere.bin").read_bytes())
    (tmp_path / "d.img.hdr").write_text(hdr.read_text().replace("data file = elsewhere.bin", ""))
    np.testing.assert_array_equal(np.asarray(open_cube(tmp_path / "d.img").data), raw)


def test_sniff_leaves_hdf5_beside_a_header_alone(tmp_path, rng, write_envi):
    hdr, _ = write_envi(tmp_path / "tray.hdr", _raw(rng, "float32", (2, 2, 12)), fields=_nm_fields())
    (tmp_path / "tray.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert sniff_envi(hdr) and not sniff_envi(tmp_path / "tray.h5") and not sniff_envi(tmp_path)
    (tmp_path / "plain.txt").write_text("ENVI\nsamples = 1\n")
    assert sniff_envi(tmp_path / "plain.txt")


# --------------------------------------------------------------------------------------------- bad input

def _good(tmp_path, rng, write_envi, name):
    return write_envi(tmp_path / f"{name}.hdr", _raw(rng, "float32", (4, 3, 12)), fields=_nm_fields())


def _edit(hdr, old, new):
    text = hdr.read_text()
    assert old in text
    hdr.write_text(text.replace(old, new))


@pytest.mark.parametrize("old,new,err,words", [
    ("bands = 12\n", "", HeaderError, "no `bands`"),
    ("samples = 3\n", "", HeaderError, "no `samples`"),
    ("lines = 4\n", "", HeaderError, "no `lines`"),
    ("samples = 3", "samples = three", HeaderError, "`samples = three` is not an integer"),
    ("lines = 4", "lines = 4.5", HeaderError, "not an integer"),
    ("lines = 4", "lines = 0", HeaderError, "at least 1"),
    ("data type = 4", "data type = 99", HeaderError, "unknown `data type = 99`"),
    ("data type = 4", "data type = 6", HeaderError, "complex"),
    ("data type = 4\n", "", HeaderError, "no `data type`"),
    ("interleave = bil", "interleave = bsx", HeaderError, "interleave"),
    ("interleave = bil\n", "", HeaderError, "no `interleave`"),
    ("byte order = 0", "byte order = 2", HeaderError, "byte order"),
    ("header offset = 0", "header offset = -4", HeaderError, "at least 0"),
    ("header offset = 0", "header offset = 8", TruncatedDataError, "needs"),
    ("wavelength = {", "wavelength = {abc, ", HeaderError, "'abc', which is not a number"),
    ("wavelength = {", "wavelength = {nan, ", HeaderError, "NaN"),
    ("ENVI\n", "NOT ENVI\n", HeaderError, "not an ENVI header"),
])
def test_bad_headers(tmp_path, rng, write_envi, old, new, err, words):
    hdr, data = _good(tmp_path, rng, write_envi, "bad_tray")
    _edit(hdr, old, new)
    with pytest.raises(err, match=words) as exc:
        open_cube(hdr)
    assert "bad_tray" in str(exc.value)


def test_unclosed_brace(tmp_path, rng, write_envi):
    hdr, _ = _good(tmp_path, rng, write_envi, "brace_tray")
    hdr.write_text(hdr.read_text() + "bbl = {1, 1,\n 0\n")
    with pytest.raises(HeaderError, match="`bbl` opens '{' on line 12 and never closes it"):
        open_cube(hdr)


def test_missing_data_file_names_the_candidates(tmp_path, rng, write_envi):
    hdr, data = _good(tmp_path, rng, write_envi, "nodata_tray")
    data.unlink()
    with pytest.raises(FormatError, match="nodata_tray.img") as exc:
        open_cube(hdr)
    assert exc.value.path == str(hdr)


def test_truncated_data_gives_expected_and_actual_bytes(tmp_path, rng, write_envi):
    hdr, data = _good(tmp_path, rng, write_envi, "cut_tray")
    data.write_bytes(data.read_bytes()[:-5])
    with pytest.raises(TruncatedDataError, match=f"has {4 * 3 * 12 * 4 - 5} bytes but cut_tray.hdr needs "
                                                 f"{4 * 3 * 12 * 4}"):
        open_cube(hdr)


def test_binary_header_and_classification_file(tmp_path, rng, write_envi):
    (tmp_path / "bin.hdr").write_bytes(bytes(range(256)))
    with pytest.raises(HeaderError, match="binary"):
        open_envi(tmp_path / "bin.hdr")
    hdr, _ = write_envi(tmp_path / "cls.hdr", np.zeros((3, 3, 1), np.uint8),
                        fields={"file type": "ENVI Classification", "classes": 2})
    with pytest.raises(FormatError, match="open_map"):
        open_envi(hdr)


def test_header_parser_keeps_braced_text_and_last_duplicate():
    h = parse_envi_header("ENVI\nKey  Name = 1\nkey name = 2\nlist = {a,\n b\n}\nnote = x = y\n")
    assert h.get("key name") == "2" and h.get("note") == "x = y"
    assert h.get("list") == "a,\n b" and "list" in h.braced


# --------------------------------------------------------------------------------------------- writer

def _cube(rng, H=9, W=7, B=12, mask=True, nan=True):
    data = rng.uniform(0.0, 1.0, (H, W, B)).astype(np.float32)
    if nan:
        data[1, 2] = np.nan
        data[3, 3, 4] = np.nan
    m = rng.random((H, W)) > 0.3 if mask else None
    meta = ScanMeta(hole_id="DH-042", tray_id="T7", depth_from_m=101.25, depth_to_m=102.5, sensor="SPECIM SWIR",
                    pixel_size_mm=0.5)
    return Cube(data, WL_NM + 0.123456789, fwhm=np.linspace(8, 11, B), bad_bands=np.arange(B) % 4 == 1, mask=m,
                meta=meta)


@pytest.mark.parametrize("interleave", ["bil", "bsq", "bip"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_write_read_round_trip_is_exact(tmp_path, rng, interleave, dtype):
    import spectral
    cube = _cube(rng)
    hdr = write_envi_cube(cube, tmp_path / "out.hdr", interleave=interleave, dtype=dtype, max_bytes=7 * 12 * 4 * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.hdr", "out.img", "out_mask.img"]
    back = open_envi(hdr)
    np.testing.assert_array_equal(np.asarray(back.data), cube.data)
    for attr in ("wavelengths", "fwhm", "bad_bands", "mask"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(cube, attr), err_msg=attr)
    for f in ("hole_id", "tray_id", "depth_from_m", "depth_to_m", "sensor", "pixel_size_mm"):
        assert getattr(back.meta, f) == getattr(cube.meta, f), f
    img = spectral.open_image(str(hdr))
    np.testing.assert_array_equal(np.asarray(img.load()), cube.data)
    assert img.metadata["interleave"] == interleave


def test_write_integer_types_with_scale_and_ignore_value(tmp_path, rng):
    cube = _cube(rng, mask=False)
    for dt in ("int16", "uint16", "int32"):
        hdr = write_envi_cube(cube, tmp_path / f"{dt}.hdr", dtype=dt)
        back = np.asarray(open_envi(hdr).data)
        assert np.array_equal(np.isnan(back), np.isnan(cube.data))
        np.testing.assert_allclose(back, cube.data, atol=0.5e-4 + 1e-7, equal_nan=True)
        assert inspect_envi(hdr).header.get_int("data type") == {"int16": 2, "uint16": 12, "int32": 3}[dt]


def test_write_streams_a_lazy_cube_and_converts_interleave(tmp_path, rng, write_envi):
    raw = _raw(rng, "uint16", (13, 5, 12))
    hdr, _ = write_envi(tmp_path / "src.hdr", raw, interleave="bsq", fields=_nm_fields(
        WL_NM[::-1], **{"reflectance scale factor": 10000}))
    src = open_envi(hdr)
    out = write_envi_cube(src, tmp_path / "dst.hdr", interleave="bip", max_bytes=5 * 12 * 4 * 3)
    back = open_envi(out)
    np.testing.assert_array_equal(np.asarray(back.data), np.asarray(src.data))
    assert back.mask is None and not (tmp_path / "dst_mask.img").exists()


def test_writer_refuses_overwrite_and_bad_targets_leaving_nothing(tmp_path, rng):
    cube = _cube(rng)
    hdr = write_envi_cube(cube, tmp_path / "o.hdr")
    before = hdr.read_bytes()
    with pytest.raises(OutputExistsError):
        write_envi_cube(cube, tmp_path / "o.hdr")
    assert hdr.read_bytes() == before
    write_envi_cube(_cube(rng, mask=False), tmp_path / "o.hdr", overwrite=True)
    assert "hsimin mask file" not in hdr.read_text()
    with pytest.raises(OutputError, match="NAME.hdr"):
        write_envi_cube(cube, tmp_path / "o.img")
    with pytest.raises(OutputError, match="does not exist"):
        write_envi_cube(cube, tmp_path / "missing" / "o.hdr")
    (tmp_path / "x.img").write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        write_envi_cube(cube, tmp_path / "x.hdr")
    assert (tmp_path / "x.img").read_bytes() == b"keep" and not (tmp_path / "x.hdr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_header_values_cannot_break_the_header(tmp_path, rng):
    cube = _cube(rng, mask=False)
    cube = Cube(cube.data, cube.wavelengths, meta=ScanMeta(hole_id="DH{1}\nbands = 3", sensor="a}b"))
    back = open_envi(write_envi_cube(cube, tmp_path / "h.hdr", description="multi\nline {desc}"))
    assert back.shape == cube.shape
    assert back.meta.hole_id == "DH 1 bands = 3" and back.meta.sensor == "a b"
    assert back.meta.attrs["description"] == "multi line desc"


# --------------------------------------------------------------------------------------------- faults (issue 14)



@pytest.mark.timeout(60)
def test_an_unclosed_brace_over_a_huge_header_is_refused_in_linear_time():
    """640 000 short lines after `junk = {` took 83 s (each new line re-scanned the whole value for '}'). The cap is
    60 s, about 100 times what the linear parser needs; the old parser needs more than it."""
    text = "ENVI\nsamples = 2\nlines = 2\njunk = {\n" + "x\n" * 640_000
    with pytest.raises(HeaderError, match="`junk` opens '\\{' on line 4 and never closes it"):
        parse_envi_header(text, "h.hdr")


@pytest.mark.timeout(60)
def test_a_valid_braced_value_of_400_000_lines_is_read_whole():
    h = parse_envi_header("ENVI\ncomment = {\n" + "y,\n" * 400_000 + "}\nbands = 3\n")
    assert h.fields["comment"].count("y,") == 400_000 and h.get_int("bands") == 3


def test_header_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "tray.hdr"
    os.mkfifo(fifo)
    with pytest.raises(HeaderError, match="not a regular file"):
        envi_mod.read_envi_header(fifo)


def _cube_for(rng, interleave_name="x"):
    data = rng.uniform(0.1, 0.9, (6, 5, 4)).astype(np.float32)
    return Cube(data, np.array([1000.0, 1100.0, 1200.0, 1300.0]), meta=ScanMeta(tray_id=interleave_name))


def test_overwrite_killed_between_renames_never_pairs_new_data_with_the_old_header(tmp_path, rng):
    """A real SIGKILL between the data and header renames of an ENVI overwrite (BSQ -> BIL). Before: the new BIL
    data sat beside the old BSQ header and the cube opened without error, scrambled. Now the old header is removed
    first: the cube does not open at all (and a rerun writes it whole)."""
    hdr = tmp_path / "c.hdr"
    old = _cube_for(rng)
    envi_mod.write_envi_cube(old, hdr, interleave="bsq")
    code = f"""
import os, signal, numpy as np
from hsimin.core import Cube
from hsimin.io import atomic, envi
real, n = os.replace, []
def replace(src, dst):
    n.append(dst)
    if len(n) == 2:
        os.kill(os.getpid(), signal.SIGKILL)      # the kill lands between the two renames
    real(src, dst)
atomic.os.replace = replace
data = np.random.default_rng(1).uniform(0.1, 0.9, (6, 5, 4)).astype(np.float32)
envi.write_envi_cube(Cube(data, np.array([1000.0, 1100.0, 1200.0, 1300.0])), {str(hdr)!r}, interleave="bil",
                     overwrite=True)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == -9, p.stderr
    assert (tmp_path / "c.img").exists() and not hdr.exists()
    with pytest.raises(FormatError):
        open_cube(hdr)


def test_envi_writer_checks_space_and_refuses_empty_cubes(tmp_path, rng, monkeypatch):
    from hsimin.core import DiskFullError, InputError
    from hsimin.io import atomic
    with pytest.raises(InputError, match="empty"):
        envi_mod.write_envi_cube(Cube(np.zeros((0, 3, 4), np.float32), np.arange(4) + 1000.0), tmp_path / "e.hdr")
    monkeypatch.setattr(atomic, "_free_bytes", lambda folder: 100)
    with pytest.raises(DiskFullError, match="needs about 480 bytes"):
        envi_mod.write_envi_cube(_cube_for(rng), tmp_path / "c.hdr")
    assert list(tmp_path.iterdir()) == []


def test_nan_ignore_value_as_spy_writes_it(tmp_path):
    """SPy writes ``data ignore value = NaN`` into every header it saves: it means nothing more than NaN already
    does, so the cube opens (no mask) instead of being refused for a non-finite number."""
    import spectral.io.envi as spy_envi
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    spy_envi.save_image(str(tmp_path / "s.hdr"), data, dtype=np.float32, interleave="bil",
                        metadata={"wavelength": [1000, 1100, 1200, 1300], "data ignore value": "NaN"})
    assert "data ignore value = NaN" in (tmp_path / "s.hdr").read_text()
    cube = open_envi(tmp_path / "s.hdr")
    assert cube.mask is None and cube.meta.attrs["data_ignore_value"] is None
    np.testing.assert_array_equal(np.asarray(cube.data), data)
