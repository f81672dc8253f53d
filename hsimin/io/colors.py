"""Fixed, distinguishable display colours for mineral classes.

Every name of hsimin's mineral vocabulary has its own sRGB colour, the same in every map, PNG legend and
ENVI ``class lookup``, so a geologist learns them once (kaolin group blues, white micas yellow to orange,
smectites pinks, chlorite/epidote/amphiboles greens, carbonates cyans, iron oxides rust, tray artefacts
greys). It covers every name of :mod:`hsimin.core.vocabulary` plus common species names (muscovite,
illite, actinolite...). The table was hand-anchored on those hues, then nudged (a small optimisation run
once, offline) so that every pair, black included, is at least 0.07 apart in OKLab (three to four
just-noticeable differences).

A name outside the vocabulary gets a colour from a perceptual fallback palette, picked by a stable hash
of the name (the same on every machine and run) among palette colours that are not close to any
vocabulary colour. Black is reserved for unclassified pixels.
"""
from __future__ import annotations

import functools
import hashlib
import re
from typing import Iterable

import numpy as np

UNCLASSIFIED_COLOR = (0, 0, 0)
"""sRGB colour of unclassified (-1) pixels: black."""

MINERAL_COLORS: dict[str, str] = {
    # kaolin group: blues
    "kaolinite": "#1e5fd6", "dickite": "#01a3e0", "halloysite": "#8bbcff", "nacrite": "#3b3bb0",
    # white micas: yellows to orange
    "white_mica": "#fcd119", "illite": "#cc9d00", "muscovite": "#ffee84", "paragonite": "#ff9d32",
    "lepidolite": "#c080ff", "margarite": "#e0c267", "illite_smectite": "#e3735b",
    # smectites: pinks
    "smectite": "#c3185b", "montmorillonite": "#ff6ab4", "nontronite": "#7a1050",
    # other Al-OH minerals
    "pyrophyllite": "#b69ad0", "gibbsite": "#9a9fff", "diaspore": "#6060c0", "zunyite": "#ffd391",
    "topaz": "#ffb384",
    # sulphates and ammonium minerals
    "alunite": "#ff3b3b", "jarosite": "#8c7a00", "gypsum": "#ffdfff", "anhydrite": "#c7bdff",
    "bassanite": "#f9c0f1", "buddingtonite": "#7b68ee",
    # Fe-Mg silicates: greens
    "chlorite": "#1f9c19", "corrensite": "#6dbe92", "cookeite": "#9dc667", "epidote": "#a4d300",
    "allanite": "#759424", "prehnite": "#00ea74", "talc": "#c7ffa9", "serpentine": "#347f2e", "brucite": "#caeeff",
    "vermiculite": "#b17f37", "palygorskite": "#dca9c8", "sepiolite": "#d0b9a6", "amphibole": "#296254",
    "actinolite": "#45cc6f", "tremolite": "#b5d59c", "hornblende": "#0f362a", "biotite": "#5e3819",
    "phlogopite": "#a34e2b", "glauconite": "#546627",
    # carbonates: cyans
    "calcite": "#00e6ff", "dolomite": "#019d9a", "ankerite": "#478083", "magnesite": "#86ffff",
    "siderite": "#866d4a", "aragonite": "#93d8ff", "rhodochrosite": "#ff859b", "strontianite": "#84ddd0",
    "witherite": "#b9edcb", "malachite": "#00a16a", "carbonate": "#6fffc8",
    # silica, framework and anhydrous silicates
    "opal": "#cbd3d4", "chalcedony": "#707eac", "quartz": "#f5e7cf", "chert": "#a3a6a8", "feldspar": "#ffc7c0",
    "pyroxene": "#304e2a", "garnet": "#9e224c", "olivine": "#9fae00", "tourmaline": "#4b2a7a", "zeolite": "#e040fb",
    # iron oxides
    "goethite": "#d16400", "hematite": "#a31400",
    # not minerals
    "unknown": "#ffffff", "aspectral": "#8a8c8d", "plastic": "#ff0180", "wood": "#b88f78", "cardboard": "#d6a26d",
    "metal": "#a3c0d0", "tray": "#3f454d", "background": "#201f30",
}
"""Vocabulary name -> ``#rrggbb``."""

_UNCLASSIFIED_NAMES = {"", "unclassified", "unclassed", "no_data", "nodata", "masked"}

# A fallback colour must be at least this far (OKLab) from every vocabulary colour and black.
_FALLBACK_MIN_DISTANCE = 0.06


