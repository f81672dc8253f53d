"""hsimin HDF5 schema v1 and the generic HDF5 cube reader (hsimin.io.hdf5)."""
from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess

import h5py
import numpy as np
import pytest

from hsimin.core import (Cube, FormatError, HeaderError, InputError, MineralMap, OutputError, OutputExistsError,
                         ScanMeta)
from hsimin.io import registry
from hsimin.testing import SeededLazyCube
from hsimin.io.hdf5 import (SCHEMA_VERSION, HDF5CubeArray, list_maps_hdf5, open_hdf5, read_arrays_hdf5,
                            read_map_hdf5, sniff_hdf5, write_arrays_hdf5, write_cube_hdf5, write_hdf5,
                            write_map_hdf5)
import errno
import sys
from hsimin.core import DiskFullError
from hsimin.io import hdf5_guard

SEED = 20260102


def _cube(rng, H=23, W=7, B=11, *, fwhm=True, bad=True, mask=True, meta=True, nan=True) -> Cube:
    data = rng.uniform(0.02, 0.95, (H, W, B)).astype(np.float32)
    if nan:
        data[2, 3, :] = np.nan
        data[5, 1, 4] = np.nan
    wl = np.sort(rng.uniform(1000.0, 2500.0, B))
    return Cube(
        data=data, wavelengths=wl,
        fwhm=rng.uniform(5.0, 12.0, B) if fwhm else None,
        bad_bands=(np.arange(B) % 5 == 1) if bad else None,
        mask=rng.random((H, W)) > 0.25 if mask else None,
        meta=ScanMeta(hole_id="DDH042", tray_id="T07", depth_from_m=101.25, depth_to_m=104.5, sensor="SWIR",
                      pixel_size_mm=0.5, source="scan/T07.hdr",
                      attrs={"format": "envi", "interleave": "bil", "header_offset": 0,
                             "description": "tray scan", "nested": {"a": [1, 2]}}) if meta
        else ScanMeta(),
    )


def _map(rng, H=23, W=7, *, full=True) -> MineralMap:
    classes = ["kaolinite", "white_mica", "calcite", "chlorite"]
    labels = rng.integers(-1, len(classes), (H, W))
    labels[0, 0] = -1
    kw = {}
    if full:
        kw = dict(scores=rng.random((H, W, len(classes))).astype(np.float32),
                  confidence=rng.random((H, W)).astype(np.float32),
                  extra={"fit_error": rng.random((H, W)), "topk_index": rng.integers(0, 4, (H, W, 2)).astype(np.int16),
                         "fractions": rng.random((H, W, 2)).astype(np.float32), "flag": rng.random((H, W)) > 0.5},
                  meta=ScanMeta(hole_id="DDH042", depth_from_m=1.0, depth_to_m=2.0, attrs={"k": "v"}),
                  produced_by="sam(library=usgs_splib07) sha256:abc", provenance={"recipe": [{"step": "crop"}],
                                                                                   "version": "0.1.0"})
    return MineralMap(labels=labels, classes=classes, **kw)


def _assert_same_cube(a: Cube, b: Cube):
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
    np.testing.assert_array_equal(a.wavelengths, b.wavelengths)
    for name in ("fwhm", "bad_bands", "mask"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y)




# --------------------------------------------------------------------------- cubes

@pytest.mark.parametrize("optional", [True, False], ids=["fwhm-bad-mask-meta", "bare"])
def test_cube_round_trip(tmp_path, optional):
    rng = np.random.default_rng(SEED)
    cube = _cube(rng, fwhm=optional, bad=optional, mask=optional, meta=optional)
    path = write_cube_hdf5(cube, tmp_path / "c.h5")
    back = open_hdf5(path)
    assert isinstance(back.data, HDF5CubeArray)
    assert back.data.dtype == np.float32 and back.shape == cube.shape
    _assert_same_cube(cube, back)
    fields = ("hole_id", "tray_id", "depth_from_m", "depth_to_m", "sensor", "pixel_size_mm", "source")
    assert [getattr(back.meta, f) for f in fields] == [getattr(cube.meta, f) for f in fields]
    # layout facts describe the HDF5 file now; the source's other facts survive
    attrs = back.meta.attrs
    layout = (attrs["format"], attrs["interleave"], attrs["dtype"], attrs["hsimin_schema"])
    assert layout == ("hdf5", "bip", "float32", 1)
    assert "header_offset" not in attrs
    if optional:
        assert attrs["source_format"] == "envi"
        assert attrs["description"] == "tray scan" and attrs["nested"] == {"a": [1, 2]}
    assert open_hdf5(path, load=True).data.__class__ is np.ndarray
    generic = open_hdf5(path, dataset="/cube/data")  # the generic rules find the same cube
    np.testing.assert_array_equal(np.asarray(generic.data), np.asarray(cube.data))
    np.testing.assert_array_equal(generic.wavelengths, cube.wavelengths)


