"""Property test: mangled ENVI headers make the reader raise HsiminError subclasses, never anything else.

A valid header and data file are built, then one to three mutations are applied: a line deleted, a value
replaced by random text or a random number, a closing brace dropped, a list shortened or lengthened,
random bytes spliced in, the text truncated. Opening (and, when that works, reading) must either succeed
or raise an :class:`~hsimin.core.errors.HsiminError`, without numpy RuntimeWarnings.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hsimin.core import HeaderError, HsiminError
from hsimin.io.envi import open_envi

L, S, B = 3, 4, 5
RAW = np.arange(L * S * B, dtype="<i2").reshape(L, B, S)  # BIL on disk


def _lines() -> list[str]:
    return ["ENVI", "description = {fuzz base,", " two lines}", f"samples = {S}", f"lines = {L}", f"bands = {B}",
            "header offset = 0", "file type = ENVI Standard", "data type = 2", "interleave = bil",
            "byte order = 0", "wavelength units = Nanometers",
            "wavelength = {1000.0, 1100.5, 1200.0,", " 1300.0, 1400.0}", "fwhm = {10, 10, 10, 10, 10}",
            "bbl = {1, 1, 0, 1, 1}", "reflectance scale factor = 10000", "data ignore value = 7",
            "sensor type = fuzz"]


values = st.one_of(
    st.text(max_size=12),
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "{", "}", "{1, 2", "{}", "nan", "-1", "0", "1e400", "bsq", "BIP", "cm-1", "um", "6",
                     "{1000, 900, 800, 700, 600}", "{1000, 1000, 1100, 1200, 1300}", "{0, 0, 0, 0, 0}"]),
)

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("value"), st.integers(0, 40), values),
    st.tuples(st.just("unbrace"), st.integers(0, 40)),
    st.tuples(st.just("list"), st.sampled_from(["wavelength", "fwhm", "bbl"]), st.integers(0, 9)),
    st.tuples(st.just("bytes"), st.integers(0, 2000), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("truncate"), st.integers(0, 2000)),
    st.tuples(st.just("dup"), st.integers(0, 40), values),
)


def _apply(lines: list[str], m) -> list[str] | bytes:
    kind, *args = m
    lines = list(lines)
    if kind == "delete" and lines:
        del lines[args[0] % len(lines)]
    elif kind in ("value", "dup") and lines:
        i = args[0] % len(lines)
        key = lines[i].partition("=")[0] or "key"
        new = f"{key}= {args[1]}"
        if kind == "value":
            lines[i] = new
        else:
            lines.insert(i + 1, new)
    elif kind == "unbrace":
        i = args[0] % len(lines)
        lines[i] = lines[i].replace("}", "")
    elif kind == "list":
        key, n = args
        vals = ", ".join(str(1000 + 50 * j) for j in range(n))
        lines = [l for l in lines if not l.startswith(key + " ") and not l.startswith(" 1300")]
        lines.append(f"{key} = {{{vals}}}")
    return lines


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow or divide-by-zero behind the user's back
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=3), raw_header=st.booleans(),
       junk=st.binary(max_size=300))
def test_mangled_headers_raise_only_hsimin_errors(mutations, raw_header, junk):
    text: list[str] | bytes = _lines()
    for m in mutations:
        kind, *args = m
        if kind in ("bytes", "truncate"):
            blob = ("\n".join(text) + "\n").encode() if isinstance(text, list) else text
            pos = args[0] % (len(blob) + 1)
            text = blob[:pos] + args[1] + blob[pos:] if kind == "bytes" else blob[:pos]
        elif isinstance(text, list):
            text = _apply(text, m)
    blob = text if isinstance(text, bytes) else ("\n".join(text) + "\n").encode()
    if raw_header:
        blob = junk
    with tempfile.TemporaryDirectory() as d:
        hdr = Path(d) / "fuzz.hdr"
        hdr.write_bytes(blob)
        (Path(d) / "fuzz.img").write_bytes(RAW.tobytes())
        try:
            cube = open_envi(hdr)
            data = np.asarray(cube.data)
            assert data.shape == cube.shape and data.dtype == np.float32
            assert np.all(np.diff(cube.wavelengths) > 0)
            if cube.shape[0]:
                np.testing.assert_array_equal(cube.data[-1], data[-1])
        except HsiminError as exc:
            assert str(exc).strip()


def test_the_unmangled_base_header_opens():
    """The property test starts from a valid file: without mutations it opens, so mutations are what fail."""
    with tempfile.TemporaryDirectory() as d:
        hdr = Path(d) / "fuzz.hdr"
        hdr.write_text("\n".join(_lines()) + "\n")
        (Path(d) / "fuzz.img").write_bytes(RAW.tobytes())
        cube = open_envi(hdr)
        np.testing.assert_allclose(np.asarray(cube.data), RAW.transpose(0, 2, 1) / 10000.0 *
                                   np.where(RAW.transpose(0, 2, 1) == 7, np.nan, 1.0))
        assert cube.bad_bands.tolist() == [False, False, True, False, False]


def test_a_scale_factor_that_overflows_is_a_header_error(tmp_path):
    """Found by the property test: `reflectance scale factor = 1.175494351e-38` on int16 data divided 32767 into
    infinity. It is refused at open with a message naming the key."""
    data = np.arange(60, dtype=np.int16).reshape(3, 5, 4)
    hdr = tmp_path / "tiny_scale.hdr"
    hdr.write_text("ENVI\nsamples = 4\nlines = 3\nbands = 5\nheader offset = 0\nfile type = ENVI Standard\n"
                   "data type = 2\ninterleave = bil\nbyte order = 0\nreflectance scale factor = 1.175494351e-38\n"
                   "wavelength = {1000, 1100, 1200, 1300, 1400}\n")
    (tmp_path / "tiny_scale.img").write_bytes(data.tobytes())
    with pytest.raises(HeaderError, match="reflectance scale factor"):
        open_envi(hdr)
    hdr.write_text(hdr.read_text().replace("1.175494351e-38", "1e-30"))   # small but harmless for int16
    cube = open_envi(hdr)
    assert np.isfinite(np.asarray(cube.data)).all()
