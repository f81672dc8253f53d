"""Atomic outputs: nothing under the final name until the writer finished; no debris on failure."""
import os

import pytest

from hsimin.core import OutputError, OutputExistsError
from hsimin.io.atomic import atomic_output, atomic_outputs, check_output_path
import errno
from hsimin.core import DiskFullError
from hsimin.io import atomic as atomic_mod
from hsimin.io.atomic import (check_not_input, check_output_folder, ensure_space, is_temp_of, output_error,
                              output_group, temp_prefix)


def test_success_renames_into_place(tmp_path):
    final = tmp_path / "map.h5"
    with atomic_output(final) as tmp:
        assert tmp.parent == tmp_path and tmp != final
        tmp.write_bytes(b"done")
        assert not final.exists()
    assert final.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.h5"]


def test_crash_leaves_nothing(tmp_path):
    final = tmp_path / "map.h5"
    with pytest.raises(RuntimeError):
        with atomic_output(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_refused_unless_overwrite(tmp_path):
    final = tmp_path / "out.h5"
    final.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        with atomic_output(final):
            pass
    assert final.read_bytes() == b"precious"
    with atomic_output(final, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert final.read_bytes() == b"new"


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(OutputError) as err:
        check_output_path(tmp_path / "nope" / "x.h5")
    assert err.value.path.endswith("nope") and "does not exist" in str(err.value)
    assert not (tmp_path / "nope").exists()


def test_multi_file_renames_in_order_and_all_or_nothing(tmp_path):
    data, hdr = tmp_path / "c.img", tmp_path / "c.hdr"
    with pytest.raises(ValueError):
        with atomic_outputs([data, hdr]) as (td, th):
            td.write_bytes(b"x")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs([data, hdr]) as (td, th):
        td.write_bytes(b"x")
        th.write_bytes(b"h")
    assert data.read_bytes() == b"x" and hdr.read_bytes() == b"h"
    assert oct(os.stat(hdr).st_mode & 0o777) == "0o644"


# --------------------------------------------------------------------------------------------- robustness (issue 14)




@pytest.mark.parametrize("length", [241, 250, 255])
def test_output_names_up_to_the_filesystem_limit_are_written(tmp_path, length):
    """Names of 241-255 characters were refused: the temporary name added 15 characters. Now the temporary name is
    cut (with a hash) to fit, and is still recognised as this output's."""
    final = tmp_path / ("m" * (length - 3) + ".h5")
    check_output_path(final)
    with atomic_output(final) as tmp:
        assert len(tmp.name.encode()) <= 255 and is_temp_of(tmp.name, final)
        tmp.write_bytes(b"ok")
    assert final.read_bytes() == b"ok" and [p.name for p in tmp_path.iterdir()] == [final.name]
    assert temp_prefix(tmp_path / "short.h5") == ".short.h5."
    assert not is_temp_of(".other.h5.abcdefgh.part", final)


def test_a_name_longer_than_the_filesystem_allows_is_refused_before_work(tmp_path):
    with pytest.raises(OutputError, match="bytes long"):
        check_output_path(tmp_path / ("n" * 300 + ".h5"))


def test_unwritable_folder_is_found_by_creating_a_file(tmp_path, monkeypatch):
    """Permission bits do not bind root and say nothing of a read-only mount: the check creates a file, as the
    writer will. Fault injection: the kernel refuses the file (EROFS)."""
    def refuse(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(atomic_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as err:
        check_output_path(tmp_path / "map.h5")
    assert err.value.path == str(tmp_path) and "Read-only file system" in str(err.value)
    with pytest.raises(OutputError, match="Read-only"):
        check_output_folder(tmp_path / "new" / "run")


def test_check_output_folder_probes_the_nearest_existing_parent(tmp_path):
    out = check_output_folder(tmp_path / "a" / "b")
    assert out == tmp_path / "a" / "b" and not (tmp_path / "a").exists()      # checked, not created
    assert check_output_folder(tmp_path / "a" / "b", create=True).is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []                       # the probe left nothing
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_output_folder(tmp_path / "f")


def test_enospc_while_writing_is_one_disk_full_error_and_nothing_is_left(tmp_path):
    """Fault injection: the writer's write fails with ENOSPC."""
    final = tmp_path / "map.png"
    with pytest.raises(DiskFullError) as err:
        with atomic_output(final) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert err.value.path == str(final) and "No space left on device" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_output_error_translates_os_errors():
    e = output_error(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "/x/y.h5")
    assert isinstance(e, DiskFullError) and str(e).startswith("/x/y.h5: ")
    e = output_error(PermissionError(errno.EACCES, "Permission denied"), "/x/y.h5", "cannot write")
    assert type(e) is OutputError and str(e) == "/x/y.h5: cannot write (Permission denied)"


def test_ensure_space_refuses_an_output_larger_than_the_free_space(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_mod, "_free_bytes", lambda folder: 1_000_000)
    with pytest.raises(DiskFullError, match="needs about 11.0 MB but the disk has 1.0 MB free"):
        ensure_space(tmp_path / "tray.h5", 11_000_000)
    ensure_space(tmp_path / "tray.h5", 999_999)


def test_output_group_commits_all_or_nothing(tmp_path):
    """classify writes PNG, ENVI and HDF5: a failure in the last writer used to leave the first two behind."""
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(DiskFullError):
        with output_group():
            with atomic_output(tmp_path / "m.png") as t:
                t.write_bytes(b"png")
            with atomic_outputs([tmp_path / "m_classes.img", tmp_path / "m_classes.hdr"]) as (d, h):
                d.write_bytes(b"img")
                h.write_bytes(b"hdr")
            assert not (tmp_path / "m.png").exists()          # nothing renamed before the group ends
            with atomic_output(tmp_path / "m.h5"):
                raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    with output_group():
        for name in ("m.png", "m.h5"):
            with atomic_output(tmp_path / name) as t:
                t.write_bytes(name.encode())
    assert (tmp_path / "m.h5").read_bytes() == b"m.h5" and (tmp_path / "m.png").read_bytes() == b"m.png"


def test_overwrite_hides_the_old_header_before_renaming_the_data(tmp_path, monkeypatch):
    """Fault injection, a kill between the two renames of an ENVI overwrite: the new data must never sit beside the
    old header (the cube would open without error and read scrambled)."""
    data, hdr = tmp_path / "c.img", tmp_path / "c.hdr"
    data.write_bytes(b"old-bsq")
    hdr.write_bytes(b"old header: bsq")
    real = os.replace
    calls = []

    def die_after_first(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt   # stands for the SIGKILL that lands between the renames
        real(src, dst)

    monkeypatch.setattr(atomic_mod.os, "replace", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        with atomic_outputs([data, hdr], overwrite=True) as (d, h):
            d.write_bytes(b"new-bil")
            h.write_bytes(b"new header: bil")
    assert data.read_bytes() == b"new-bil"
    assert not hdr.exists()                                  # no header: no cube, rather than a scrambled one


@pytest.mark.parametrize("how", ["same", "link", "symlink", "relative"])
def test_an_output_that_is_an_input_is_refused(tmp_path, how, monkeypatch):
    src = tmp_path / "x.h5"
    src.write_bytes(b"cube")
    out = {"same": src, "link": tmp_path / "hard.h5", "symlink": tmp_path / "sym.h5",
           "relative": tmp_path / "sub" / ".." / "x.h5"}[how]
    if how == "link":
        os.link(src, out)
    elif how == "symlink":
        out.symlink_to(src)
    elif how == "relative":
        (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="one of the input's files"):
        check_not_input([out], [src])
    check_not_input([tmp_path / "other.h5"], [src])
    assert src.read_bytes() == b"cube"