def test_schema_layout_and_dtypes(tmp_path):
    rng = np.random.default_rng(SEED + 1)
    cube = _cube(rng, H=40, W=9, B=13)
    path = write_cube_hdf5(cube, tmp_path / "c.h5", chunk_lines=6)
    with h5py.File(path, "r") as f:
        assert int(f.attrs["hsimin_schema"]) == SCHEMA_VERSION == 1
        assert isinstance(f.attrs["hsimin_version"], str) and f.attrs["hsimin_version"]
        d = f["cube/data"]
        assert d.dtype == np.dtype("<f4") and d.shape == (40, 9, 13) and d.chunks == (6, 9, 13)
        assert d.compression is None
        assert f["cube/wavelengths"].dtype == np.float64 and f["cube/wavelengths"].attrs["units"] == "nm"
        assert f["cube/bad_bands"].dtype == np.uint8
        np.testing.assert_array_equal(f["cube/bad_bands"][()], cube.bad_bands.astype(np.uint8))
        np.testing.assert_array_equal(f["cube/mask"][()], cube.mask.astype(np.uint8))
        g = f["cube"]
        assert g.attrs["hole_id"] == "DDH042" and g.attrs["depth_to_m"] == 104.5
    compressed = write_cube_hdf5(cube, tmp_path / "z.h5", compression="gzip")
    with h5py.File(compressed, "r") as f:
        assert f["cube/data"].compression == "gzip"
    _assert_same_cube(cube, open_hdf5(compressed))


def test_lazy_reads_by_line_slices_equal_full_read(tmp_path):
    rng = np.random.default_rng(SEED + 2)
    cube = _cube(rng, H=31, W=6, B=9)
    back = open_hdf5(write_cube_hdf5(cube, tmp_path / "c.h5", chunk_lines=4))
    full = np.asarray(back.data)
    ref = np.asarray(cube.data)
    np.testing.assert_array_equal(full, ref)
    for key in (np.s_[3:17], np.s_[5], np.s_[-1], np.s_[::4], np.s_[[2, 7, 30]], np.s_[2:9, 3:5, ::2],
                np.s_[..., 4], np.s_[30:2:-3], np.s_[7:7]):
        np.testing.assert_array_equal(back.data[key], ref[key], err_msg=str(key))


def test_writer_streams_blocks_never_the_whole_cube(tmp_path):
    src = SeededLazyCube((60, 10, 8), seed=SEED)
    cube = Cube(src, np.linspace(1000, 2400, 8))
    line_bytes = 10 * 8 * 4
    path = write_cube_hdf5(cube, tmp_path / "s.h5", chunk_lines=4, max_bytes=9 * line_bytes)
    assert src.max_lines == 8  # the 9-line budget rounded down to whole 4-line chunks
    np.testing.assert_array_equal(np.asarray(open_hdf5(path).data), src._read_lines(0, 60))


def test_lazy_cube_pickles_and_reads_in_another_process(tmp_path):
    rng = np.random.default_rng(SEED + 3)
    cube = _cube(rng, H=12, W=5, B=6)
    back = open_hdf5(write_cube_hdf5(cube, tmp_path / "c.h5"))
    clone = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(np.asarray(clone.data), np.asarray(cube.data))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        part = pool.apply(_read_rows, (back.data, 3, 9))
    np.testing.assert_array_equal(part, np.asarray(cube.data)[3:9])


def _read_rows(data, r0, r1):
    return data[r0:r1]


