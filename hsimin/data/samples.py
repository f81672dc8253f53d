"""Training samples (numpy, band-last) from labelled cubes and from spectral libraries.

A :class:`SampleSet` holds ``x`` as pixels ``(N, B)`` or patches ``(N, k, k, B)`` (float32 reflectance or
preprocessed values), labels ``y (N,)`` (-1 = unlabelled), one class-name list, the wavelengths (nm) of the
bands, a group id per sample (tray, hole or USGS physical sample: what a leak-free split keeps whole) and,
for cube samples, the ``(source, row, col)`` of each centre pixel.

* :func:`cube_samples`: the labelled pixels of one cube (label raster as napari paints it: (H, W) int,
  -1 = unlabelled), as pixels or k x k patches with reflect/edge padding at the borders, read in row slabs so
  the cube may be a memmap or a lazy reader; optional per-class caps and a pixel mask (e.g. the train mask of
  a spatial split).
* :func:`library_samples`: every spectrum of a :class:`~hsimin.core.SpectralLibrary` a sample, label =
  mineral, group = physical sample id.
* :func:`unlabelled_samples`: random pixels/patches of a cube (core pixels by its mask) with ``y = -1``, for
  self-supervised pretraining and domain adaptation.
* :func:`concat_samples` merges sets (class names unified), :func:`apply_recipe` runs a preprocessing recipe
  on the band axis, :func:`cap_per_class` / :func:`class_counts` help balance classes.

Conversion to torch ``(N, B, H, W)`` happens in :mod:`hsimin.data.datasets` through
:mod:`hsimin.models.layout`, nowhere here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import Cube, SpectralLibrary
from ..core.units import check_wavelengths

__all__ = ["PAD_MODES", "SampleSet", "apply_recipe", "cap_per_class", "class_counts", "concat_samples",
           "cube_samples", "library_samples", "unlabelled_samples"]

PAD_MODES = ("reflect", "edge", "symmetric", "constant")
"""Border padding of patches (numpy.pad modes): 'reflect' mirrors without repeating the edge pixel."""

DEFAULT_MAX_BYTES = 2 * 1024 ** 3
"""Largest sample array :func:`cube_samples` builds before asking for per-class caps (2 GiB)."""


@dataclass(frozen=True, eq=False)
class SampleSet:
    """Samples for training or evaluation (band-last numpy).

    x : (N, B) pixels or (N, k, k, B) patches, float32
    y : (N,) int64 class index into ``class_names``; -1 = unlabelled
    class_names : K names (lower-case vocabulary names for minerals)
    wavelengths : (B,) float64 nm of the last axis of ``x``
    groups : (N,) str: the group a leak-free split must keep whole (tray id, hole id, USGS sample id)
    coords : (N, 3) int64 ``(source, row, col)`` of each centre pixel, or None (library samples)
    sources : names of the sources ``coords[:, 0]`` indexes (tray ids, library ids)
    info : plain facts (dropped samples, caps, recipe...) for the run's report
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    wavelengths: np.ndarray
    groups: np.ndarray
    coords: np.ndarray | None = None
    sources: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        x = np.asarray(self.x)
        if x.ndim not in (2, 4) or (x.ndim == 4 and x.shape[1] != x.shape[2]):
            raise InputError(f"SampleSet.x must be (N, B) pixels or (N, k, k, B) patches, got shape {x.shape}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        object.__setattr__(self, "x", x)
        n = x.shape[0]
        y = np.asarray(self.y, dtype=np.int64).reshape(-1)
        if y.size != n:
            raise InputError(f"SampleSet has {n} samples but {y.size} labels")
        object.__setattr__(self, "y", y)
        names = tuple(str(c) for c in self.class_names)
        object.__setattr__(self, "class_names", names)
        if y.size and y.max(initial=-1) >= len(names):
            raise InputError(f"labels reach {y.max()} but there are {len(names)} class names")
        object.__setattr__(self, "wavelengths", check_wavelengths(self.wavelengths, x.shape[-1],
                                                                 "SampleSet.wavelengths"))
        g = np.asarray(self.groups).astype(str).reshape(-1)
        if g.size != n:
            raise InputError(f"SampleSet has {n} samples but {g.size} group ids")
        object.__setattr__(self, "groups", g)
        if self.coords is not None:
            c = np.asarray(self.coords, dtype=np.int64).reshape(-1, 3)
            if c.shape[0] != n:
                raise InputError(f"SampleSet has {n} samples but {c.shape[0]} coordinates")
            object.__setattr__(self, "coords", c)
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        object.__setattr__(self, "info", dict(self.info or {}))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def patch_size(self) -> int:
        """k for (N, k, k, B) patches, 1 for pixels."""
        return 1 if self.x.ndim == 2 else int(self.x.shape[1])

    @property
    def n_bands(self) -> int:
        return int(self.x.shape[-1])

    def subset(self, index) -> "SampleSet":
        """The samples selected by ``index`` (boolean mask or integer indices)."""
        idx = np.arange(len(self))[index]
        return replace(self, x=self.x[idx], y=self.y[idx], groups=self.groups[idx],
                       coords=None if self.coords is None else self.coords[idx])

    def counts(self) -> dict[str, int]:
        """Samples per class name (labelled samples only)."""
        c = class_counts(self.y, len(self.class_names))
        return {n: int(v) for n, v in zip(self.class_names, c)}


def class_counts(y, num_classes: int) -> np.ndarray:
    """(K,) int64 count of each class among labels ``y`` (negative labels ignored)."""
    y = np.asarray(y).reshape(-1)
    return np.bincount(y[y >= 0], minlength=int(num_classes))[:int(num_classes)].astype(np.int64)


def cap_per_class(y, max_per_class: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices keeping at most ``max_per_class`` samples of each class (a seeded random choice);
    unlabelled samples (-1) are kept. ``None`` keeps everything."""
    y = np.asarray(y).reshape(-1)
    if max_per_class is None:
        return np.arange(y.size)
    m = int(max_per_class)
    if m < 1:
        raise InputError(f"max_per_class must be >= 1, got {max_per_class}")
    rng = np.random.default_rng(seed)
    keep = [np.flatnonzero(y < 0)]
    for c in np.unique(y[y >= 0]):
        idx = np.flatnonzero(y == c)
        keep.append(idx if idx.size <= m else np.sort(rng.choice(idx, m, replace=False)))
    return np.sort(np.concatenate(keep))


def _window_offsets(k: int) -> tuple[int, int]:
    """Pixels before and after the centre in a k-window (centre at index k // 2, as the backbones use)."""
    return k // 2, k - 1 - k // 2


def _check_patch(patch_size, pad_mode) -> int:
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise InputError(f"patch_size must be a positive integer (1 = pixels), got {patch_size!r}")
    if pad_mode not in PAD_MODES:
        raise InputError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    return int(patch_size)


def _gather(cube: Cube, rows: np.ndarray, cols: np.ndarray, k: int, pad_mode: str, slab_lines: int) -> np.ndarray:
    """(M, B) pixels (k = 1) or (M, k, k, B) windows centred on (rows, cols), read in row slabs."""
    H, W, B = cube.shape
    before, after = _window_offsets(k)
    out = np.empty((rows.size, B) if k == 1 else (rows.size, k, k, B), dtype=np.float32)
    order = np.argsort(rows, kind="stable")
    r_sorted = rows[order]
    d = np.arange(k)
    for r0 in range(0, H, slab_lines):
        r1 = min(H, r0 + slab_lines)
        a, b = np.searchsorted(r_sorted, [r0, r1])
        if a == b:
            continue
        sel = order[a:b]
        lo, hi = max(0, r0 - before), min(H, r1 + after)
        slab = np.asarray(cube.data[lo:hi], dtype=np.float32)
        if k == 1:
            out[sel] = slab[rows[sel] - lo, cols[sel]]
            continue
        top, bottom = before - (r0 - lo), after - (hi - r1)
        pad = ((top, bottom), (before, after), (0, 0))
        slab = np.pad(slab, pad, mode=pad_mode) if pad_mode != "constant" else np.pad(slab, pad)
        rr = (rows[sel] - r0)[:, None, None] + d[None, :, None]        # padded slab row of window row i
        cc = cols[sel][:, None, None] + d[None, None, :]
        out[sel] = slab[rr, cc]
    return out


def _remap_labels(labels: np.ndarray, names: Sequence[str], class_names: Sequence[str] | None):
    """Labels of a raster with its own ``names`` mapped onto ``class_names`` (unknown names -> -1)."""
    names = [str(n) for n in names]
    if class_names is None:
        return labels, tuple(names)
    target = {str(n): i for i, n in enumerate(class_names)}
    lut = np.array([target.get(n, -1) for n in names] + [-1], dtype=np.int64)
    lab = np.where(labels >= 0, labels, len(names))
    return lut[lab], tuple(str(n) for n in class_names)


def cube_samples(cube: Cube, labels, class_names: Sequence[str], *, patch_size: int = 1,
                 pad_mode: str = "reflect", group: str | None = None, source: str | None = None,
                 pixel_mask=None, max_per_class: int | None = None, target_classes: Sequence[str] | None = None,
                 seed: int = 0, slab_lines: int = 256, max_bytes: int = DEFAULT_MAX_BYTES) -> SampleSet:
    """The labelled pixels of one cube as samples.

    Parameters
    ----------
    cube : the cube (H, W, B); its data may be a memmap or lazy array (read in slabs of ``slab_lines`` lines)
    labels : (H, W) int label raster, -1 (any negative) = unlabelled; values index ``class_names``
    class_names : the raster's class names
    patch_size : 1 for pixels (B,), k for k x k patches (k, k, B) centred on the pixel (centre index k // 2)
    pad_mode : how windows crossing the cube border are filled: 'reflect' (default), 'edge', 'symmetric',
        'constant' (zeros)
    group : the group id of every sample (default: ``source``, i.e. one group per tray; pass the hole id to
        split by hole)
    source : a name for the cube (default: tray_id or hole_id, else 'cube')
    pixel_mask : (H, W) bool, optional: only pixels where True (e.g. a spatial split's train mask)
    max_per_class : keep at most this many pixels per class (seeded random choice)
    target_classes : map the raster's class names onto this list (names not in it are dropped)
    seed : seed of the per-class choice
    max_bytes : refuse (InputError) to build a sample array larger than this; lower ``max_per_class``

    Samples whose window holds a non-finite value (NaN bands) are dropped (``info['dropped_nonfinite']``).
    ``coords`` are ``(0, row, col)``; :func:`concat_samples` renumbers sources.
    """
    if not isinstance(cube, Cube):
        raise InputError(f"cube_samples needs a hsimin Cube, got {type(cube).__name__}")
    k = _check_patch(patch_size, pad_mode)
    H, W, B = cube.shape
    lab = np.asarray(labels)
    if lab.shape != (H, W) or lab.dtype.kind not in "iu":
        raise InputError(f"labels must be an (H, W) = {(H, W)} integer raster, got shape {lab.shape} dtype "
                         f"{lab.dtype}")
    if lab.size and lab.max(initial=-1) >= len(class_names):
        raise InputError(f"the label raster reaches {lab.max()} but only {len(class_names)} class names were given")
    lab, names = _remap_labels(lab.astype(np.int64), class_names, target_classes)
    use = lab >= 0
    if pixel_mask is not None:
        m = np.asarray(pixel_mask, dtype=bool)
        if m.shape != (H, W):
            raise InputError(f"pixel_mask has shape {m.shape}, want {(H, W)}")
        use &= m
    rows, cols = np.nonzero(use)
    y = lab[rows, cols]
    keep = cap_per_class(y, max_per_class, seed)
    rows, cols, y = rows[keep], cols[keep], y[keep]
    need = rows.size * k * k * B * 4
    if need > max_bytes:
        raise InputError(f"{rows.size} samples of {k} x {k} x {B} would take {need / 2 ** 30:.1f} GiB; set "
                         "max_per_class (data.max_per_class) to cap the pixels taken per class")
    x = _gather(cube, rows, cols, k, pad_mode, max(int(slab_lines), 1))
    finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    meta = cube.meta
    name = source or meta.tray_id or meta.hole_id or "cube"
    grp = group or name
    info = {"dropped_nonfinite": int((~finite).sum()), "patch_size": k, "pad_mode": pad_mode,
            "max_per_class": max_per_class}
    coords = np.stack([np.zeros_like(rows), rows, cols], axis=1)
    return SampleSet(x[finite], y[finite], names, cube.wavelengths, np.full(int(finite.sum()), str(grp)),
                     coords[finite], (str(name),), info)


def unlabelled_samples(cube: Cube, n: int, *, patch_size: int = 1, pad_mode: str = "reflect",
                       class_names: Sequence[str] = (), use_mask: bool = True, seed: int = 0,
                       source: str | None = None, slab_lines: int = 256) -> SampleSet:
    """``n`` random pixels (or patches) of a cube with label -1, for SSL pretraining or a DANN target domain.

    Pixels are drawn without replacement from the cube's core pixels (``cube.mask``; all pixels when the cube
    has no mask or ``use_mask`` is False); fewer than ``n`` when there are fewer. Windows with non-finite
    values are dropped.
    """
    k = _check_patch(patch_size, pad_mode)
    H, W, _ = cube.shape
    ok = cube.mask if (use_mask and cube.mask is not None) else np.ones((H, W), dtype=bool)
    flat = np.flatnonzero(ok)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(flat, min(int(n), flat.size), replace=False))
    rows, cols = np.divmod(pick, W)
    x = _gather(cube, rows, cols, k, pad_mode, max(int(slab_lines), 1))
    finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    name = source or cube.meta.tray_id or cube.meta.hole_id or "cube"
    coords = np.stack([np.zeros_like(rows), rows, cols], axis=1)
    return SampleSet(x[finite], np.full(int(finite.sum()), -1), tuple(class_names), cube.wavelengths,
                     np.full(int(finite.sum()), str(name)), coords[finite], (str(name),),
                     {"dropped_nonfinite": int((~finite).sum()), "unlabelled": True})


def library_samples(lib: SpectralLibrary, *, minerals: Sequence[str] | None = None, min_per_class: int = 1,
                    min_groups_per_class: int = 1, patch_size: int = 1, class_names: Sequence[str] | None = None,
                    source: str | None = None) -> SampleSet:
    """Every spectrum of a library as a sample: label = its mineral, group = its physical sample id.

    Parameters
    ----------
    lib : the library (resample it to the sensor's bands first, e.g. ``load_library(..., wavelengths=, fwhm=)``)
    minerals : keep only these minerals (vocabulary names)
    min_per_class : drop minerals with fewer spectra than this
    min_groups_per_class : drop minerals with fewer physical samples than this (a group split needs 2)
    patch_size : 1: pixels (N, B); k > 1: each spectrum tiled into a homogeneous k x k patch (N, k, k, B),
        for patch models trained on library spectra
    class_names : the class list (and order) to use; minerals not in it are dropped. Default: the kept
        minerals, sorted

    Spectra with a non-finite value (bands the source does not cover) are dropped
    (``info['dropped_nonfinite']``). Groups are ``lib.sample_ids`` (else the spectrum names).
    """
    if not isinstance(lib, SpectralLibrary):
        raise InputError(f"library_samples needs a SpectralLibrary, got {type(lib).__name__}")
    k = _check_patch(patch_size, "edge")
    S = np.asarray(lib.spectra, dtype=np.float32)
    minerals_arr = np.asarray(lib.minerals, dtype=object).astype(str)
    groups = np.asarray(lib.sample_ids if lib.sample_ids is not None else lib.names, dtype=object).astype(str)
    keep = np.isfinite(S).all(axis=1)
    dropped_nonfinite = int((~keep).sum())
    if minerals is not None:
        keep &= np.isin(minerals_arr, [str(m) for m in minerals])
    if class_names is not None:
        keep &= np.isin(minerals_arr, [str(m) for m in class_names])
    dropped_small = []
    for m in np.unique(minerals_arr[keep]):
        sel = keep & (minerals_arr == m)
        if sel.sum() < int(min_per_class) or np.unique(groups[sel]).size < int(min_groups_per_class):
            keep &= minerals_arr != m
            dropped_small.append(str(m))
    names = tuple(str(c) for c in class_names) if class_names is not None else tuple(sorted(set(minerals_arr[keep])))
    if not keep.any():
        raise InputError("no library spectrum is left after the filters (finite values, minerals, min_per_class)")
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[m] for m in minerals_arr[keep]], dtype=np.int64)
    x = S[keep]
    if k > 1:
        x = np.ascontiguousarray(np.broadcast_to(x[:, None, None, :], (x.shape[0], k, k, x.shape[1])))
    info = {"dropped_nonfinite": dropped_nonfinite, "dropped_classes": dropped_small, "library": lib.source}
    return SampleSet(x, y, names, lib.wavelengths, groups[keep], None, (str(source or lib.source),), info)


