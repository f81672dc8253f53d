"""Mineral map outputs: ENVI Classification (read back by SPy), class colours, save_map/open_map dispatch."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import spectral

import hsimin
from hsimin.core import (FormatError, HeaderError, MineralMap, OutputError, OutputExistsError, ScanMeta,
                         TruncatedDataError)
from hsimin.io.colors import (MINERAL_COLORS, class_colors, fallback_palette, mineral_color, normalise_name,
                              srgb_to_oklab)
from hsimin.io.envi_classification import read_envi_classification, write_envi_classification

SEED = 20260103
CLASSES = ["kaolinite", "white_mica", "calcite", "chlorite"]


def _map(rng, H=9, W=7, classes=CLASSES) -> MineralMap:
    labels = rng.integers(-1, len(classes), (H, W))
    labels[0, 0], labels[1, 1] = -1, len(classes) - 1
    return MineralMap(labels=labels, classes=classes, confidence=rng.random((H, W)),
                      produced_by="sam(library=usgs_splib07, k=3)",
                      meta=ScanMeta(hole_id="DDH042", tray_id="T07", depth_from_m=101.25, depth_to_m=104.5))




# --------------------------------------------------------------------------- ENVI Classification

def test_envi_classification_reads_in_spy(tmp_path):
    rng = np.random.default_rng(SEED)
    mm = _map(rng)
    hdr = write_envi_classification(mm, tmp_path / "map.hdr")
    assert hdr == tmp_path / "map.hdr" and (tmp_path / "map.img").is_file()
    img = spectral.open_image(str(hdr))
    md = img.metadata
    assert md["file type"].strip() == "ENVI Classification"
    assert md["class names"] == ["Unclassified"] + CLASSES
    assert int(md["classes"]) == len(CLASSES) + 1
    lookup = np.array([int(v) for v in md["class lookup"]]).reshape(-1, 3)
    assert lookup.shape == (len(CLASSES) + 1, 3)
    np.testing.assert_array_equal(lookup[0], [0, 0, 0])
    np.testing.assert_array_equal(lookup[1:], class_colors(CLASSES))
    band = img.read_band(0)
    assert band.dtype == np.uint8 and int(md["data type"]) == 1
    np.testing.assert_array_equal(band.astype(int), mm.labels.astype(int) + 1)
    assert (band[mm.labels == -1] == 0).all()


def test_envi_classification_round_trip(tmp_path):
    rng = np.random.default_rng(SEED + 1)
    mm = _map(rng)
    back = read_envi_classification(write_envi_classification(mm, tmp_path / "map.hdr"))
    np.testing.assert_array_equal(back.labels, mm.labels)
    assert back.labels.dtype == np.int16 and back.classes == mm.classes
    assert back.produced_by == mm.produced_by
    assert (back.meta.hole_id, back.meta.tray_id, back.meta.depth_from_m, back.meta.depth_to_m) == \
        ("DDH042", "T07", 101.25, 104.5)
    # the data file path also opens it
    np.testing.assert_array_equal(read_envi_classification(tmp_path / "map.img").labels, mm.labels)


def test_envi_classification_many_classes_int16(tmp_path):
    rng = np.random.default_rng(SEED + 2)
    classes = [f"mineral_{i:03d}" for i in range(300)]
    mm = MineralMap(labels=rng.integers(-1, 300, (6, 5)), classes=classes)
    hdr = write_envi_classification(mm, tmp_path / "big.hdr")
    img = spectral.open_image(str(hdr))
    assert int(img.metadata["data type"]) == 2 and len(img.metadata["class names"]) == 301
    np.testing.assert_array_equal(img.read_band(0).astype(int), mm.labels.astype(int) + 1)
    np.testing.assert_array_equal(read_envi_classification(hdr).labels, mm.labels)


def test_envi_class_names_without_list_separators(tmp_path):
    mm = MineralMap(labels=np.array([[0, 1], [-1, 1]]), classes=["kaolinite, poorly crystalline", "{odd}"])
    back = read_envi_classification(write_envi_classification(mm, tmp_path / "m.hdr"))
    assert back.classes == ("kaolinite_ poorly crystalline", "_odd_")
    np.testing.assert_array_equal(back.labels, mm.labels)


def test_third_party_classification_without_unclassified_class(tmp_path):
    """Class 0 is a real class when its name does not say 'unclassified'."""
    data = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    (tmp_path / "c.img").write_bytes(data.tobytes())
    (tmp_path / "c.hdr").write_text(
        "ENVI\nsamples = 3\nlines = 2\nbands = 1\nheader offset = 0\nfile type = ENVI Classification\n"
        "data type = 1\ninterleave = bsq\nbyte order = 0\nclasses = 3\nclass names = {Quartz, Calcite, Talc}\n")
    back = read_envi_classification(tmp_path / "c.hdr")
    assert back.classes == ("Quartz", "Calcite", "Talc")
    np.testing.assert_array_equal(back.labels, data)


def test_envi_classification_bad_files(tmp_path):
    rng = np.random.default_rng(SEED + 3)
    hdr = write_envi_classification(_map(rng), tmp_path / "m.hdr")
    text = hdr.read_text()

    std = tmp_path / "std.hdr"
    std.write_text(text.replace("ENVI Classification", "ENVI Standard"))
    (tmp_path / "std.img").write_bytes((tmp_path / "m.img").read_bytes())
    with pytest.raises(FormatError, match="open_cube") as err:
        read_envi_classification(std)
    assert err.value.path == str(std)

    short = tmp_path / "short.hdr"
    short.write_text(text)
    (tmp_path / "short.img").write_bytes((tmp_path / "m.img").read_bytes()[:20])
    with pytest.raises(TruncatedDataError):
        read_envi_classification(short)

    wrong = tmp_path / "wrong.hdr"
    wrong.write_text(text.replace("classes = 5", "classes = 7"))
    (tmp_path / "wrong.img").write_bytes((tmp_path / "m.img").read_bytes())
    with pytest.raises(HeaderError, match="class names"):
        read_envi_classification(wrong)

    over = tmp_path / "over.hdr"
    over.write_text(text)
    (tmp_path / "over.img").write_bytes(np.full(63, 9, np.uint8).tobytes())
    with pytest.raises(FormatError, match="outside"):
        read_envi_classification(over)

    lonely = tmp_path / "lonely.hdr"
    lonely.write_text(text)
    with pytest.raises(FormatError, match="no data file"):
        read_envi_classification(lonely)


def test_envi_classification_refuses_existing(tmp_path):
    rng = np.random.default_rng(SEED + 4)
    (tmp_path / "m.img").write_bytes(b"precious")
    with pytest.raises(OutputExistsError) as err:
        write_envi_classification(_map(rng), tmp_path / "m.hdr")
    assert err.value.path == str(tmp_path / "m.img")
    assert (tmp_path / "m.img").read_bytes() == b"precious" and not (tmp_path / "m.hdr").exists()
    write_envi_classification(_map(rng), tmp_path / "m.hdr", overwrite=True)
    assert spectral.open_image(str(tmp_path / "m.hdr")).shape == (9, 7, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.hdr", "m.img"]


def test_envi_classification_unwritable(tmp_path, unwritable):
    out, undo = unwritable(tmp_path, "m.hdr")
    try:
        with pytest.raises(OutputError):
            write_envi_classification(_map(np.random.default_rng(SEED)), out)
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    finally:
        undo()


# --------------------------------------------------------------------------- save_map / open_map

@pytest.mark.parametrize("ext", [".h5", ".hdr"])
def test_save_map_open_map_dispatch(tmp_path, ext):
    rng = np.random.default_rng(SEED + 5)
    mm = _map(rng)
    path = hsimin.save_map(mm, tmp_path / f"map{ext}")
    back = hsimin.open_map(path)
    np.testing.assert_array_equal(back.labels, mm.labels)
    assert back.classes == mm.classes
    if ext == ".h5":
        np.testing.assert_array_equal(back.confidence, mm.confidence)
    with pytest.raises(OutputExistsError):
        hsimin.save_map(mm, tmp_path / f"map{ext}")


# --------------------------------------------------------------------------- colours

def _oklab_distances(rgb):
    lab = srgb_to_oklab(np.asarray(rgb))
    d = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return d


def test_vocabulary_colours_are_distinguishable():
    names = list(MINERAL_COLORS)
    rgb = np.vstack([class_colors(names), [[0, 0, 0]]])  # black = unclassified
    assert _oklab_distances(rgb).min() >= 0.07
    assert len({tuple(c) for c in rgb}) == len(rgb)
    for must in ("muscovite", "illite", "actinolite", "carbonate", "tray", "background"):
        assert must in MINERAL_COLORS


def test_every_vocabulary_name_has_a_fixed_colour():
    from hsimin.core.vocabulary import VOCABULARY
    missing = [e.name for e in VOCABULARY if e.name not in MINERAL_COLORS]
    assert missing == [], f"add fixed colours for {missing} to hsimin/io/colors.py"


def test_colour_lookup_rules():
    assert mineral_color("Kaolinite") == mineral_color("kaolinite") == (0x1e, 0x5f, 0xd6)
    assert normalise_name(" White  Mica ") == "white_mica" == normalise_name("white-mica")
    assert mineral_color("White Mica") == mineral_color("white_mica")
    assert mineral_color("unclassified") == mineral_color("") == (0, 0, 0)
    c = class_colors(["calcite", "kaolinite", "calcite"])
    assert c.dtype == np.uint8 and c.shape == (3, 3)
    np.testing.assert_array_equal(c[0], c[2])


def test_fallback_colours_are_stable_distinct_and_far_from_known():
    pal = fallback_palette()
    assert len(pal) >= 50
    known = np.vstack([class_colors(list(MINERAL_COLORS)), [[0, 0, 0]]])
    lab_p, lab_k = srgb_to_oklab(pal), srgb_to_oklab(known)
    assert np.sqrt(((lab_p[:, None] - lab_k[None]) ** 2).sum(-1)).min() >= 0.06
    new = [f"new_mineral_{i}" for i in range(40)]
    cols = class_colors(new + ["kaolinite"])
    assert len({tuple(c) for c in cols}) == len(cols)  # collisions resolved within one map
    # the hash is not Python's salted hash(): another interpreter gives the same colour
    code = "from hsimin.io.colors import mineral_color; print(mineral_color('zz_mystery_phase'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert out == str(mineral_color("zz_mystery_phase"))