def test_newer_schema_refused(tmp_path):
    path = write_cube_hdf5(_cube(np.random.default_rng(SEED)), tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["hsimin_schema"] = SCHEMA_VERSION + 1
    with pytest.raises(FormatError, match="upgrade hsimin") as err:
        open_hdf5(path)
    assert err.value.path == str(path)


def test_failed_cube_write_leaves_nothing(tmp_path):
    class Broken(SeededLazyCube):
        def _read_lines(self, r0, r1):
            if r0 >= 20:
                raise FormatError("disk on fire", path="src.img")
            return super()._read_lines(r0, r1)

    cube = Cube(Broken((40, 4, 3), SEED), [1000.0, 1500.0, 2000.0])
    with pytest.raises(FormatError, match="disk on fire"):
        write_cube_hdf5(cube, tmp_path / "out.h5", chunk_lines=5, max_bytes=5 * 4 * 3 * 4)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- generic HDF5

def test_generic_band_last_with_micrometre_attribute(tmp_path):
    rng = np.random.default_rng(SEED + 4)
    data = rng.random((9, 5, 7)).astype(np.float64)
    wl_um = np.linspace(1.0, 2.5, 7)
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("scan/reflectance", data=data)
        ds.attrs["wavelength"] = wl_um
        ds.attrs["wavelength_units"] = "micrometers"
        f.create_dataset("scan/whiteref", data=np.ones((3, 4)))
    cube = open_hdf5(path)
    np.testing.assert_allclose(cube.wavelengths, wl_um * 1000.0)
    np.testing.assert_array_equal(np.asarray(cube.data), data.astype(np.float32))
    assert cube.meta.attrs["dataset"] == "/scan/reflectance" and cube.meta.attrs["layout"] == "HWB"


def test_generic_band_first_descending_wavelengths(tmp_path):
    rng = np.random.default_rng(SEED + 5)
    B, H, W = 6, 8, 5
    data = rng.integers(0, 10000, (B, H, W)).astype(np.int16)
    wl_um = np.linspace(2.4, 1.1, B)  # stored descending
    path = tmp_path / "bhw.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("cube", data=data).attrs["units"] = "reflectance x 10000"  # data units, not nm
        wl = f.create_dataset("wavelengths", data=wl_um)
        wl.attrs["units"] = "um"
        f.create_dataset("bands", data=np.arange(B))
        f.create_dataset("fwhm", data=np.full(B, 0.01))
    cube = open_hdf5(path)
    order = np.argsort(wl_um)
    expected = np.transpose(data, (1, 2, 0))[..., order].astype(np.float32)
    assert cube.shape == (H, W, B)
    np.testing.assert_allclose(cube.wavelengths, wl_um[order] * 1000.0)
    np.testing.assert_allclose(cube.fwhm, np.full(B, 10.0))
    np.testing.assert_array_equal(np.asarray(cube.data), expected)
    np.testing.assert_array_equal(cube.data[2:6], expected[2:6])
    np.testing.assert_array_equal(cube.data[4, 1:3], expected[4, 1:3])


def test_generic_bil_interleave_attribute_and_packing(tmp_path):
    """A square-ish cube (H == B) is disambiguated by `interleave`; CF packing and fill values apply."""
    rng = np.random.default_rng(SEED + 6)
    H, B, W = 6, 6, 4
    raw = rng.integers(0, 20000, (H, B, W)).astype(np.int16)
    raw[1, :, 2] = -9999
    path = tmp_path / "bil.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", data=raw)
        ds.attrs["interleave"] = "bil"
        ds.attrs["_FillValue"] = np.int16(-9999)
        ds.attrs["scale_factor"] = 1e-4
        f.attrs["wl"] = np.linspace(1000.0, 2000.0, B)
    cube = open_hdf5(path)
    expected = np.transpose(raw, (0, 2, 1)).astype(np.float32) * np.float32(1e-4)
    expected[1, 2, :] = np.nan
    np.testing.assert_allclose(np.asarray(cube.data), expected, rtol=1e-6, equal_nan=True)
    assert cube.meta.attrs["layout"] == "HBW"


