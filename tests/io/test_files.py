"""Small text inputs are read safely: regular files only, bounded size, one error naming the file (issue 14:
a session or recipe path that is /dev/zero, /dev/urandom or a FIFO read forever or hung)."""
import os
import threading

import pytest

from hsimin.core import ConfigError, HeaderError
from hsimin.io.files import read_bytes_file, read_text_file


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "manifest.csv"
    os.mkfifo(fifo)
    done = threading.Event()
    box = {}

    def read():
        try:
            read_text_file(fifo, what="the manifest")
        except ConfigError as exc:
            box["err"] = exc
        done.set()

    threading.Thread(target=read, daemon=True).start()
    # open() of a FIFO blocks until a writer comes; refusing it must not (a writer never comes here)
    assert done.wait(30), "reading a FIFO blocked"
    assert box["err"].path == str(fifo) and "not a regular file" in str(box["err"])


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device):
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text_file(device, what="the recipe")


def test_folders_missing_files_and_oversized_files(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        read_text_file(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_text_file(tmp_path / "nope.csv")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(HeaderError, match="more than the 1024"):
        read_bytes_file(big, max_bytes=1024, error=HeaderError)
    assert read_bytes_file(big, max_bytes=4096) == b"x" * 2048


def test_text_is_decoded_or_refused(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes("\ufeffhole_id,µ\n".encode("utf-8"))
    assert read_text_file(p, encoding="utf-8-sig") == "hole_id,µ\n"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_text_file(p)
