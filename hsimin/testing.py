"""Seeded generators of synthetic spectra and trays with planted absorption features and known labels
(numpy only; ARCHITECTURE §10).

Tests and benchmarks use these instead of hand-made arrays, so every test says what it planted and can assert
that a method finds it. Nothing here is random without a seed: the same arguments give the same arrays, on
every platform numpy's ``default_rng`` (PCG64) runs on.

The spectral model (shared by :func:`make_spectra` and :func:`make_tray`)
------------------------------------------------------------------------
For a spectrum of a class whose features are ``[(centre_nm, depth, width_nm), ...]``::

    R(λ) = b · (1 + s · t(λ)) · Π_k [1 − d_k · u · exp(−4 ln 2 · (λ − c_k − δ − ε)² / w_k²)] + noise

* ``t(λ)`` runs linearly from −1 at the first band to +1 at the last; ``s ~ U(−slope, +slope)`` is a
  continuum slope, ``b ~ U(*brightness)`` the albedo (reflectance 0–1).
* each absorption is a Gaussian of full width at half maximum ``w_k`` nm and fractional depth ``d_k``
  (0–1, relative to the continuum), scaled per spectrum by ``u ~ U(1 − depth_jitter, 1 + depth_jitter)``.
* ``δ`` is a per-*group* centre offset ``~ U(−group_shift_nm, +group_shift_nm)`` (spectra of one group share it,
  like the spectra of one physical sample) and ``ε ~ N(0, centre_jitter_nm)`` a per-spectrum jitter.
* noise is Gaussian with standard deviation ``mean(R_clean) / snr`` per spectrum (none when ``snr`` is None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .core.errors import InputError
from .core.types import Cube, ScanMeta
from .core.units import check_wavelengths
from .io.lazy import LazyCubeArray

__all__ = ["DEFAULT_CLASSES", "TRAY_BACKGROUND_FEATURES", "SyntheticSpectra", "SyntheticTray", "SeededLazyCube",
           "make_spectra", "make_tray", "swir_wavelengths"]

Feature = tuple[float, float, float]

DEFAULT_CLASSES: dict[str, list[Feature]] = {
    # name: [(centre_nm, depth 0-1, FWHM nm), ...] -- shapes loosely after the minerals' real SWIR features
    "kaolinite": [(1400.0, 0.10, 40.0), (2165.0, 0.12, 25.0), (2207.0, 0.20, 30.0)],
    "white_mica": [(1410.0, 0.08, 40.0), (2200.0, 0.25, 35.0), (2350.0, 0.08, 40.0)],
    "smectite": [(1410.0, 0.15, 50.0), (1910.0, 0.25, 60.0), (2205.0, 0.15, 40.0)],
    "chlorite": [(2250.0, 0.15, 40.0), (2335.0, 0.22, 50.0)],
    "calcite": [(2160.0, 0.05, 40.0), (2340.0, 0.30, 60.0)],
}
"""Five classes with distinct planted absorptions (centre nm, depth, FWHM nm) in 1000-2500 nm."""

TRAY_BACKGROUND_FEATURES: list[Feature] = [(1730.0, 0.10, 40.0), (2310.0, 0.12, 50.0)]
"""The tray floor and dividers: dark plastic (brightness 0.04-0.06) with C-H bands at 1730 and 2310 nm."""


def swir_wavelengths(n_bands: int = 64, low: float = 1000.0, high: float = 2500.0) -> np.ndarray:
    """``n_bands`` evenly spaced band centres (nm) from ``low`` to ``high``: a convenient test grid."""
    if n_bands < 2 or not low < high:
        raise InputError(f"need n_bands >= 2 and low < high, got {n_bands}, {low}, {high}")
    return np.linspace(float(low), float(high), int(n_bands))


@dataclass(frozen=True, eq=False)
class SyntheticSpectra:
    """Spectra made by :func:`make_spectra`.

    spectra : (N, B) float32 reflectance; class-major order (all of class 0, then class 1, ...)
    labels : (N,) int64 class index into ``class_names``
    class_names : K names
    groups : (N,) str array, ``"<class>-<g>"``: spectra of one group share a centre offset (a 'physical sample')
    wavelengths : (B,) float64 nm
    """

    spectra: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    groups: np.ndarray
    wavelengths: np.ndarray


@dataclass(frozen=True, eq=False)
class SyntheticTray:
    """A tray made by :func:`make_tray`.

    cube : :class:`~hsimin.core.Cube` (H, W, B) float32 reflectance; ``mask`` is True on core pixels
    labels : (H, W) int16 truth: class index into ``class_names`` on core, -1 on tray floor, dividers and gaps
    class_names : K names
    """

    cube: Cube
    labels: np.ndarray
    class_names: tuple[str, ...]


def _check_classes(classes: Mapping[str, Sequence[Feature]] | None) -> dict[str, list[Feature]]:
    classes = DEFAULT_CLASSES if classes is None else classes
    if not isinstance(classes, Mapping) or not classes:
        raise InputError("classes must be a non-empty {name: [(centre_nm, depth, width_nm), ...]} dict")
    out = {}
    for name, feats in classes.items():
        fl = []
        for f in feats:
            if len(f) != 3:
                raise InputError(f"class {name!r}: a feature is (centre_nm, depth, width_nm), got {f!r}")
            c, d, w = (float(v) for v in f)
            if not 0.0 <= d < 1.0 or w <= 0:
                raise InputError(f"class {name!r}: depth must be in [0, 1) and width_nm > 0, got {f!r}")
            fl.append((c, d, w))
        out[str(name)] = fl
    return out


def _planted(rng: np.random.Generator, wl: np.ndarray, features: Sequence[Feature], n: int, *, offset: float,
             brightness: tuple[float, float], slope: float, depth_jitter: float, centre_jitter_nm: float,
             snr: float | None) -> np.ndarray:
    """(n, B) float64 spectra of one class/group following the module's spectral model."""
    t = np.linspace(-1.0, 1.0, wl.size)
    b = rng.uniform(brightness[0], brightness[1], size=(n, 1))
    s = rng.uniform(-slope, slope, size=(n, 1))
    R = b * (1.0 + s * t[None, :])
    eps = rng.normal(0.0, centre_jitter_nm, size=(n, 1)) if centre_jitter_nm > 0 else np.zeros((n, 1))
    for c, d, w in features:
        u = rng.uniform(1.0 - depth_jitter, 1.0 + depth_jitter, size=(n, 1))
        g = np.exp(-4.0 * np.log(2.0) * (wl[None, :] - c - offset - eps) ** 2 / w ** 2)
        R = R * (1.0 - np.clip(d * u, 0.0, 0.95) * g)
    if snr is not None:
        sigma = R.mean(axis=1, keepdims=True) / float(snr)
        R = R + rng.normal(size=R.shape) * sigma
    return R


