"""A cube's per-spectrum table through ENVI: the sidecar CSV round-trips every column, type for type."""
from __future__ import annotations

import numpy as np
import pytest

import hsimin
from hsimin.core.errors import FormatError, HeaderError
from hsimin.core.types import Cube, SpectrumTable
from hsimin.io.dispatch import save_cube
from hsimin.io.table_csv import read_table_csv, table_csv_text
from hsimin.samples import hylogger_path


def _tricky_table(n: int, rng) -> SpectrumTable:
    """Text that looks like numbers, commas, quotes, newlines, unicode; float32 and float64 with NaN."""
    tray = np.array([f"{i:02d}" for i in range(n)], dtype=object)
    note = np.array(['a, "b"', "line\nbreak", "", "µm ≈ 2200"] * (n // 4 + 1), dtype=object)[:n]
    f8 = rng.normal(size=n) * 1e-7
    f8[::3] = np.nan
    f4 = rng.random(n).astype(np.float32)
    f4[1] = np.nan
    return SpectrumTable({"tray_id": tray, "note": note, "depth_m": f8, "Wt1 sTSAS": f4},
                         {"depth_m": "metres"})


def _assert_same(a: SpectrumTable, b: SpectrumTable) -> None:
    assert a.names == b.names
    for n in a.names:
        assert a[n].dtype == b[n].dtype, n
        if a[n].dtype.kind == "f":
            assert np.array_equal(a[n], b[n], equal_nan=True), n
        else:
            assert a[n].tolist() == b[n].tolist(), n


def test_csv_round_trip_keeps_types_and_exact_values(tmp_path, rng):
    t = _tricky_table(9, rng)
    p = tmp_path / "t.csv"
    p.write_text(table_csv_text(t), encoding="utf-8")
    _assert_same(t, read_table_csv(p, 9, ["text", "text", "f8", "f4"]))
    inferred = read_table_csv(p, 9)  # without the types, number-like text becomes numbers: why ENVI keeps them
    assert inferred["tray_id"].dtype == np.float64 and inferred["note"].dtype == object


def test_envi_cube_keeps_its_table(tmp_path, rng):
    data = rng.random((3, 3, 5)).astype(np.float32)
    cube = Cube(data, np.linspace(2000, 2400, 5), table=_tricky_table(9, rng))
    hdr = save_cube(cube, tmp_path / "c.hdr")
    assert (tmp_path / "c_spectra.csv").is_file()
    back = hsimin.open_cube(hdr)
    _assert_same(cube.table, back.table)
    plain = save_cube(Cube(data, np.linspace(2000, 2400, 5)), tmp_path / "p.hdr")
    assert hsimin.open_cube(plain).table is None and not (tmp_path / "p_spectra.csv").exists()


def test_converted_package_keeps_tsa_answers(tmp_path):
    src = hsimin.open_cube(hylogger_path("SWMB008d"))
    back = hsimin.open_cube(save_cube(src, tmp_path / "h.hdr"))
    _assert_same(src.table, back.table)
    assert back.meta.hole_id == src.meta.hole_id


def test_bad_sidecars_are_named(tmp_path, rng):
    cube = Cube(rng.random((2, 2, 4)).astype(np.float32), np.linspace(1000, 1300, 4), table=_tricky_table(4, rng))
    hdr = save_cube(cube, tmp_path / "c.hdr")
    csv_path = tmp_path / "c_spectra.csv"
    text = csv_path.read_text(encoding="utf-8")
    csv_path.write_text(text.rsplit("\n", 2)[0] + "\n", encoding="utf-8")  # a row short
    with pytest.raises(FormatError, match="rows") as e:
        hsimin.open_cube(hdr)
    assert e.value.path is not None and "c_spectra.csv" in str(e.value.path)
    csv_path.unlink()
    with pytest.raises(FormatError, match="missing"):
        hsimin.open_cube(hdr)
    htext = hdr.read_text().replace("hsimin spectrum table = c_spectra.csv", "hsimin spectrum table = ../x.csv")
    hdr.write_text(htext)
    with pytest.raises(HeaderError, match="file name beside the header"):
        hsimin.open_cube(hdr)
