"""Sessions: manifests, folder discovery, safe output names, input fingerprints."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from hsimin.batch.session import (Session, TrayJob, discover_session, input_fingerprint, output_dir_for,
                                  parse_stick_depths, read_manifest, safe_name, scan_folder)
from hsimin.core.errors import ConfigError


# --------------------------------------------------------------------------------------------- names

@pytest.mark.parametrize("raw, want", [
    ("DDH001", "DDH001"),
    ("  T 01 ", "T 01"),
    ("a/b", "a_b"),
    ("a\\b", "a_b"),
    ("..", "__"),
    ("../../etc/passwd", "___.._etc_passwd"),
    ("/abs/path", "_abs_path"),
    ("C:\\Windows", "C__Windows"),
    ("tray\x00\n1", "tray__1"),
    (".hidden", "_hidden"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("trailing. ", "trailing"),
])
def test_safe_name_makes_one_harmless_component(raw, want):
    got = safe_name(raw)
    assert got == want
    assert "/" not in got and "\\" not in got and not got.startswith(".")
    assert all(ord(c) >= 32 for c in got)


def test_safe_name_rejects_empty_and_keeps_long_names_distinct():
    with pytest.raises(ConfigError):
        safe_name("   ")
    a, b = safe_name("x" * 300 + "1"), safe_name("x" * 300 + "2")
    assert len(a) <= 120 and len(b) <= 120 and a != b


@pytest.mark.parametrize("hole", ["../outside", "/etc", "..", "a/../../b", "\x1b[2Jevil", "run.json"])
def test_output_dir_for_stays_inside_out(tmp_path, hole):
    out = tmp_path / "out"
    d = output_dir_for(out, hole)
    assert d.parent == out.resolve()
    assert d.name not in ("run.json", "report.html")


def test_tray_stem_avoids_product_names():
    assert TrayJob("H", "mosaic", "/x").stem == "mosaic_tray"
    assert TrayJob("H", "downhole_log", "/x").stem == "downhole_log_tray"
    assert TrayJob("H", "T01", "/x").stem == "T01"


def test_session_rejects_duplicates_even_by_case():
    with pytest.raises(ConfigError, match="more than once"):
        Session("m.csv", "manifest", (TrayJob("H", "T01", "/a"), TrayJob("H", "t01", "/b")))
    with pytest.raises(ConfigError, match="more than once"):  # two ids that sanitise to one file
        Session("m.csv", "manifest", (TrayJob("H", "T/1", "/a"), TrayJob("H", "T_1", "/b")))


# --------------------------------------------------------------------------------------------- manifests

def _write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


def test_manifest_relative_and_absolute_paths(tmp_path):
    sub = tmp_path / "m"
    sub.mkdir()
    m = _write(sub / "session.csv",
               "\ufeffHole_ID,Tray_ID,Depth_From_m,Depth_To_m,Path\n"
               "# a comment line\n"
               "DDH1,T1,10,11.5,scans/a.hdr\n"
               "\n"
               f"DDH1,T2,11.5,13,{tmp_path / 'elsewhere' / 'b.hdr'}\n"
               "DDH2,T3,,,c.hdr\n")
    s = read_manifest(m)
    assert s.kind == "manifest" and len(s) == 3
    assert s.trays[0].path == str(sub / "scans" / "a.hdr")
    assert s.trays[1].path == str(tmp_path / "elsewhere" / "b.hdr")
    assert (s.trays[0].depth_from_m, s.trays[0].depth_to_m) == (10.0, 11.5)
    assert s.trays[2].depth_from_m is None and s.trays[2].depth_to_m is None
    assert list(s.holes()) == ["DDH1", "DDH2"] and [t.index for t in s.trays] == [0, 1, 2]


def test_manifest_semicolons_and_stick_depths(tmp_path):
    m = _write(tmp_path / "m.csv", "hole_id;tray_id;depth_from_m;depth_to_m;path;stick_depths_m\n"
                                   "H;T;1;3;x.hdr;\"1-1.5;1.5:2|2-3\"\n")
    t = read_manifest(m).trays[0]
    assert t.stick_depths_m == ((1.0, 1.5), (1.5, 2.0), (2.0, 3.0))


@pytest.mark.parametrize("text, match", [
    ("hole,tray,path\nH,T,x\n", "lacks hole_id, tray_id"),
    ("hole_id,tray_id,depth_from_m,depth_to_m,path\nH,T,ten,11,x\n", "not a number"),
    ("hole_id,tray_id,depth_from_m,depth_to_m,path\nH,T,12,11,x\n", "above depth_from_m"),
    ("hole_id,tray_id,depth_from_m,depth_to_m,path\nH,,1,2,x\n", "empty hole_id or tray_id"),
    ("hole_id,tray_id,depth_from_m,depth_to_m,path\nH,T,1,2,\n", "empty path"),
    ("hole_id,tray_id,path\n", "lists no trays"),
    ("", "empty"),
    ("hole_id,tray_id,path\nH,T,x,surplus\n", "2 fields for 3|4 fields for 3"),
    ("hole_id,tray_id,depth_from_m,depth_to_m,path\nH,T,1,2,x\nH,T,2,3,y\n", "more than once"),
])
def test_bad_manifests_are_config_errors_naming_the_file(tmp_path, text, match):
    m = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ConfigError, match=match) as exc:
        read_manifest(m)
    assert "bad.csv" in str(exc.value)


def test_stick_depth_syntax():
    assert parse_stick_depths("") is None
    assert parse_stick_depths(" 100 - 100.5 ; 100.5-101 ") == ((100.0, 100.5), (100.5, 101.0))
    with pytest.raises(ConfigError, match="ends above"):
        parse_stick_depths("2-1")
    with pytest.raises(ConfigError, match="FROM-TO"):
        parse_stick_depths("1 to 2")


# --------------------------------------------------------------------------------------------- folders

def _specim(folder: Path, write_envi, rng):
    cap = folder / "capture"
    cap.mkdir(parents=True)
    fields = {"wavelength": [1000.0, 1500.0, 2000.0], "hole id": "SPX", "tray id": "S7",
              "depth from m": "5.0", "depth to m": "6.5"}
    write_envi(cap / "scan.hdr", rng.integers(100, 200, (4, 3, 3)).astype(np.uint16), fields=fields, ext=".raw")
    write_envi(cap / "DARKREF_scan.hdr", np.full((2, 3, 3), 10, np.uint16), fields=fields, ext=".raw")
    write_envi(cap / "WHITEREF_scan.hdr", np.full((2, 3, 3), 1000, np.uint16), fields=fields, ext=".raw")


def test_scan_folder_finds_envi_hdf5_and_specim_recursively(tmp_path, make_tray, write_envi, rng):
    root = tmp_path / "session"
    make_tray(root / "DDH9" / "tray_a.hdr", lines=16)
    make_tray(root / "loose.hdr", lines=16, fields={"hole id": "HX", "tray id": "TX", "depth from m": "1.0",
                                                    "depth to m": "2.5"})
    _specim(root / "DDH9" / "scan_0001", write_envi, rng)
    with h5py.File(root / "DDH9" / "cube.h5", "w") as f:  # generic HDF5 cube
        f["data"] = np.zeros((4, 3, 5), np.float32)
        f["wavelength"] = np.linspace(1000, 2000, 5)
    with h5py.File(root / "DDH9" / "maps_only.h5", "w") as f:  # no 3-D dataset: not a tray
        f["labels"] = np.zeros((4, 3), np.int16)
    (root / "DDH9" / "notes.txt").write_text("not a tray")
    cls = root / "DDH9" / "old_map.hdr"  # an ENVI Classification is an output, not a tray
    cls.write_text("ENVI\nsamples = 2\nlines = 2\nbands = 1\nfile type = ENVI Classification\ndata type = 1\n")
    (root / ".hidden").mkdir()
    make_tray(root / ".hidden" / "skip.hdr", lines=16)

    s = scan_folder(root)
    got = {(t.hole_id, t.tray_id): t for t in s.trays}
    # hole/tray ids from the header where it has them (loose.hdr, the Specim raw header), else from the path
    assert set(got) == {("DDH9", "cube"), ("SPX", "S7"), ("DDH9", "tray_a"), ("HX", "TX")}, set(got)
    assert got[("SPX", "S7")].path == str(root / "DDH9" / "scan_0001")
    assert (got[("HX", "TX")].depth_from_m, got[("HX", "TX")].depth_to_m) == (1.0, 2.5)
    assert got[("SPX", "S7")].depth_from_m == 5.0
    assert s.kind == "folder"


def test_ids_from_path_when_the_header_has_none(tmp_path, make_tray):
    root = tmp_path / "shed_2026"
    make_tray(root / "DDH4" / "sub" / "T9.hdr", lines=16)
    make_tray(root / "T10.hdr", lines=16)
    got = {(t.hole_id, t.tray_id) for t in scan_folder(root).trays}
    assert got == {("DDH4", "T9"), ("shed_2026", "T10")}


def test_scan_folder_without_trays_and_missing_session(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no trays found"):
        scan_folder(tmp_path / "empty")
    with pytest.raises(ConfigError, match="no such session"):
        discover_session(tmp_path / "nope")


def test_scan_folder_excludes_output_folder(tmp_path, make_tray):
    root = tmp_path / "s"
    make_tray(root / "H" / "a.hdr", lines=16)
    make_tray(root / "out" / "H" / "b.hdr", lines=16)
    s = discover_session(root, exclude=[root / "out"])
    assert [t.tray_id for t in s.trays] == ["a"]


# --------------------------------------------------------------------------------------------- fingerprints

def test_fingerprint_follows_header_and_data(tmp_path, make_tray):
    hdr = make_tray(tmp_path / "t.hdr", lines=16)
    fp = input_fingerprint(hdr)
    assert [Path(f).name for f, _, _ in fp] == ["t.hdr", "t.img"]
    data = tmp_path / "t.img"
    st = data.stat()
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert input_fingerprint(hdr) != fp
    assert input_fingerprint(tmp_path / "missing.hdr") == []