def make_spectra(n_per_class: int, wavelengths, classes: Mapping[str, Sequence[Feature]] | None = None,
                 snr: float | None = 200.0, seed: int = 0, *, n_groups: int = 4, group_shift_nm: float = 3.0,
                 centre_jitter_nm: float = 1.0, depth_jitter: float = 0.2,
                 brightness: tuple[float, float] = (0.3, 0.7), slope: float = 0.15) -> SyntheticSpectra:
    """Labelled spectra with planted Gaussian absorptions at class-specific positions.

    Parameters
    ----------
    n_per_class : spectra per class
    wavelengths : (B,) nm, strictly increasing
    classes : ``{name: [(centre_nm, depth, width_nm), ...]}`` (width = FWHM, depth = fraction of the
        continuum, 0-1); default :data:`DEFAULT_CLASSES` (five SWIR minerals)
    snr : signal-to-noise ratio (mean reflectance / noise sd) of each spectrum; None: no noise
    seed : seed of ``numpy.random.default_rng``
    n_groups : groups per class ('physical samples'); spectrum ``j`` of a class is in group ``j % n_groups``
    group_shift_nm : each group's features are shifted by one offset drawn from ``U(-group_shift_nm, +)``
    centre_jitter_nm, depth_jitter, brightness, slope : per-spectrum variation (see the module docstring)

    Returns a :class:`SyntheticSpectra`; exactly what is planted is the module docstring's model.
    """
    wl = check_wavelengths(wavelengths)
    classes = _check_classes(classes)
    n = int(n_per_class)
    if n < 1 or int(n_groups) < 1:
        raise InputError(f"n_per_class and n_groups must be >= 1, got {n_per_class}, {n_groups}")
    rng = np.random.default_rng(seed)
    spectra, labels, groups = [], [], []
    for k, (name, feats) in enumerate(classes.items()):
        gid = np.arange(n) % int(n_groups)
        block = np.empty((n, wl.size))
        for g in range(int(n_groups)):
            rows = np.flatnonzero(gid == g)
            offset = rng.uniform(-group_shift_nm, group_shift_nm)
            if rows.size:
                block[rows] = _planted(rng, wl, feats, rows.size, offset=offset, brightness=brightness,
                                       slope=slope, depth_jitter=depth_jitter, centre_jitter_nm=centre_jitter_nm,
                                       snr=snr)
        spectra.append(block)
        labels.append(np.full(n, k, dtype=np.int64))
        groups.append(np.array([f"{name}-{g}" for g in gid], dtype=object))
    return SyntheticSpectra(np.concatenate(spectra).astype(np.float32), np.concatenate(labels),
                            tuple(classes), np.concatenate(groups).astype(str), wl)