def test_generic_missing_or_ambiguous_datasets(tmp_path):
    rng = np.random.default_rng(SEED + 7)
    two = tmp_path / "two.h5"
    with h5py.File(two, "w") as f:
        f.create_dataset("a", data=rng.random((4, 3, 5)))
        f.create_dataset("b", data=rng.random((4, 3, 5)))
        f.create_dataset("my_wl", data=np.linspace(1000, 2000, 5))
    with pytest.raises(FormatError) as err:
        open_hdf5(two)
    msg = str(err.value)
    assert str(two) in msg and "/a" in msg and "/b" in msg and "dataset=" in msg
    with pytest.raises(FormatError, match="wavelengths=") as err:
        open_hdf5(two, dataset="b")  # 'my_wl' is not a wavelength name
    assert "/my_wl" in str(err.value)
    cube = open_hdf5(two, dataset="b", wavelengths="my_wl")
    np.testing.assert_array_equal(cube.wavelengths, np.linspace(1000, 2000, 5))
    cube = open_hdf5(two, dataset="/a", wavelengths=np.linspace(1.0, 2.0, 5))
    np.testing.assert_allclose(cube.wavelengths, np.linspace(1000, 2000, 5))
    with pytest.raises(FormatError, match="no dataset 'c'"):
        open_hdf5(two, dataset="c")
    with pytest.raises(FormatError, match="no axis"):
        open_hdf5(two, dataset="a", wavelengths=np.linspace(1000, 2000, 7))

    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("table", data=np.zeros((3, 3)))
    with pytest.raises(FormatError, match="no 3-D numeric dataset") as err:
        open_hdf5(empty)
    assert err.value.path == str(empty) and "/table" in str(err.value)


def test_non_hdf5_and_map_only_files(tmp_path):
    txt = tmp_path / "notes.h5"
    txt.write_text("not hdf5")
    assert not sniff_hdf5(txt) and not sniff_hdf5(tmp_path)
    with pytest.raises(FormatError, match="not a readable HDF5"):
        open_hdf5(txt)
    m = write_map_hdf5(_map(np.random.default_rng(SEED)), tmp_path / "map.h5")
    assert sniff_hdf5(m)
    with pytest.raises(FormatError, match="open_map"):
        open_hdf5(m)


def test_truncated_or_vanished_files_are_format_errors(tmp_path):
    rng = np.random.default_rng(SEED + 15)
    cube = _cube(rng, H=64, W=16, B=32)
    path = write_cube_hdf5(cube, tmp_path / "c.h5")
    lazy = open_hdf5(path)
    m = write_map_hdf5(_map(rng), tmp_path / "m.h5")
    for f in (path, m):
        raw = f.read_bytes()
        f.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError) as err:
        np.asarray(lazy.data)  # opened before the damage
    assert err.value.path == str(path)
    with pytest.raises(FormatError):
        open_hdf5(path)
    with pytest.raises(FormatError):
        read_map_hdf5(m)
    path.unlink()
    with pytest.raises(FormatError, match="lines 0:5"):
        lazy.data[0:5]


def test_registered_reader():
    reader = registry._READERS["hdf5"]
    assert reader.priority == 20 and reader.open is open_hdf5 and reader.sniff is sniff_hdf5


# --------------------------------------------------------------------------- maps

def test_map_round_trip_exact(tmp_path):
    rng = np.random.default_rng(SEED + 8)
    mm = _map(rng)
    back = read_map_hdf5(write_map_hdf5(mm, tmp_path / "m.h5"))
    assert back.labels.dtype == np.int16
    np.testing.assert_array_equal(back.labels, mm.labels)
    assert (back.labels == -1).sum() == (mm.labels == -1).sum() > 0
    assert back.classes == mm.classes
    np.testing.assert_array_equal(back.scores, mm.scores)
    np.testing.assert_array_equal(back.confidence, mm.confidence)
    assert back.extra.keys() == mm.extra.keys()
    for k in mm.extra:
        assert back.extra[k].dtype == mm.extra[k].dtype, k
        np.testing.assert_array_equal(back.extra[k], mm.extra[k])
    assert back.meta == mm.meta and back.produced_by == mm.produced_by and back.provenance == mm.provenance


