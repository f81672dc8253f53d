"""Whole-cube inference: a checkpoint + a cube -> a :class:`~hsimin.core.MineralMap`, in bounded memory.

What happens, block of lines by block of lines (:func:`hsimin.core.blocks.iter_blocks`; nothing is ever
loaded or preprocessed whole):

1. **Bands.** The checkpoint's recipe is replayed on the cube's bands; when that gives exactly the bands the
   model was trained on, the cube is used as it is. Otherwise the cube is resampled to the model's band grid
   (Gaussian band responses of the model's FWHM when the checkpoint records one, the effective width
   ``sqrt(model² - cube²)`` when the cube's FWHM is known, linear interpolation when no width is known) and the
   recipe replayed there. A cube that does not cover the model's range is refused (:class:`ModelError`) —
   never silently misaligned.
2. **Recipe.** :meth:`hsimin.preprocess.Recipe.transform` on the block (pixel models: on the valid pixels only).
3. **Model.** The kind of model decides how pixels reach it, from the model's own declarations (``dense``
   and the checkpoint's ``patch_size``), never from architecture names:

   * *pixel models* (``patch_size`` 1): the valid pixels stream through the model as ``(n, B, 1, 1)`` batches
     under ``torch.inference_mode`` — the hot path, no Python loop per pixel;
   * *patch classifiers* (pooled, ``patch_size`` k > 1): k x k windows centred on each valid pixel, the line
     blocks carrying a halo of k // 2 lines, the cube's borders padded as in training;
   * *dense models* (U-Net): tiles of ``tile`` x ``tile`` pixels, each fed by a window widened by the
     model's measured receptive radius (rounded to its translation period; see :mod:`hsimin.predict.tiling`),
     so the stitched map equals a one-tile pass: no seams.

4. **Map.** ``labels`` = the most probable class (-1 for masked pixels, pixels with non-finite values, pixels
   the model gives non-finite probabilities (counted in ``provenance['pixels_nonfinite']``; warned about by the
   CLI) and pixels whose probability is below ``threshold``: 'unknown'), ``scores`` = class probabilities (H, W, K)
   (NaN where not classified), ``confidence`` = the top probability (0 where not classified),
   ``produced_by`` = the model's weight hash, ``provenance`` = model file, recipe, band handling, versions.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable

import numpy as np
import torch

from .. import __version__ as HSIMIN_VERSION
from ..core.blocks import block_lines, check_output_memory, iter_blocks
from ..core.errors import ConfigError, InputError, ModelError
from ..core.types import UNCLASSIFIED, Cube, MineralMap
from ..models.checkpoint import LoadedModel, load_model
from ..models.device import resolve_device
from ..models.layout import extract_patches, to_torch
from ..preprocess import Recipe, resample
from .tiling import iter_halo_blocks, plan_tiles, receptive_radius, round_up, translation_period

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_TILE", "InputPlan", "ProgressFn", "input_plan", "predict_cube",
           "predict_spectra", "resolve_device"]

ProgressFn = Callable[[int, int], Any]
"""``progress(lines_done, lines_total)``, called after every block."""

DEFAULT_BATCH_SIZE = 16384
"""Pixels per forward pass of a pixel model (large batches keep the matrix products efficient on CPU)."""

PATCH_BATCH_BYTES = 64 * 2**20
"""Patch models: a batch holds at most this many bytes of k x k x B patches (so 9 x 9 x 270 -> ~750 patches)."""

DEFAULT_TILE = 128
"""Side of the output tiles of dense models (pixels)."""

DEFAULT_BLOCK_BYTES = 32 * 2**20
"""Memory budget of one line block of reflectance (float32) read from the cube."""

_WL_ATOL_NM = 0.05
"""Band centres closer than this (nm) count as the same band (headers round wavelengths to 3-4 decimals)."""


# --------------------------------------------------------------------------- devices and bands

def _same_bands(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= _WL_ATOL_NM))


def _model_fwhm(lm: LoadedModel) -> np.ndarray | None:
    """The FWHM (nm) of the model's input bands when the checkpoint records it: ``extra['fwhm']`` (per band or
    one number), or the even grid of the training config (``train_config.data.grid.fwhm``)."""
    n = lm.wavelengths.size
    candidates = [lm.extra.get("fwhm"), lm.extra.get("input_fwhm")]
    grid = ((lm.extra.get("train_config") or {}).get("data") or {}).get("grid") or {}
    if isinstance(grid, dict) and grid.get("start") is not None:
        candidates.append(grid.get("fwhm"))
    for c in candidates:
        if c is None:
            continue
        try:
            f = np.broadcast_to(np.asarray(c.tolist() if hasattr(c, "tolist") else c, dtype=np.float64), (n,))
        except (TypeError, ValueError):
            continue
        if np.all(np.isfinite(f)) and np.all(f > 0):
            return f.copy()
    return None


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """How the cube's bands become the model's input bands.

    ``source_bands``: indices of the cube bands used (bad bands left out when resampling) or None (all);
    ``grid``/``grid_fwhm``: the band grid the cube is resampled to before the recipe, or None (no resampling);
    ``recipe``: the checkpoint's recipe; ``in_bands``: (wavelengths, fwhm, bad_bands) the recipe starts from.
    """

    recipe: Recipe
    in_bands: tuple
    source_bands: np.ndarray | None = None
    grid: np.ndarray | None = None
    grid_fwhm: np.ndarray | None = None
    source_wavelengths: np.ndarray | None = None
    source_fwhm: np.ndarray | None = None

    @property
    def resampled(self) -> bool:
        return self.grid is not None

    def apply(self, spectra: np.ndarray) -> np.ndarray:
        """Model input features (..., B_model) float32 from cube reflectance (..., B_cube)."""
        X = spectra
        if self.grid is not None:
            if self.source_bands is not None:
                X = X[..., self.source_bands]
            X = resample(np.asarray(X, dtype=np.float32), self.source_wavelengths, self.grid, self.grid_fwhm,
                         source_fwhm=self.source_fwhm if self.grid_fwhm is not None else None)
        if len(self.recipe):
            X, _ = self.recipe.transform(X, *self.in_bands)
        return np.asarray(X, dtype=np.float32)

    def describe(self) -> dict:
        if self.grid is None:
            return {"resampled": False, "note": "the cube's bands are the model's bands (after the recipe)"}
        return {"resampled": True, "to_bands": int(self.grid.size),
                "to_range_nm": [float(self.grid[0]), float(self.grid[-1])],
                "from_bands": int(self.source_wavelengths.size),
                "from_range_nm": [float(self.source_wavelengths[0]), float(self.source_wavelengths[-1])],
                "method": ("gaussian" if self.grid_fwhm is not None else "linear interpolation (model FWHM unknown)"),
                "effective_width": bool(self.grid_fwhm is not None and self.source_fwhm is not None)}


def input_plan(cube: Cube, loaded: LoadedModel) -> InputPlan:
    """Decide how ``cube``'s bands reach ``loaded``'s input (see the module docstring, step 1).

    Raises :class:`ModelError` when the cube does not cover the model's bands or the recipe cannot be replayed.
    """
    recipe = _recipe_of(loaded)
    model_wl = np.asarray(loaded.wavelengths, dtype=np.float64)
    where = cube.meta.source if cube.meta is not None else None
    try:
        out = recipe.output_bands(cube.wavelengths, cube.fwhm, cube.bad_bands).wavelengths
    except (ConfigError, InputError):
        out = None
    if out is not None and _same_bands(out, model_wl):
        return InputPlan(recipe, (cube.wavelengths, cube.fwhm, cube.bad_bands))
    # Resample the cube onto the model's grid, then replay the recipe there. The recipe's band steps (windows,
    # removed bands) keep every band of the grid the model was trained on, so the result must be that grid.
    grid_fwhm = _model_fwhm(loaded)
    try:
        again = recipe.output_bands(model_wl, grid_fwhm, None).wavelengths
    except (ConfigError, InputError) as exc:
        again, why = None, getattr(exc, "message", str(exc))
    else:
        why = ""
    if again is None or not _same_bands(again, model_wl):
        raise ModelError(f"the cube's {cube.wavelengths.size} bands differ from the model's and the checkpoint's "
                         f"recipe cannot be replayed on the model's band grid{': ' + why if why else ''}; resample "
                         "the cube to the model's wavelengths first", path=where)
    good = np.arange(cube.wavelengths.size) if cube.bad_bands is None else np.flatnonzero(~cube.bad_bands)
    src_wl = cube.wavelengths[good]
    src_fwhm = None if cube.fwhm is None else cube.fwhm[good]
    spacing = np.gradient(model_wl) if model_wl.size > 1 else np.array([1.0])
    half = 0.5 * (grid_fwhm if grid_fwhm is not None else spacing)
    lacking = (src_wl.size < 2 or src_wl[0] > model_wl[0] + half[0] + _WL_ATOL_NM
               or src_wl[-1] < model_wl[-1] - half[-1] - _WL_ATOL_NM)
    if not lacking:
        probe = resample(np.ones((1, src_wl.size)), src_wl, model_wl, grid_fwhm,
                         source_fwhm=src_fwhm if grid_fwhm is not None else None)
        lacking = not np.isfinite(probe).all()
    if lacking:
        have = f"{src_wl[0]:g}-{src_wl[-1]:g} nm" if src_wl.size else "no good bands"
        raise ModelError(f"the cube's bands cover {have} but the model needs {model_wl[0]:g}-{model_wl[-1]:g} nm "
                         f"({model_wl.size} bands); it cannot classify this cube without inventing data", path=where)
    return InputPlan(recipe, (model_wl, grid_fwhm, None), None if cube.bad_bands is None else good, model_wl,
                     grid_fwhm, src_wl, src_fwhm)


def _recipe_of(loaded: LoadedModel) -> Recipe:
    if not loaded.recipe:
        return Recipe(())
    try:
        return Recipe.from_dict(loaded.recipe)
    except (ConfigError, InputError) as exc:
        raise ModelError(f"the checkpoint's preprocessing recipe is unusable: {exc.message}",
                         path=loaded.path or None) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:   # a recipe of the wrong shape
        raise ModelError(f"the checkpoint's preprocessing recipe is unusable ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]})", path=loaded.path or None) from None


# --------------------------------------------------------------------------- model kinds

def _kind(loaded: LoadedModel) -> tuple[str, int]:
    """('dense', 0), ('patch', k) or ('pixel', 1), from the model's own declarations."""
    if bool(getattr(loaded.model, "dense", False)):
        return "dense", 0
    k = loaded.patch_size
    if k is not None and int(k) > 1:
        return "patch", int(k)
    return "pixel", 1


