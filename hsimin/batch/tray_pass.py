"""The single streaming pass over one tray: read line blocks (the next one on a helper thread), mask them
(background codes, the artefact screen), classify them, measure the feature scalars on the core (on a second
stage thread), keep a thumbnail; plus the thread limits a tray runs under.

:func:`run_pass` fills a :class:`TrayPass` (per-pixel arrays, counts, thumbnail) for
:func:`hsimin.batch.tray.process_tray`, which then registers depth and writes the outputs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np

from ..classical.artefacts import NOT_CORE_CLASSES
from ..core.errors import InputError
from ..core.types import Cube, MineralMap
from .._numba import num_threads
from .classifiers import tray_classifier
from .config import BatchConfig

__all__ = ["ARTEFACT_CODE", "MASK_LEGEND", "THUMB_MAX_SIDE", "TrayPass", "is_point_spectra", "median_from_hist",
           "run_pass", "stage_threads", "thread_limits", "thumb_rgb", "valid_codes"]

THUMB_MAX_SIDE = 600
ARTEFACT_CODE = 5
"""Background code of pixels the artefact screen calls tray (after hsimin.preprocess's 0 core, 1 invalid,
2 saturated, 3 dark, 4 flat)."""
MASK_LEGEND = {"0": "core candidate", "1": "invalid", "2": "saturated", "3": "dark", "4": "flat",
               "5": "tray artefact (plastic, wood, cardboard, metal)"}


@contextlib.contextmanager
def thread_limits(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl), numba and torch (if imported) to ``n`` threads inside the block.

    Results do not depend on where a tray runs as long as ``n`` is the same (the runner passes the same ``n`` to
    local workers and Dask tasks)."""
    import numba
    from threadpoolctl import threadpool_limits

    from .._numba import num_threads
    n = max(1, int(n))
    prev_numba = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    prev_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n), num_threads(n):
            yield
    finally:
        numba.set_num_threads(prev_numba)
        if torch is not None and prev_torch is not None:
            torch.set_num_threads(prev_torch)


class _Assembler:
    """(H, W, ...) arrays filled block by block from per-block results."""

    def __init__(self, H: int, W: int):
        self.H, self.W = H, W
        self.arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # two stage threads fill different arrays of one assembler

    def put(self, name: str, rows: slice, values: np.ndarray, fill=None):
        v = np.asarray(values)
        with self._lock:
            a = self.arrays.get(name)
            if a is None:
                a = np.empty((self.H, self.W) + v.shape[2:], dtype=v.dtype)
                if fill is not None:
                    a.fill(fill)
                self.arrays[name] = a
        a[rows] = v


