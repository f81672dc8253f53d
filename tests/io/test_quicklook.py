"""PNG quicklooks of cubes and mineral maps (hsimin.io.quicklook)."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from hsimin.core import Cube, InputError, MineralMap, OutputError, OutputExistsError
from hsimin.testing import SeededLazyCube
from hsimin.io.colors import class_colors
from hsimin.io.quicklook import (choose_rgb_bands, class_fractions, map_rgb, quicklook_rgb, save_map_png,
                                 save_quicklook)

SEED = 20260104
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR", "not a PNG file"
    return struct.unpack(">II", head[16:24])  # width, height


def _swir_cube(rng, H=30, W=20, B=40, mask=True):
    wl = np.linspace(1000.0, 2500.0, B)
    data = rng.uniform(0.05, 0.9, (H, W, B)).astype(np.float32)
    data[4, 6, 10] = np.nan
    m = np.ones((H, W), bool)
    if mask:
        m[:, :3] = False
    return Cube(data, wl, mask=m if mask else None)


# --------------------------------------------------------------------------- band choice

def test_band_choice():
    swir = np.linspace(1000.0, 2500.0, 151)  # 10 nm steps
    idx, nm = choose_rgb_bands(swir)
    np.testing.assert_array_equal(nm, [2200.0, 1700.0, 1300.0])
    vnir_swir = np.linspace(400.0, 2500.0, 211)
    np.testing.assert_array_equal(choose_rgb_bands(vnir_swir)[1], [640.0, 550.0, 460.0])
    fx17 = np.linspace(935.0, 1720.0, 80)  # covers neither preset: spread over the range
    _, nm = choose_rgb_bands(fx17)
    assert nm[0] > nm[1] > nm[2] and nm[0] > 1500 and nm[2] < 1100
    bad = np.zeros(151, bool)
    bad[120] = True  # 2200 nm
    idx, nm = choose_rgb_bands(swir, bad_bands=bad)
    assert 120 not in idx and abs(nm[0] - 2200.0) == 10.0
    np.testing.assert_array_equal(choose_rgb_bands(swir, rgb_nm=(2340, 2160, 1410))[1], [2340.0, 2160.0, 1410.0])
    with pytest.raises(InputError, match="outside"):
        choose_rgb_bands(swir, rgb_nm=(640, 550, 460))
    with pytest.raises(InputError, match="three"):
        choose_rgb_bands(swir, rgb_nm=(2200, 1700))


# --------------------------------------------------------------------------- cube quicklook

def test_quicklook_png_valid_and_masked_pixels_black(tmp_path):
    rng = np.random.default_rng(SEED)
    cube = _swir_cube(rng)
    path = save_quicklook(cube, tmp_path / "q.png")
    assert _png_size(path) == (20, 30)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (30, 20, 3)
    assert (img[:, :3] == 0).all()                        # mask False -> black
    idx, _ = choose_rgb_bands(cube.wavelengths)
    if 10 in idx:
        assert (img[4, 6] == 0).all()
    assert img[:, 3:].reshape(-1, 3).max(axis=0).min() == 255   # stretched to the full range
    assert f"R={cube.wavelengths[idx[0]]:.1f} nm" in Image.open(path).info.get("Description", "")


def test_quicklook_nan_pixel_black_and_stretch_percentiles():
    rng = np.random.default_rng(SEED + 1)
    H, W = 50, 40
    wl = np.linspace(1000.0, 2500.0, 16)
    data = np.broadcast_to(rng.permutation(H * W).reshape(H, W, 1).astype(np.float32), (H, W, 16)).copy()
    data[7, 9, :] = np.nan
    rgb = quicklook_rgb(Cube(data, wl), stretch=(2, 98))
    assert (rgb[7, 9] == 0).all()
    r, v = rgb[..., 0].astype(int), data[..., 0]
    lo, hi = np.nanpercentile(v, [2, 98])
    assert (r[v <= lo] == 0).all() and (r[v >= hi] == 255).all()
    inside = (v > lo + 0.01 * (hi - lo)) & (v < hi - 0.01 * (hi - lo))
    assert ((r[inside] > 0) & (r[inside] < 255)).all()
    assert 0.9 < inside.mean() < 0.97
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])  # identical bands -> grey
    with pytest.raises(InputError, match="stretch"):
        quicklook_rgb(Cube(data, wl), stretch=(98, 2))


def test_quicklook_decimates_to_max_pixels(tmp_path):
    rng = np.random.default_rng(SEED + 2)
    cube = _swir_cube(rng, H=101, W=37, mask=False)
    path = save_quicklook(cube, tmp_path / "small.png", max_pixels=400)
    step = 4  # ceil(sqrt(101 * 37 / 400)) = ceil(3.04)
    assert _png_size(path) == (len(range(0, 37, step)), len(range(0, 101, step)))
    full = quicklook_rgb(cube, stretch=(0, 100))
    small = quicklook_rgb(cube, stretch=(0, 100), max_pixels=400)
    # the kept pixels are the same pixels (stretch limits differ slightly with the subsample)
    assert small.shape[:2] == full[::step, ::step].shape[:2]
    assert np.corrcoef(small[..., 0].ravel(), full[::step, ::step, 0].ravel())[0, 1] > 0.99


def test_quicklook_bounded_memory_on_cube_bigger_than_block_budget(tmp_path):
    H, W, B = 600, 160, 64  # 24.6 MB as float32, never held: generated per read
    src = SeededLazyCube((H, W, B), SEED)
    cube = Cube(src, np.linspace(1000.0, 2500.0, B))
    budget = 1 * 2**20  # 1 MiB blocks: 25 lines
    tracemalloc.start()
    try:
        path = save_quicklook(cube, tmp_path / "big.png", max_bytes=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _png_size(path) == (W, H)
    assert src.max_lines <= budget // (W * B * 4)
    assert peak < cube.nbytes / 4, f"peak {peak / 1e6:.1f} MB for a {cube.nbytes / 1e6:.1f} MB cube"


def test_quicklook_refuses_existing_and_unwritable(tmp_path, unwritable):
    rng = np.random.default_rng(SEED + 3)
    cube = _swir_cube(rng)
    out = tmp_path / "q.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        save_quicklook(cube, out)
    assert out.read_bytes() == b"precious"
    save_quicklook(cube, out, overwrite=True)
    assert _png_size(out) == (20, 30)
    bad, undo = unwritable(tmp_path, "q.png")
    try:
        with pytest.raises(OutputError):
            save_quicklook(cube, bad)
    finally:
        undo()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["q.png"]


# --------------------------------------------------------------------------- map PNG

def _map(rng, H=60, W=24):
    classes = ["kaolinite", "calcite", "chlorite"]
    labels = rng.choice([-1, 0, 1], size=(H, W), p=[0.1, 0.6, 0.3])  # chlorite absent
    return MineralMap(labels=labels, classes=classes)


def test_map_png_colours_and_legend(tmp_path):
    rng = np.random.default_rng(SEED + 4)
    mm = _map(rng)
    with_legend = save_map_png(mm, tmp_path / "legend.png", title="DDH042 T07")
    without = save_map_png(mm, tmp_path / "plain.png", legend=False)
    (w1, _), (w2, _) = _png_size(with_legend), _png_size(without)
    assert w1 > w2 + 50  # the legend sits beside the map
    cols = {tuple(c) for c in np.asarray(Image.open(with_legend).convert("RGB")).reshape(-1, 3)}
    kaolinite, calcite, chlorite = (tuple(int(v) for v in c) for c in class_colors(mm.classes))
    assert kaolinite in cols and calcite in cols and (0, 0, 0) in cols
    assert chlorite not in cols  # absent classes are not in the legend
    rgb = map_rgb(mm)
    np.testing.assert_array_equal(rgb[mm.labels == 0][0], kaolinite)
    assert (rgb[mm.labels == -1] == 0).all()


def test_class_fractions():
    mm = MineralMap(labels=np.array([[0, 0, 1, -1], [0, 2, 2, -1]]), classes=["a", "b", "c", "d"])
    frac, unclassified = class_fractions(mm)
    np.testing.assert_allclose(frac, [3 / 8, 1 / 8, 2 / 8, 0.0])
    assert unclassified == 2 / 8


def test_map_png_refuses_existing_and_leaves_nothing_on_failure(tmp_path, unwritable):
    rng = np.random.default_rng(SEED + 5)
    mm = _map(rng)
    out = tmp_path / "m.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        save_map_png(mm, out)
    assert out.read_bytes() == b"precious"
    bad, undo = unwritable(tmp_path, "m.png")
    try:
        with pytest.raises(OutputError):
            save_map_png(mm, bad)
    finally:
        undo()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["m.png"]


def test_map_png_needs_no_display_nor_pyplot(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from hsimin.core import MineralMap\n"
        "from hsimin.io.quicklook import save_map_png\n"
        "mm = MineralMap(labels=np.array([[0, 1], [-1, 1]]), classes=['kaolinite', 'calcite'])\n"
        f"save_map_png(mm, {str(tmp_path / 'headless.png')!r})\n"
        "print('pyplot' if 'matplotlib.pyplot' in sys.modules else 'no-pyplot')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "no-pyplot"
    assert _png_size(tmp_path / "headless.png")[0] > 0
