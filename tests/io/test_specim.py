"""Specim capture folders: reflectance from raw, dark and white, with dead cells and saturation flagged."""
from __future__ import annotations

import numpy as np
import pytest

from hsimin.core import CalibrationError
from hsimin.io import open_cube
from hsimin.io.specim import SpecimLazyArray, calibrate_specim, find_specim_files, sniff_specim

L, S, B = 9, 8, 14
WL = np.linspace(1000.0, 2500.0, B)


def _scene(rng):
    """Known reflectance R and integer DN frames whose line means are exactly d0 and w0."""
    d0 = rng.integers(80, 200, (S, B)).astype(np.int64)
    w0 = rng.integers(3000, 4000, (S, B)).astype(np.int64)
    dark = d0[None] + np.array([-2, -1, 0, 1, 2])[:, None, None]
    white = w0[None] + np.array([-3, -1, 1, 3])[:, None, None]
    R = rng.uniform(0.05, 0.9, (L, S, B))
    raw = np.round(d0[None] + R * (w0 - d0)[None]).astype(np.int64)
    return R, raw, dark, white, d0, w0


def _capture(root, write_envi, raw, dark, white, name="TRAY01", wl=WL, dtype="uint16", interleave="bil",
             fields=None, skip=()):
    cap = root / name / "capture"
    cap.mkdir(parents=True)
    for prefix, arr in (("", raw), ("DARKREF_", dark), ("WHITEREF_", white)):
        if prefix in skip:
            continue
        f = {"sensor type": "SPECIM SWIR", "wavelength units": "Nanometers", "wavelength": list(wl),
             **(fields or {})}
        write_envi(cap / f"{prefix}{name}.hdr", arr.astype(dtype), interleave=interleave, fields=f, ext=".raw")
    return root / name


def _expected(raw, d0, w0):
    return (raw - d0[None]) / (w0 - d0)[None]


@pytest.mark.parametrize("interleave", ["bil", "bsq", "bip"])
def test_reflectance_matches_the_formula(tmp_path, rng, write_envi, interleave):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, white, interleave=interleave)
    cube = calibrate_specim(scan)
    assert isinstance(cube.data, SpecimLazyArray)
    data = np.asarray(cube.data)
    np.testing.assert_allclose(data, _expected(raw, d0, w0), rtol=2e-6, atol=2e-7)
    assert np.abs(data - R).max() < 1e-3
    np.testing.assert_array_equal(cube.wavelengths, WL)
    assert cube.mask is None and cube.meta.sensor == "SPECIM SWIR"
    a = cube.meta.attrs
    assert (a["format"], a["dead_cells"], a["saturated_pixels"], a["dark_lines"], a["white_lines"]) == \
        ("specim", 0, 0, 5, 4)
    assert a["saturation_dn"] == 65535.0
    np.testing.assert_array_equal(cube.data[2:5, 3], data[2:5, 3])


def test_scan_folder_capture_folder_and_raw_header_give_the_same_cube(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, white)
    ref = np.asarray(calibrate_specim(scan).data)
    for p in (scan / "capture", scan / "capture" / "TRAY01.hdr"):
        assert sniff_specim(p)
        np.testing.assert_array_equal(np.asarray(calibrate_specim(p).data), ref)
    cube = open_cube(scan)
    assert cube.meta.attrs["format"] == "specim" and cube.meta.source == str(scan)
    np.testing.assert_array_equal(np.asarray(cube.data), ref)
    assert not sniff_specim(scan / "capture" / "DARKREF_TRAY01.hdr")
    np.testing.assert_array_equal(np.asarray(calibrate_specim(scan, load=True).data), ref)