def _read_blocks(cube: Cube, lines: int, timer: dict) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, data) line blocks of a cube; the next block is read by a helper thread while the caller works on
    this one (reading releases the GIL), so reading overlaps computing."""
    H = cube.shape[0]
    starts = list(range(0, H, lines))

    def read(r0):
        t = time.perf_counter()
        data = np.asarray(cube.data[r0:min(H, r0 + lines)], dtype=np.float32)
        timer["read"] += time.perf_counter() - t
        return slice(r0, min(H, r0 + lines)), data

    with ThreadPoolExecutor(1, thread_name_prefix="hsimin-read") as ex:
        pending = ex.submit(read, starts[0]) if starts else None
        for i in range(len(starts)):
            t = time.perf_counter()
            item = pending.result()
            timer["read_wait"] += time.perf_counter() - t
            pending = ex.submit(read, starts[i + 1]) if i + 1 < len(starts) else None
            yield item


def _stats_kernel():
    from .._numba import jit

    @jit
    def stats(X, r0, r1, n_ok, mean, peak):  # pragma: no cover - compiled
        W, B = X.shape[1], X.shape[2]
        for i in range(r0, r1):
            for j in range(W):
                s = 0.0
                n = 0
                m = -np.inf
                for b in range(B):
                    v = X[i, j, b]
                    if v == v and v != np.inf and v != -np.inf:
                        s += v
                        n += 1
                        if v > m:
                            m = v
                n_ok[i, j] = n
                mean[i, j] = s / n if n > 0 else np.nan
                peak[i, j] = m

    return stats


_STATS = None


def _pixel_stats(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finite band count, mean reflectance over finite bands, largest finite value) of every pixel of an
    (h, W, B) block, in one pass (a compiled kernel on row chunks in parallel)."""
    global _STATS
    from .._numba import parallel_rows
    if _STATS is None:
        _STATS = _stats_kernel()
    X = np.ascontiguousarray(data, dtype=np.float32)
    h, W, _ = X.shape
    n_ok = np.empty((h, W), np.int32)
    mean = np.empty((h, W), np.float64)
    peak = np.empty((h, W), np.float64)
    parallel_rows(h, lambda a, b: _STATS(X, a, b, n_ok, mean, peak), min_rows=max(1, 4096 // max(W, 1)))
    return n_ok, mean, peak


def valid_codes(data: np.ndarray, wl, config: BatchConfig, saturation: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Background codes (:func:`hsimin.preprocess.classify_background`'s tests and order: invalid, saturated,
    dark, then flat when ``min_contrast`` > 0) and the mean reflectance of every pixel, from one pass over the
    block instead of one per test. ``saturation`` overrides ``config.saturation`` (inf: no saturation test)."""
    from ..preprocess.masking import DARK, DEFAULT_THRESHOLDS, FLAT, INVALID, SATURATED, spectral_contrast
    B = data.shape[-1]
    n_ok, mean, peak = _pixel_stats(data)
    codes = np.zeros(n_ok.shape, np.uint8)
    invalid = (n_ok == 0) | (n_ok < (1.0 - DEFAULT_THRESHOLDS["max_invalid_fraction"]) * B)
    saturated = ~invalid & (peak > (config.saturation if saturation is None else saturation))
    dark = ~invalid & ~saturated & (mean < config.min_albedo)
    codes[invalid] = INVALID
    codes[saturated] = SATURATED
    codes[dark] = DARK
    if config.min_contrast > 0:
        todo = codes == 0
        if todo.any():
            contrast = spectral_contrast(data[todo], wl)
            sub = codes[todo]
            sub[~(contrast >= config.min_contrast)] = FLAT
            codes[todo] = sub
    return codes, mean


def _map_arrays(mm: MineralMap) -> dict[str, np.ndarray]:
    out = {"labels": mm.labels}
    if mm.confidence is not None:
        out["confidence"] = mm.confidence
    if mm.scores is not None:
        out["scores"] = mm.scores
    for k, v in mm.extra.items():
        out["extra/" + k] = v
    return out


def _mineral_lut(classes) -> np.ndarray:
    """(K + 1,) bool: True for the classes that are core minerals; the last entry (unclassified) is False."""
    from ..io.colors import normalise_name
    return np.array([normalise_name(c) not in NOT_CORE_CLASSES for c in classes] + [False], dtype=bool)


class TrayPass:
    """State of the pass over one tray: per-pixel outputs, counts, thumbnail."""

    def __init__(self, cube: Cube, config: BatchConfig):
        from ..classical.features import parse_windows
        from ..io.quicklook import choose_rgb_bands
        H, W, _ = cube.shape
        self.cube, self.config = cube, config
        self.windows = parse_windows(config.windows)
        wl = cube.wavelengths
        need = np.zeros(wl.size, bool)
        for w in self.windows:
            need |= (wl >= w.hull_lo_nm) & (wl <= w.hull_hi_nm)
        idx = np.flatnonzero(need)
        self.feature_bands = slice(int(idx[0]), int(idx[-1]) + 1) if idx.size >= 3 else slice(None)
        self.rgb_idx, self.rgb_wl = choose_rgb_bands(cube.wavelengths, None, cube.bad_bands)
        self.step = max(1, math.ceil(max(H, W) / THUMB_MAX_SIDE))
        self.thumb = np.zeros((len(range(0, H, self.step)), len(range(0, W, self.step)), 3), np.float32)
        self.thumb_ok = np.zeros(self.thumb.shape[:2], bool)
        self.asm = _Assembler(H, W)
        self.counts = {"pixels": H * W, "invalid": 0, "saturated": 0, "dark": 0, "flat": 0, "artefact": 0,
                       "valid": 0}
        self.albedo_hist = np.zeros(201, np.int64)  # albedo of valid pixels in 0.5 % bins; last: above 100 %
        self.classes: tuple[str, ...] | None = None
        self.produced_by, self.provenance = "", {}
        self.mineral_lut = None
        # Point spectra (a TSG package) are processed reflectance, not detector counts: bright samples above 1
        # (gypsum, white chips) are real, not saturated.
        self.saturation = math.inf if is_point_spectra(cube) else None

    def mask(self, rows: slice, data: np.ndarray, screen=None) -> np.ndarray:
        """Background codes and counts of a block; returns its valid pixels (h, W) and keeps the thumbnail.
        ``screen``: an :class:`~hsimin.classical.artefacts.ArtefactScreen`; the pixels it calls tray get code :data:`ARTEFACT_CODE`."""
        from ..preprocess.masking import BACKGROUND_CODES, CORE, DARK, INVALID, SATURATED
        codes, albedo = valid_codes(data, self.cube.wavelengths, self.config, self.saturation)
        valid = codes == CORE
        if self.cube.mask is not None:
            valid &= self.cube.mask[rows]
        if screen is not None and valid.any():
            art = np.zeros_like(valid)
            art[valid] = screen.screen(data[:, :, screen.bands][valid])  # gather only the bands it uses
            codes[art] = ARTEFACT_CODE
            valid &= ~art
            self.counts["artefact"] += int(np.count_nonzero(art))
        self.asm.put("codes", rows, codes)
        c = self.counts
        c["invalid"] += int(np.count_nonzero(codes == INVALID))
        c["saturated"] += int(np.count_nonzero(codes == SATURATED))
        c["dark"] += int(np.count_nonzero(codes == DARK))
        c["flat"] += int(np.count_nonzero(codes == BACKGROUND_CODES["flat"]))
        c["valid"] += int(np.count_nonzero(valid))
        if valid.any():
            alb = albedo[valid]
            self.albedo_hist += np.bincount(np.clip((alb * 200).astype(np.int64), 0, 200), minlength=201)
        step = self.step
        first = -(-rows.start // step) * step
        if first < rows.stop:
            local = slice(first - rows.start, rows.stop - rows.start, step)
            o0 = first // step
            pix = data[local, ::step][..., self.rgb_idx]
            self.thumb[o0:o0 + pix.shape[0]] = pix
            self.thumb_ok[o0:o0 + pix.shape[0]] = valid[local, ::step] & np.isfinite(pix).all(axis=-1)
        return valid

    def take_map(self, rows: slice, mm: MineralMap) -> None:
        if self.classes is None:
            self.classes = tuple(mm.classes)
            self.produced_by, self.provenance = mm.produced_by, dict(mm.provenance)
            self.mineral_lut = _mineral_lut(self.classes)
        elif tuple(mm.classes) != self.classes:
            raise InputError("the classifier answered different classes for different blocks of one tray")
        for name, arr in _map_arrays(mm).items():
            self.asm.put(name, rows, arr)

    def features(self, rows: slice, data: np.ndarray, valid: np.ndarray) -> None:
        """Core of a block (valid and a mineral) and its feature scalars."""
        from ..classical.streaming import map_features
        lab = self.asm.arrays["labels"][rows]
        core = valid & self.mineral_lut[np.where(lab >= 0, lab, len(self.classes))]
        self.asm.put("core", rows, core)
        c = self.cube
        b = self.feature_bands  # only the bands some window's hull range needs: same scalars, less work
        feats = map_features(Cube(data[..., b], c.wavelengths[b], fwhm=None if c.fwhm is None else c.fwhm[b],
                                  bad_bands=None if c.bad_bands is None else c.bad_bands[b], mask=core),
                             self.windows, min_depth=self.config.min_depth)
        for name, arr in feats.items():
            self.asm.put("features/" + name, rows, arr)


def is_point_spectra(cube: Cube) -> bool:
    """True for a cube of point spectra (one pixel per spectrum, W = 1) whose table gives every spectrum's depth
    (a TSG package): no image to register, the depths are the spectra's own."""
    t = cube.table
    return (t is not None and cube.shape[1] == 1 and "depth_m" in t and t.is_numeric("depth_m")
            and bool(np.isfinite(t["depth_m"]).any()))


def stage_threads(threads: int) -> tuple[bool, int]:
    """(pipelined, threads per operation) for a tray given ``threads`` cores.

    With two or more cores the pass runs as a two-stage pipeline, mask and classification of block k on one
    thread while the feature scalars of block k - 1 are measured on another, each operation (matrix products,
    the model, compiled kernels) on ``threads // 2`` threads. Two single-threaded stages side by side use two
    cores far better than one stage at a time on two threads: on a 2-core machine shared with other work, the
    model's forward passes ran 2-3x slower on two threads than on one (threads waiting for each other). hsimin's
    own chunked stages of the main thread (the artefact screen, the library gate, a model's recipe:
    :func:`hsimin._numba.parallel_chunks`) still use every core: they hand chunks out one at a time, so the feature
    stage beside them slows them down only while it runs."""
    n = max(1, int(threads))
    return (n >= 2, max(1, n // 2))


def run_pass(cube: Cube, config: BatchConfig, timer: dict) -> TrayPass:
    """Read the cube once (twice more for patch and dense models) and fill a :class:`TrayPass`."""
    H, W, B = cube.shape
    wl = cube.wavelengths
    t = time.perf_counter()
    clf = tray_classifier(config, cube)
    timer["setup"] += time.perf_counter() - t
    pipelined, intra = stage_threads(config.threads)
    # hsimin's own chunked stages (the artefact screen, the library gate, a model's recipe) on every core: they hand
    # chunks out one at a time, so they share the cores with the feature stage beside them without waiting on it;
    # the model's forward passes and the BLAS stay on ``intra`` threads (see stage_threads)
    main_threads = max(1, int(config.threads or 1))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(intra)
    lines = max(1, min(H, int(config.block_mb) * 2**20 // max(1, W * B * 4)))
    st = TrayPass(cube, config)

    def features(rows, data, valid):
        import numba

        from .._numba import num_threads
        t = time.perf_counter()
        numba.set_num_threads(min(intra, numba.config.NUMBA_NUM_THREADS))  # both are per thread
        with num_threads(intra):
            st.features(rows, data, valid)
        timer["features"] += time.perf_counter() - t

    def classify(c: Cube) -> MineralMap:
        t = time.perf_counter()
        mm = clf.classify(c)
        timer["classify"] += time.perf_counter() - t
        return mm

    valid_all = None if clf.fused else np.zeros((H, W), bool)
    with ThreadPoolExecutor(1, thread_name_prefix="hsimin-features") as stage:
        pending = None

        def hand_over(rows, data, valid):
            """Features of this block: on the stage thread (after the previous block's) or right here."""
            nonlocal pending
            if not pipelined:
                features(rows, data, valid)
                return
            t = time.perf_counter()
            if pending is not None:
                pending.result()
            timer["features_wait"] += time.perf_counter() - t
            pending = stage.submit(features, rows, data, valid)

        for rows, data in _read_blocks(cube, lines, timer):
            t = time.perf_counter()
            with num_threads(main_threads):
                valid = st.mask(rows, data, clf.screen)
            timer["mask"] += time.perf_counter() - t
            if not clf.fused:
                valid_all[rows] = valid
                continue
            with num_threads(main_threads):
                mm = classify(Cube(data, wl, fwhm=cube.fwhm, bad_bands=cube.bad_bands, mask=valid, meta=cube.meta))
            st.take_map(rows, mm)
            hand_over(rows, data, valid)
        if not clf.fused:
            st.take_map(slice(0, H), classify(dataclasses.replace(cube, mask=valid_all)))
            for rows, data in _read_blocks(cube, lines, timer):
                hand_over(rows, data, valid_all[rows])
        if pending is not None:
            t = time.perf_counter()
            pending.result()
            timer["features_wait"] += time.perf_counter() - t
    return st


def thumb_rgb(thumb: np.ndarray, ok: np.ndarray, rgb_wl) -> np.ndarray:
    from ..io.quicklook import quicklook_rgb
    wl = np.asarray(rgb_wl, np.float64)
    uniq, first = np.unique(wl, return_index=True)  # a cube wants increasing, distinct wavelengths
    small = Cube(np.ascontiguousarray(thumb[..., first]), uniq, mask=ok)
    return quicklook_rgb(small, rgb_nm=wl, max_pixels=thumb.shape[0] * thumb.shape[1] + 1)


def median_from_hist(hist: np.ndarray) -> float | None:
    n = int(hist.sum())
    if n == 0:
        return None
    i = int(np.searchsorted(np.cumsum(hist), (n + 1) // 2))
    return (i + 0.5) / 200.0