def test_map_without_optional_parts(tmp_path):
    mm = MineralMap(labels=np.full((3, 4), -1), classes=[])
    back = read_map_hdf5(write_map_hdf5(mm, tmp_path / "m.h5"))
    assert back.classes == () and back.scores is None and back.confidence is None and back.extra == {}
    np.testing.assert_array_equal(back.labels, mm.labels)


def test_map_errors(tmp_path):
    rng = np.random.default_rng(SEED + 9)
    cube_only = write_cube_hdf5(_cube(rng), tmp_path / "c.h5")
    with pytest.raises(FormatError, match="no mineral map") as err:
        read_map_hdf5(cube_only)
    assert err.value.path == str(cube_only)
    two = write_hdf5(tmp_path / "two.h5", maps={"a": _map(rng, full=False), "b": _map(rng, full=False)})
    assert list_maps_hdf5(two) == ["a", "b"]
    with pytest.raises(FormatError, match="name="):
        read_map_hdf5(two)
    np.testing.assert_array_equal(read_map_hdf5(two, name="b").labels.shape, (23, 7))
    with pytest.raises(FormatError, match="no map named 'c'"):
        read_map_hdf5(two, name="c")
    with pytest.raises(InputError):
        write_map_hdf5(_map(rng), tmp_path / "bad.h5", name="a/b")
    assert not (tmp_path / "bad.h5").exists()


def test_cube_and_maps_in_one_file_and_append(tmp_path):
    rng = np.random.default_rng(SEED + 10)
    cube, mm = _cube(rng), _map(rng)
    path = write_hdf5(tmp_path / "both.h5", cube=cube, maps={"mineral": mm},
                      arrays={"features": {"f2200_depth": rng.random((23, 7))}})
    _assert_same_cube(cube, open_hdf5(path))
    np.testing.assert_array_equal(read_map_hdf5(path).labels, mm.labels)

    added = write_cube_hdf5(cube, tmp_path / "tray.h5")
    write_map_hdf5(mm, added, append=True)
    before = added.read_bytes()
    with pytest.raises(OutputExistsError, match="/maps/mineral"):
        write_map_hdf5(mm, added, append=True)
    assert added.read_bytes() == before
    second = _map(rng, full=False)
    write_map_hdf5(second, added, append=True, overwrite=True)
    np.testing.assert_array_equal(read_map_hdf5(added).labels, second.labels)
    _assert_same_cube(cube, open_hdf5(added))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["both.h5", "tray.h5"]


def test_identical_maps_give_identical_bytes(tmp_path):
    mm = _map(np.random.default_rng(SEED + 11))
    a = write_map_hdf5(mm, tmp_path / "a.h5").read_bytes()
    b = write_map_hdf5(mm, tmp_path / "b.h5").read_bytes()
    assert a == b


# --------------------------------------------------------------------------- named arrays (features)