def _pad_mode(loaded: LoadedModel) -> str:
    data = ((loaded.extra.get("train_config") or {}).get("data") or {})
    mode = data.get("pad_mode") if isinstance(data, dict) else None
    return mode if mode in ("reflect", "edge", "symmetric", "constant") else "reflect"


class _Outputs:
    """The (H, W) outputs being filled, flat. ``nonfinite`` counts pixels whose class probabilities were not
    finite (an overflowing or damaged model): they stay unclassified, never argmax's class 0."""

    def __init__(self, H: int, W: int, K: int):
        self.H, self.W, self.K = H, W, K
        self.labels = np.full(H * W, UNCLASSIFIED, dtype=np.int16)
        self.confidence = np.zeros(H * W, dtype=np.float32)
        self.scores = np.full((H * W, K), np.nan, dtype=np.float32)
        self.nonfinite = 0

    def put(self, flat_index: np.ndarray, probs: torch.Tensor) -> None:
        finite = torch.isfinite(probs).all(dim=1)
        if not bool(finite.all()):
            keep = finite.cpu().numpy()
            self.nonfinite += int((~keep).sum())
            flat_index, probs = np.asarray(flat_index)[keep], probs[finite]
        conf, idx = probs.max(dim=1)
        self.scores[flat_index] = probs.cpu().numpy()
        self.confidence[flat_index] = conf.cpu().numpy()
        self.labels[flat_index] = idx.cpu().numpy().astype(np.int16)