def normalise_name(name) -> str:
    """Lower case, trimmed, runs of spaces and hyphens as one underscore: ``'White Mica'`` -> ``'white_mica'``."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _hex_to_rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def srgb_to_oklab(rgb) -> np.ndarray:
    """OKLab coordinates (..., 3) of sRGB colours (..., 3) given as 0-255 values."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                   [0.2119034982, 0.6806995451, 0.1073969566],
                   [0.0883024619, 0.2817188376, 0.6299787005]])
    m2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                   [1.9779984951, -2.4285922050, 0.4505937099],
                   [0.0259040371, 0.7827717662, -0.8086757660]])
    return np.cbrt(lin @ m1.T) @ m2.T


def _oklab_to_linear_srgb(lab: np.ndarray) -> np.ndarray:
    m2inv = np.array([[1.0, 0.3963377774, 0.2158037573],
                      [1.0, -0.1055613458, -0.0638541728],
                      [1.0, -0.0894841775, -1.2914855480]])
    m1inv = np.array([[4.0767416621, -3.3077115913, 0.2309699292],
                      [-1.2684380046, 2.6097574011, -0.3413193965],
                      [-0.0041960863, -0.7034186147, 1.7076147010]])
    return ((lab @ m2inv.T) ** 3) @ m1inv.T


@functools.lru_cache(maxsize=1)
def fallback_palette() -> np.ndarray:
    """(P, 3) uint8 sRGB colours for names outside the vocabulary.

    An OKLCh grid (lightness 0.40-0.90, chroma 0.07-0.17, hue every 15 degrees) kept where it is inside
    the sRGB gamut and at least 0.06 from every vocabulary colour and from black, thinned so that palette
    colours are at least 0.03 apart. Deterministic.
    """
    pts = []
    for L in np.arange(0.40, 0.91, 0.07):
        for C in (0.07, 0.12, 0.17):
            for hdeg in range(0, 360, 15):
                h = np.deg2rad(hdeg)
                pts.append((L, C * np.cos(h), C * np.sin(h)))
    lab = np.array(pts)
    lin = _oklab_to_linear_srgb(lab)
    inside = np.all((lin >= 0.0) & (lin <= 1.0), axis=1)
    lin = np.clip(lin[inside], 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    rgb = np.round(srgb * 255.0).astype(np.uint8)
    known = srgb_to_oklab(np.array([_hex_to_rgb(h) for h in MINERAL_COLORS.values()] + [UNCLASSIFIED_COLOR]))
    cand = srgb_to_oklab(rgb)
    far = np.sqrt(((cand[:, None, :] - known[None, :, :]) ** 2).sum(-1)).min(axis=1) >= _FALLBACK_MIN_DISTANCE
    keep: list[int] = []
    for i in np.flatnonzero(far):
        if all(np.sqrt(((cand[i] - cand[j]) ** 2).sum()) >= 0.03 for j in keep):
            keep.append(int(i))
    return rgb[keep]


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big")


def mineral_color(name) -> tuple[int, int, int]:
    """sRGB colour (0-255 ints) of one class name: the vocabulary colour, black for unclassified, else the
    hashed fallback colour."""
    key = normalise_name(name)
    if key in _UNCLASSIFIED_NAMES:
        return UNCLASSIFIED_COLOR
    if key in MINERAL_COLORS:
        return _hex_to_rgb(MINERAL_COLORS[key])
    pal = fallback_palette()
    return tuple(int(v) for v in pal[_name_hash(key) % len(pal)])


def class_colors(names: Iterable) -> np.ndarray:
    """(K, 3) uint8 sRGB colours for class names (index -> name), as used by PNG maps and ENVI lookups.

    Vocabulary names get their fixed colour, unclassified names black. A name outside the vocabulary gets
    its hashed fallback colour, unless another name of the same list already uses that colour: then the
    next free palette colour is taken, so the K colours of one map are always distinct (except repeated
    names, which share theirs).
    """
    names = [normalise_name(n) for n in names]
    pal = fallback_palette()
    out = np.zeros((len(names), 3), dtype=np.uint8)
    used = {tuple(_hex_to_rgb(MINERAL_COLORS[n])) for n in names if n in MINERAL_COLORS}
    seen: dict[str, tuple[int, int, int]] = {}
    for i, n in enumerate(names):
        if n in seen:
            col = seen[n]
        elif n in _UNCLASSIFIED_NAMES or n in MINERAL_COLORS:
            col = mineral_color(n)
        else:
            start = _name_hash(n) % len(pal)
            col = tuple(int(v) for v in pal[start])
            for step in range(len(pal)):
                cand = tuple(int(v) for v in pal[(start + step) % len(pal)])
                if cand not in used:
                    col = cand
                    break
            used.add(col)
        seen[n] = col
        out[i] = col
    return out