def test_arrays_round_trip(tmp_path):
    rng = np.random.default_rng(SEED + 12)
    arrays = {"f2200_wavelength_nm": rng.uniform(2190, 2215, (8, 6)).astype(np.float32),
              "f2200_depth": rng.random((8, 6)), "windows": np.array(["f1900", "f2200"])}
    arrays["f2200_depth"][0, 0] = np.nan
    path = write_arrays_hdf5(tmp_path / "f.h5", arrays, attrs={"continuum": "hull", "windows_nm": [[2120, 2245]]})
    back, attrs = read_arrays_hdf5(path, return_attrs=True)
    assert list(back) == list(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype, k
        np.testing.assert_array_equal(back[k], v)
    assert attrs == {"continuum": "hull", "windows_nm": [[2120, 2245]]}
    with h5py.File(path, "r") as f:
        assert f["features"].attrs["continuum"] == "hull"
    with pytest.raises(FormatError, match="no group /other"):
        read_arrays_hdf5(path, group="other")
    with pytest.raises(InputError, match="reserved"):
        write_arrays_hdf5(tmp_path / "x.h5", arrays, group="cube")
    with pytest.raises(InputError, match="dtype"):
        write_arrays_hdf5(tmp_path / "y.h5", {"bad": np.array([1 + 2j])})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


# --------------------------------------------------------------------------- outputs

def test_refuses_existing_output(tmp_path):
    rng = np.random.default_rng(SEED + 13)
    out = tmp_path / "existing.h5"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="overwrite") as err:
        write_cube_hdf5(_cube(rng), out)
    assert err.value.path == str(out)
    with pytest.raises(OutputExistsError):
        write_map_hdf5(_map(rng), out)
    assert out.read_bytes() == b"precious"
    write_cube_hdf5(_cube(rng), out, overwrite=True)
    assert h5py.is_hdf5(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.h5"]


@pytest.mark.parametrize("what", ["cube", "map", "arrays"])
def test_unwritable_folder_leaves_nothing(tmp_path, what, unwritable):
    rng = np.random.default_rng(SEED + 14)
    out, undo = unwritable(tmp_path, "out.h5")
    try:
        with pytest.raises(OutputError) as err:
            if what == "cube":
                write_cube_hdf5(_cube(rng), out)
            elif what == "map":
                write_map_hdf5(_map(rng), out)
            else:
                write_arrays_hdf5(out, {"a": np.zeros((2, 2))})
        assert err.value.path is not None
        assert not out.exists()
        left = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert left == []
    finally:
        undo()
    assert not (tmp_path / "no_such_folder").exists()


def test_bad_wavelengths_in_schema_file_is_header_error(tmp_path):
    path = write_cube_hdf5(_cube(np.random.default_rng(SEED)), tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        wl = f["cube/wavelengths"][()]
        wl[3] = wl[2]
        f["cube/wavelengths"][...] = wl
    with pytest.raises(HeaderError, match="repeat") as err:
        open_hdf5(path)
    assert err.value.path == str(path)


# --------------------------------------------------------------------------- faults (issue 14)




class _FillingDisk:
    """A file on a disk with ``room`` bytes left: writes beyond it fail with ENOSPC (fault injection)."""

    def __init__(self, f, room: int):
        self._f, self.room = f, room

    def write(self, b):
        n = memoryview(b).nbytes
        if n > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return self._f.write(b)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _fill_disk_after(monkeypatch, room):
    real = hdf5_guard.GuardedFile.__init__

    def init(self, path, mode):
        real(self, path, mode)
        self._f = _FillingDisk(self._f, room)

    monkeypatch.setattr(hdf5_guard.GuardedFile, "__init__", init)


@pytest.mark.parametrize("room", [0, 3000, 60_000, 250_000])
@pytest.mark.parametrize("what", ["cube", "map"])
def test_full_disk_is_one_clean_error_and_leaves_nothing(tmp_path, monkeypatch, what, room):
    """A full disk crashed HDF5 (34 lines of 'Exception ignored', then SIGSEGV/SIGBUS). Now the first ENOSPC is one
    DiskFullError naming the output, wherever it strikes (metadata, a data chunk, the close), and nothing is left."""
    rng = np.random.default_rng(SEED + 40)
    _fill_disk_after(monkeypatch, room)
    out = tmp_path / "out.h5"
    with pytest.raises(DiskFullError) as err:
        if what == "cube":
            write_cube_hdf5(_cube(rng, H=64, W=32, B=40), out, chunk_lines=4)
        else:
            write_map_hdf5(_map(rng, H=256, W=128), out)      # about 600 kB, scores and extras included
    assert err.value.path == str(out) and "No space left on device" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_does_not_crash_the_interpreter(tmp_path):
    """The crash came at interpreter exit (h5py freeing ids of a file that could not be flushed): run the write in a
    fresh interpreter and require a clean exit, with nothing printed."""
    code = f"""
import errno, os, numpy as np
from hsimin.core import Cube, DiskFullError
from hsimin.io import hdf5_guard
real = hdf5_guard.GuardedFile.__init__
def init(self, path, mode):
    real(self, path, mode)
    f, room = self._f, [5000]
    class Full:
        def write(_, b):
            n = memoryview(b).nbytes
            if n > room[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            room[0] -= n
            return f.write(b)
        def __getattr__(_, name):
            return getattr(f, name)
    self._f = Full()
hdf5_guard.GuardedFile.__init__ = init
cube = Cube(np.random.default_rng(0).random((64, 32, 40), dtype=np.float32), np.linspace(1000, 2500, 40))
try:
    from hsimin.io.hdf5 import write_cube_hdf5
    write_cube_hdf5(cube, {str(tmp_path / 'c.h5')!r}, chunk_lines=4)
except DiskFullError as exc:
    print("refused:", exc)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    assert p.stderr == "" and p.stdout.startswith("refused:") and "No space left on device" in p.stdout
    assert list(tmp_path.iterdir()) == []


def test_guard_spills_writes_after_the_error_and_reads_them_back(tmp_path):
    """After the first failed write the guard keeps HDF5's writes in memory, and reads see them (HDF5 reads back
    its own metadata before closing)."""
    g = hdf5_guard.GuardedFile(tmp_path / "g.bin", "w+b")
    g.write(b"abcd")
    g._f = _FillingDisk(g._f, 0)
    g.seek(2)
    assert g.write(b"XYZW") == 4 and g.error is not None
    g.seek(0)
    buf = bytearray(8)
    assert g.readinto(buf) == 6 and bytes(buf[:6]) == b"abXYZW"
    with pytest.raises(DiskFullError):
        g.check(tmp_path / "g.h5")
    g.close()


def test_not_enough_free_space_fails_before_writing(tmp_path, monkeypatch):
    from hsimin.io import atomic
    monkeypatch.setattr(atomic, "_free_bytes", lambda folder: 1000)
    with pytest.raises(DiskFullError, match="needs about"):
        write_cube_hdf5(_cube(np.random.default_rng(SEED)), tmp_path / "c.h5")
    assert list(tmp_path.iterdir()) == []


def test_non_numeric_depth_attribute_is_a_header_error(tmp_path):
    """An HDF5 depth_from_m = 'abc' gave 'unexpected ValueError', exit 1."""
    path = write_cube_hdf5(_cube(np.random.default_rng(SEED)), tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        f["cube"].attrs["depth_from_m"] = "abc"
    with pytest.raises(HeaderError, match="depth_from_m is 'abc', not a number") as err:
        open_hdf5(path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("schema", [True, False])
def test_a_cube_without_pixels_is_refused_at_open_and_write(tmp_path, schema):
    """A zero-line HDF5 cube crashed quicklook, and convert wrote 'lines = 0', which hsimin then refused."""
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        if schema:
            f.attrs["hsimin_schema"] = 1
            f.create_dataset("cube/data", shape=(0, 4, 5), dtype="f4")
            f.create_dataset("cube/wavelengths", data=np.arange(5) + 1000.0)
        else:
            f.create_dataset("data", shape=(0, 4, 5), dtype="f4")
            f.create_dataset("wavelengths", data=np.arange(5) + 1000.0)
    with pytest.raises(FormatError, match="holds no pixels") as err:
        open_hdf5(path)
    assert err.value.path == str(path)
    empty = Cube(np.zeros((0, 4, 5), np.float32), np.arange(5) + 1000.0)
    with pytest.raises(InputError, match="empty"):
        write_cube_hdf5(empty, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_external_storage_outside_the_file_is_refused(tmp_path):
    """HDF5 external storage may name any file (/etc/passwd was read as reflectance without a word)."""
    raw = tmp_path / "elsewhere.bin"
    np.arange(2 * 3 * 4, dtype="<f4").tofile(raw)
    path = tmp_path / "ext.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", shape=(2, 3, 4), dtype="<f4", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])
        f.create_dataset("wavelengths", data=np.arange(4) + 1000.0)
    with pytest.raises(FormatError, match="external files") as err:
        open_hdf5(path)
    assert str(raw) in str(err.value)


def test_wavelengths_of_the_wrong_shape_are_named_as_such(tmp_path):
    """A (270, 3) wavelength table was reported as 'wavelengths repeat'."""
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.attrs["hsimin_schema"] = 1
        f.create_dataset("cube/data", data=np.zeros((2, 2, 5), "f4"))
        f.create_dataset("cube/wavelengths", data=np.ones((5, 3)) * np.arange(5)[:, None] + 1000.0)
    with pytest.raises(HeaderError, match=r"shape \(5, 3\); want one wavelength per band"):
        open_hdf5(path)