def _probabilities(model, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    logits = model(x.to(device, non_blocking=True))
    return torch.softmax(logits.float(), dim=1)


# --------------------------------------------------------------------------- public API

def predict_spectra(spectra, loaded: LoadedModel | str | os.PathLike, *, wavelengths=None, fwhm=None,
                    batch_size: int = DEFAULT_BATCH_SIZE, device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, K) float32 of a pixel model for spectra (N, B) of reflectance.

    ``wavelengths``/``fwhm`` (B,) nm: the spectra's bands (default: the model's input bands, i.e. the spectra
    are already on the model's grid before its recipe). Runs the checkpoint's recipe, then the model in
    batches. Spectra with non-finite values give NaN rows.
    """
    lm = loaded if isinstance(loaded, LoadedModel) else load_model(loaded)
    kind, _ = _kind(lm)
    if kind != "pixel":
        raise ModelError(f"predict_spectra needs a pixel model (patch_size 1); this one is a {kind} model: use "
                         "predict_cube", path=lm.path or None)
    X = np.asarray(spectra, dtype=np.float32)
    if X.ndim != 2:
        raise InputError(f"spectra must be (N, B), got shape {X.shape}")
    wl = lm.wavelengths if wavelengths is None else wavelengths
    dummy = Cube(np.zeros((1, 1, X.shape[1]), np.float32), wl, fwhm)
    plan = input_plan(dummy, lm)
    F = plan.apply(X)
    ok = np.isfinite(F.sum(axis=1))
    out = np.full((X.shape[0], len(lm.class_names)), np.nan, dtype=np.float32)
    dev = resolve_device(device)
    model = lm.model.to(dev).eval()
    rows = np.flatnonzero(ok)
    with torch.inference_mode():
        Xt = to_torch(np.ascontiguousarray(F[rows]))
        for i in range(0, rows.size, int(batch_size)):
            out[rows[i:i + int(batch_size)]] = _probabilities(model, Xt[i:i + int(batch_size)], dev).cpu().numpy()
    return out


def predict_cube(cube: Cube, loaded: LoadedModel | str | os.PathLike, *, tile: int = DEFAULT_TILE,
                 overlap: int | None = None, batch_size: int | None = None, device: str = "cpu",
                 threshold: float | None = None, progress: ProgressFn | None = None, lines: int | None = None,
                 max_bytes: int | None = None) -> MineralMap:
    """Classify every pixel of ``cube`` with a model checkpoint; see the module docstring.

    Parameters
    ----------
    cube : the cube (data may be a memmap or lazy reader: it is streamed in line blocks)
    loaded : a :class:`hsimin.models.LoadedModel` or the path of a checkpoint (loaded with
        :func:`hsimin.models.load_model`, ``weights_only=True``)
    tile : dense models: output tile side in pixels (rounded up to the model's translation period)
    overlap : dense models: halo around each tile (default: the measured receptive radius); patch models:
        context lines above/below each block (default: half the patch). Ignored by pixel models.
    batch_size : pixels (or patches) per forward pass; default 16384 for pixel models, a 64 MiB budget of
        patches for patch models
    device : ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present); the model is moved there
    threshold : pixels whose top class probability is below this are labelled -1 ('unknown'); None: none
    progress : ``progress(lines_done, lines_total)`` after every block
    lines, max_bytes : lines per block, or a memory budget per block (default 32 MiB of float32 reflectance)

    Returns a :class:`MineralMap` with ``classes`` = the model's class names, ``scores`` (H, W, K) class
    probabilities, ``confidence`` (H, W), ``produced_by`` = the model hash and ``provenance``.

    Raises :class:`ModelError` (bands not covered, unusable recipe), :class:`InputError` (bad arguments, CUDA
    asked for where there is none), :class:`UnsafeCheckpointError` (a path to a checkpoint with pickled objects).
    """
    t0 = time.perf_counter()
    lm = loaded if isinstance(loaded, LoadedModel) else load_model(loaded)
    if not isinstance(cube, Cube):
        raise InputError(f"predict_cube needs a hsimin Cube, got {type(cube).__name__}")
    if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    if int(tile) < 1:
        raise InputError(f"tile must be >= 1 pixel, got {tile!r}")
    if overlap is not None and int(overlap) < 0:
        raise InputError(f"overlap must be >= 0 pixels, got {overlap!r}")
    if batch_size is not None and int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size!r}")
    dev = resolve_device(device)
    plan = input_plan(cube, lm)
    kind, k = _kind(lm)
    H, W, _ = cube.shape
    K = len(lm.class_names)
    check_output_memory(cube, H * W * (2 + 4 + 4 * K))   # labels, confidence, scores: refused now, not at 90 %
    out = _Outputs(H, W, K)
    model = lm.model.to(dev).eval()
    budget = DEFAULT_BLOCK_BYTES if max_bytes is None else int(max_bytes)
    run = {"pixel": _run_pixels, "patch": _run_patches, "dense": _run_dense}[kind]
    with torch.inference_mode():
        details = run(cube, lm, model, plan, out, dev, k=k, tile=int(tile), overlap=overlap,
                      batch_size=batch_size, lines=lines, budget=budget, progress=progress)
    labels = out.labels
    classified = int((labels >= 0).sum())
    unknown = 0
    if threshold is not None:
        low = (labels >= 0) & (out.confidence < float(threshold))
        unknown = int(low.sum())
        labels[low] = UNCLASSIFIED
    seconds = time.perf_counter() - t0
    provenance = {
        "method": "deep model (hsimin.predict.predict_cube)",
        "model_path": os.fspath(lm.path) if lm.path else None, "model_hash": lm.model_hash,
        "model_spec": lm.spec, "model_written_by": {"hsimin": lm.version, "torch": lm.torch_version},
        "class_names": list(lm.class_names), "recipe": plan.recipe.to_dict(), "bands": plan.describe(),
        "model_kind": kind, "threshold": None if threshold is None else float(threshold),
        "device": str(dev), **details,
        "pixels_classified": classified, "pixels_unknown": unknown, "pixels_nonfinite": out.nonfinite,
        "seconds": round(seconds, 3),
        "pixels_per_second": round(classified / seconds, 1) if seconds > 0 else None,
        "versions": {"hsimin": HSIMIN_VERSION, "torch": str(torch.__version__), "numpy": np.__version__},
    }
    return MineralMap(labels=labels.reshape(H, W), classes=lm.class_names, scores=out.scores.reshape(H, W, K),
                      confidence=out.confidence.reshape(H, W), meta=cube.meta, produced_by=lm.model_hash,
                      provenance=provenance, table=cube.table)


# --------------------------------------------------------------------------- the three paths

def _run_pixels(cube, lm, model, plan, out, dev, *, batch_size, lines, budget, progress, **_unused) -> dict:
    H, W, B = cube.shape
    bs = int(batch_size or DEFAULT_BATCH_SIZE)
    n_lines = block_lines(cube, lines, budget)
    for block in iter_blocks(cube, n_lines):
        flat = block.data.reshape(-1, B)
        if block.mask is not None:
            sel = np.flatnonzero(block.mask.reshape(-1))
            X = flat[sel]
        else:
            sel, X = None, flat
        F = _apply_plan(plan, X)
        ok = np.isfinite(F.sum(axis=1))
        if not ok.all():
            F = F[ok]
            sel = np.flatnonzero(ok) if sel is None else sel[ok]
        base = block.rows.start * W
        index = base + (np.arange(F.shape[0]) if sel is None else sel)
        xt = to_torch(np.ascontiguousarray(F))
        for i in range(0, F.shape[0], bs):
            out.put(index[i:i + bs], _probabilities(model, xt[i:i + bs], dev))
        if progress is not None:
            progress(block.rows.stop, H)
    return {"batch_size": bs, "lines_per_block": n_lines}


_PLAN_CHUNK = 8192


def _apply_plan(plan, X: np.ndarray) -> np.ndarray:
    """``plan.apply(X)`` for pixels (n, B), in chunks of :data:`_PLAN_CHUNK` pixels with several in flight (the
    recipe's numpy steps then use every core; the pixels do not depend on each other, so the features are the
    same)."""
    from .._numba import parallel_chunks
    if X.shape[0] <= _PLAN_CHUNK:
        return plan.apply(X)
    parts: dict = {}

    def run(r0: int, r1: int) -> None:
        parts[r0] = plan.apply(X[r0:r1])

    parallel_chunks(X.shape[0], run, _PLAN_CHUNK)
    return np.concatenate([parts[k] for k in sorted(parts)])


def _own(feats: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``feats``, copied if it shares memory with the block read from the cube (it is edited in place next)."""
    return feats.copy() if np.shares_memory(feats, data) else feats


def _valid_centres(block, feats: np.ndarray) -> np.ndarray:
    """(h, W) bool: pixels of the block's core lines that are core (mask) and finite after the recipe."""
    ok = np.isfinite(feats[block.core].sum(axis=-1))
    if block.mask is not None:
        ok &= block.mask[block.core]
    return ok


def _run_patches(cube, lm, model, plan, out, dev, *, k, overlap, batch_size, lines, budget, progress,
                 **_unused) -> dict:
    H, W, B = cube.shape
    halo = k // 2 if overlap is None else int(overlap)
    halo = max(halo, k // 2)
    n_bands = lm.wavelengths.size
    bs = int(batch_size or max(1, PATCH_BATCH_BYTES // (k * k * n_bands * 4)))
    n_lines = block_lines(cube, lines, budget)
    mode = _pad_mode(lm)
    before, after = k // 2, k - 1 - k // 2
    for block in iter_halo_blocks(cube, n_lines, halo):
        feats = _own(plan.apply(block.data), block.data)
        ok = _valid_centres(block, feats)
        np.nan_to_num(feats, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        top = max(0, before - block.core.start)
        bottom = max(0, after - (feats.shape[0] - block.core.stop))
        pad = ((top, bottom), (before, after), (0, 0))
        feats = _pad(feats, pad, mode)
        rows, cols = np.nonzero(ok)
        index = (block.rows.start + rows) * W + cols
        prow = rows + block.core.start + top
        pcol = cols + before
        for i in range(0, rows.size, bs):
            x = extract_patches(feats, prow[i:i + bs], pcol[i:i + bs], k)
            out.put(index[i:i + bs], _probabilities(model, x, dev))
        if progress is not None:
            progress(block.rows.stop, H)
    return {"patch_size": k, "overlap_lines": halo, "pad_mode": mode, "batch_size": bs, "lines_per_block": n_lines}


def _pad(a: np.ndarray, pad, mode: str) -> np.ndarray:
    if not any(p for pair in pad for p in pair):
        return a
    try:
        return np.pad(a, pad, mode=mode) if mode != "constant" else np.pad(a, pad)
    except ValueError:      # 'reflect' on an axis too short for it
        return np.pad(a, pad, mode="edge")


def _run_dense(cube, lm, model, plan, out, dev, *, tile, overlap, lines, budget, progress, **_unused) -> dict:
    H, W, B = cube.shape
    n_bands = lm.wavelengths.size
    radius = receptive_radius(model, n_bands)
    period = translation_period(model, n_bands, radius)
    halo = round_up(radius if overlap is None else int(overlap), period)
    t = round_up(tile, period)
    n_lines = round_up(max(block_lines(cube, lines, budget), 1), t)
    for block in iter_halo_blocks(cube, n_lines, halo):
        feats = _own(plan.apply(block.data), block.data)
        ok = _valid_centres(block, feats)
        np.nan_to_num(feats, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        for tl in plan_tiles(feats.shape[0], W, t, halo, row_offset=block.start, rows=block.core):
            x = to_torch(np.ascontiguousarray(feats[tl.in_rows, tl.in_cols]))
            probs = _probabilities(model, x, dev)[0][:, tl.crop[0], tl.crop[1]]      # (K, h, w)
            keep = ok[tl.out_rows.start - block.core.start:tl.out_rows.stop - block.core.start, tl.out_cols]
            r, c = np.nonzero(keep)
            if r.size == 0:
                continue
            index = (block.rows.start + tl.out_rows.start - block.core.start + r) * W + tl.out_cols.start + c
            pr = probs[:, torch.from_numpy(r).to(probs.device), torch.from_numpy(c).to(probs.device)].T
            out.put(index, pr)
        if progress is not None:
            progress(block.rows.stop, H)
    return {"tile": t, "overlap": halo, "receptive_radius": radius, "translation_period": period,
            "lines_per_block": n_lines}