def make_tray(shape: tuple[int, int] = (96, 32), wavelengths=None, seed: int = 0, *,
              classes: Mapping[str, Sequence[Feature]] | None = None, n_sticks: int = 2,
              segment_lines: tuple[int, int] = (8, 24), gap_probability: float = 0.1, snr: float | None = 150.0,
              tray_id: str | None = None) -> SyntheticTray:
    """A synthetic core tray with planted core sticks, mineral intervals and tray background.

    Layout of the (H, W) = ``shape`` image (lines run down the tray, as in a line scanner's tray scan):

    * a 1-pixel tray border on every side, and 1-pixel dividers between ``n_sticks`` core sticks of equal
      width (leftover columns go to the border on the right) -- all tray background;
    * each stick runs from line 1 to line H-2 and is cut along its length into intervals of
      ``U{segment_lines}`` lines; each interval is one class (drawn uniformly, never the class of the interval
      above), or, with probability ``gap_probability``, a gap (broken core: tray floor shows);
    * core pixels are :func:`make_spectra`-model spectra of their class (one group offset per interval, like
      one rock piece), with per-pixel brightness, slope, depth and centre jitter and noise at ``snr``;
    * background pixels are dark plastic (:data:`TRAY_BACKGROUND_FEATURES`).

    Returns a :class:`SyntheticTray`: ``labels`` (H, W) int16 are the planted classes (-1 on background and
    gaps) and ``cube.mask`` is ``labels >= 0``. ``wavelengths`` default: :func:`swir_wavelengths` (64 bands).
    """
    H, W = (int(v) for v in shape)
    wl = swir_wavelengths() if wavelengths is None else check_wavelengths(wavelengths)
    classes = _check_classes(classes)
    n_sticks = int(n_sticks)
    stick_w = (W - 2 - (n_sticks - 1)) // max(n_sticks, 1)
    if n_sticks < 1 or stick_w < 1 or H < 3:
        raise InputError(f"a {H} x {W} tray cannot hold {n_sticks} sticks with a 1-pixel border and dividers")
    lo, hi = (int(v) for v in segment_lines)
    if not 1 <= lo <= hi:
        raise InputError(f"segment_lines must be (low, high) with 1 <= low <= high, got {segment_lines}")
    rng = np.random.default_rng(seed)
    K = len(classes)
    feats = list(classes.values())
    labels = np.full((H, W), -1, dtype=np.int16)
    data = np.empty((H, W, wl.size), dtype=np.float64)
    background = _planted(rng, wl, TRAY_BACKGROUND_FEATURES, H * W, offset=0.0, brightness=(0.04, 0.06),
                          slope=0.05, depth_jitter=0.1, centre_jitter_nm=0.0, snr=snr)
    data[:] = background.reshape(H, W, wl.size)
    for s in range(n_sticks):
        c0 = 1 + s * (stick_w + 1)
        cols = slice(c0, c0 + stick_w)
        line, prev = 1, -1
        while line < H - 1:
            length = min(int(rng.integers(lo, hi + 1)), H - 1 - line)
            if rng.random() < gap_probability:
                prev = -1
            else:
                choices = [k for k in range(K) if k != prev] or [prev]
                k = int(rng.choice(choices))
                n = length * stick_w
                block = _planted(rng, wl, feats[k], n, offset=rng.uniform(-3.0, 3.0), brightness=(0.3, 0.7),
                                 slope=0.15, depth_jitter=0.2, centre_jitter_nm=1.0, snr=snr)
                data[line:line + length, cols] = block.reshape(length, stick_w, wl.size)
                labels[line:line + length, cols] = k
                prev = k
            line += length
    meta = ScanMeta(tray_id=tray_id or f"synthetic-{seed}", sensor="synthetic", source="hsimin.testing.make_tray")
    cube = Cube(data.astype(np.float32), wl, fwhm=None, mask=labels >= 0, meta=meta)
    return SyntheticTray(cube, labels, tuple(classes))


class SeededLazyCube(LazyCubeArray):
    """A lazy (H, W, B) cube of uniform random values, generated line by line from ``(seed, line)`` and never
    stored, so a test can stream a cube far larger than it could hold and check what was read:
    :attr:`max_lines` is the largest number of lines asked for in one read (a writer that streams in blocks
    keeps it at its block size). Line ``r`` is always the same values, whatever the reads around it."""

    def __init__(self, shape: tuple[int, int, int], seed: int = 0):
        super().__init__(shape)
        self.seed = int(seed)
        self.max_lines = 0

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        self.max_lines = max(self.max_lines, r1 - r0)
        _, W, B = self.shape
        out = np.empty((r1 - r0, W, B), np.float32)
        for i, r in enumerate(range(r0, r1)):
            out[i] = np.random.default_rng([self.seed, r]).random((W, B), dtype=np.float32)
        return out
