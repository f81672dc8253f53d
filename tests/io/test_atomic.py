"""Atomic outputs: nothing under the final name until the writer finished; no debris on failure."""
import os

import pytest

from hsimin.core import OutputError, OutputExistsError
from hsimin.io.atomic import atomic_output, atomic_outputs, check_output_path


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
