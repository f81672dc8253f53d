"""SpectrumTable: per-spectrum columns on cubes and maps; kept through HDF5."""
from __future__ import annotations

import numpy as np
import pytest

import hsimin
from hsimin.core import Cube, InputError, MineralMap, SpectrumTable


def test_columns_are_typed_and_read_only():
    t = SpectrumTable({"depth_m": [0.5, 1.5, np.nan], "tray_id": ["0001", "0001", None], "n": np.array([1, 2, 3])})
    assert t["depth_m"].dtype == np.float64 and t["n"].dtype == np.float64
    assert t["tray_id"].dtype.kind == "O" and t["tray_id"].tolist() == ["0001", "0001", ""]
    assert t["tray_id"][0] is t["tray_id"][1]                 # a repeated label is one shared string
    assert len(t) == 3 and t.names == ["depth_m", "tray_id", "n"]
    with pytest.raises(ValueError):
        t["depth_m"][0] = 3.0
    assert t.take([2, 0])["tray_id"].tolist() == ["", "0001"]
    assert t.select(["n", "missing"]).names == ["n"]


@pytest.mark.parametrize("bad", [{"a": [1, 2], "b": [1, 2, 3]}, {"a": [[1, 2]]}, {}, {"": [1]},
                                 {"a": np.array([1 + 2j])}])
def test_bad_tables(bad):
    with pytest.raises(InputError):
        SpectrumTable(bad)


def test_cube_and_map_check_one_row_per_pixel():
    t = SpectrumTable({"depth_m": np.arange(6.0)})
    Cube(np.zeros((3, 2, 4), np.float32), [1, 2, 3, 4], table=t)
    with pytest.raises(InputError, match="6 rows for 4 pixels"):
        Cube(np.zeros((2, 2, 4), np.float32), [1, 2, 3, 4], table=t)
    with pytest.raises(InputError, match="MineralMap.table"):
        MineralMap(np.zeros((5, 1), np.int16), ["a"], table=t)


def test_table_round_trips_through_hdf5(tmp_path):
    names = ["Min1 sTSAS", "depth (m)", "a/b", "ünïcode"]
    t = SpectrumTable({names[0]: ["Kaolinite-WX", "", "Muscovite"], names[1]: [0.5, np.nan, 2.5],
                       names[2]: [1.0, 2.0, 3.0], names[3]: ["é", "ß", "z"]}, {names[1]: "metres"})
    cube = Cube(np.ones((3, 1, 4), np.float32), [1000, 1100, 1200, 1300], table=t)
    hsimin.save_cube(cube, tmp_path / "c.h5")
    back = hsimin.open_cube(tmp_path / "c.h5").table
    assert back.names == names and back.descriptions == {names[1]: "metres"}
    assert back[names[0]].tolist() == t[names[0]].tolist() and back[names[3]].tolist() == ["é", "ß", "z"]
    np.testing.assert_array_equal(back[names[1]], t[names[1]])
    mm = MineralMap(np.array([[0], [-1], [1]], np.int16), ["kaolinite", "white_mica"], table=t)
    hsimin.save_map(mm, tmp_path / "m.h5")
    assert hsimin.open_map(tmp_path / "m.h5").table[names[0]].tolist() == t[names[0]].tolist()