def test_dead_cells_are_nan_and_dead_columns_masked(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    white[:, 3] = d0[3]                        # column 3: white == dark in every band (dead column)
    white[:, 5, 7] = d0[5, 7] - 1              # one cell where white < dark
    scan = _capture(tmp_path, write_envi, raw, dark, white)
    cube = calibrate_specim(scan)
    data = np.asarray(cube.data)
    assert not np.isinf(data).any()
    assert np.isnan(data[:, 3]).all() and np.isnan(data[:, 5, 7]).all()
    finite = np.ones((S, B), bool)
    finite[3] = False
    finite[5, 7] = False
    assert np.isfinite(data[:, finite]).all()
    want = np.ones((L, S), bool)
    want[:, 3] = False
    np.testing.assert_array_equal(cube.mask, want)
    assert cube.meta.attrs["dead_cells"] == B + 1 and cube.meta.attrs["dead_samples"] == [3]


def test_saturated_pixels_are_masked_and_counted(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    raw[2, 4, 9] = 65535
    raw[6, 0, :] = 65535
    cube = calibrate_specim(_capture(tmp_path, write_envi, raw, dark, white))
    want = np.ones((L, S), bool)
    want[2, 4] = want[6, 0] = False
    np.testing.assert_array_equal(cube.mask, want)
    assert cube.meta.attrs["saturated_pixels"] == 2


def test_header_bit_depth_sets_the_saturation_level(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    raw[1, 1, 1] = 4095
    white[:, 2, 5] = 4095                      # saturated white: the cell is unusable
    cube = calibrate_specim(_capture(tmp_path, write_envi, raw, dark, white, fields={"bit depth": 12}))
    a = cube.meta.attrs
    assert a["saturation_dn"] == 4095.0 and a["saturated_pixels"] == 1 and a["white_saturated_cells"] == 1
    assert np.isnan(np.asarray(cube.data)[:, 2, 5]).all() and not cube.mask[1, 1]


def test_white_equal_to_dark_everywhere_is_refused(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, dark.copy())
    with pytest.raises(CalibrationError, match="equals the dark") as exc:
        calibrate_specim(scan)
    assert "WHITEREF_TRAY01" in str(exc.value)


@pytest.mark.parametrize("skip,missing", [("DARKREF_", "dark reference"), ("WHITEREF_", "white reference")])
def test_missing_reference_lists_what_was_found(tmp_path, rng, write_envi, skip, missing):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, white, skip=(skip,))
    with pytest.raises(CalibrationError, match=missing) as exc:
        calibrate_specim(scan)
    assert "found: " in str(exc.value) and "TRAY01.hdr" in str(exc.value)


def test_mismatched_reference_shapes_are_refused(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark[:, :-1], white)
    with pytest.raises(CalibrationError, match=f"dark reference has {S - 1} samples"):
        calibrate_specim(scan)
    scan = _capture(tmp_path, write_envi, raw, dark, white, name="T2", skip=("WHITEREF_",))
    write_envi(scan / "capture" / "WHITEREF_T2.hdr", white[..., :-1].astype("uint16"),
               fields={"wavelength": list(WL[:-1])}, ext=".raw")
    with pytest.raises(CalibrationError, match=f"white reference has {S} samples x {B - 1} bands"):
        calibrate_specim(scan)


def test_no_raw_or_several_raws(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, white, skip=("",))
    with pytest.raises(CalibrationError, match="no raw scan header"):
        find_specim_files(scan)
    with pytest.raises(CalibrationError, match="not a Specim capture"):
        find_specim_files(tmp_path)
    write_envi(scan / "capture" / "A.hdr", raw.astype("uint16"), fields={"wavelength": list(WL)}, ext=".raw")
    write_envi(scan / "capture" / "B.hdr", raw.astype("uint16"), fields={"wavelength": list(WL)}, ext=".raw")
    with pytest.raises(CalibrationError, match="2 raw scan headers"):
        find_specim_files(scan)
    assert find_specim_files(scan / "capture" / "A.hdr").raw.name == "A.hdr"


def test_descending_wavelengths_and_references_without_wavelengths(tmp_path, rng, write_envi):
    R, raw, dark, white, d0, w0 = _scene(rng)
    scan = _capture(tmp_path, write_envi, raw, dark, white, wl=WL[::-1])
    cap = scan / "capture"
    for ref in ("DARKREF_TRAY01.hdr", "WHITEREF_TRAY01.hdr"):
        text = (cap / ref).read_text()
        (cap / ref).write_text("\n".join(l for l in text.splitlines() if not l.startswith("wavelength")) + "\n")
    cube = calibrate_specim(scan)
    np.testing.assert_array_equal(cube.wavelengths, WL)
    np.testing.assert_allclose(np.asarray(cube.data), _expected(raw, d0, w0)[..., ::-1], rtol=2e-6, atol=2e-7)