def concat_samples(sets: Sequence[SampleSet], class_names: Sequence[str] | None = None) -> SampleSet:
    """Merge sample sets: same wavelengths and patch size required; class names unified (``class_names``, or
    the union in order of first appearance); sources renumbered in ``coords`` (sets without coords get -1
    rows and cols)."""
    sets = [s for s in sets if s is not None]
    if not sets:
        raise InputError("concat_samples needs at least one SampleSet")
    wl, k = sets[0].wavelengths, sets[0].patch_size
    for s in sets[1:]:
        if s.wavelengths.shape != wl.shape or not np.allclose(s.wavelengths, wl, atol=1e-6):
            raise InputError("sample sets have different wavelengths; resample them to one grid first")
        if s.patch_size != k:
            raise InputError(f"sample sets have different patch sizes ({k} and {s.patch_size})")
    if class_names is None:
        names = tuple(dict.fromkeys(n for s in sets for n in s.class_names))
    else:
        names = tuple(str(c) for c in class_names)
    index = {n: i for i, n in enumerate(names)}
    xs, ys, gs, cs, srcs = [], [], [], [], []
    any_coords = any(s.coords is not None for s in sets)
    for s in sets:
        lut = np.array([index.get(n, -1) for n in s.class_names] + [-1], dtype=np.int64)
        y = lut[np.where(s.y >= 0, s.y, len(s.class_names))]
        keep = (y >= 0) | (s.y < 0)
        xs.append(s.x[keep])
        ys.append(y[keep])
        gs.append(s.groups[keep])
        if any_coords:
            c = s.coords[keep].copy() if s.coords is not None else np.full((int(keep.sum()), 3), -1, np.int64)
            if s.coords is not None:
                c[:, 0] += len(srcs)
            cs.append(c)
        srcs.extend(s.sources or ("?",))
    info = {"parts": [dict(s.info) for s in sets]}
    return SampleSet(np.concatenate(xs), np.concatenate(ys), names, wl, np.concatenate(gs),
                     np.concatenate(cs) if any_coords else None, tuple(srcs), info)


def apply_recipe(samples: SampleSet, recipe: Any) -> SampleSet:
    """The samples with a preprocessing recipe applied on the band axis (pixels and patches alike).

    ``recipe``: a :class:`hsimin.preprocess.Recipe`, its ``to_dict()`` form, or None (no change). The
    wavelengths become the recipe's output wavelengths (a band window or resampling changes them).
    """
    if recipe is None:
        return samples
    from ..preprocess import Recipe
    r = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(dict(recipe))
    x, wl = r.apply(samples.x, samples.wavelengths)
    x = np.asarray(x, dtype=np.float32)
    finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    out = replace(samples, x=x, wavelengths=np.asarray(wl, dtype=np.float64),
                  info={**samples.info, "recipe": r.to_dict(), "dropped_after_recipe": int((~finite).sum())})
    return out if finite.all() else out.subset(finite)

