"""A whole training run from a :class:`~hsimin.train.config.TrainConfig` (what ``hsimin train CONFIG.toml`` calls).

Order: band grid -> samples of every source (libraries, labelled cubes) -> recipe -> leak-free split (train /
validation / test) -> model from its spec (``init_from`` weights) -> optional SimCLR pretraining -> training
(:func:`~hsimin.train.loop.fit`, or :func:`~hsimin.train.dann.train_dann` towards unlabelled cubes) -> test
metrics -> the run folder:

==================  ===========================================================================================
``config.toml``     the resolved configuration (absolute paths, every default written out); ``config.json`` too
``history.json``    per-epoch ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr`` (+ DANN keys)
``curves.png``      loss and accuracy curves
``metrics.json``    split (kind, ``optimistic``, description), test OA / AA / kappa / per-class, counts, timing
``per_class.csv``   precision, recall, F1, support per class (test set)
``confusion.csv``   confusion matrix (rows true, columns predicted); ``confusion.png`` as a figure
``model.pt``        the checkpoint (:func:`hsimin.models.save_model`: spec, wavelengths, class names, recipe)
``ssl_history.json`` SimCLR loss per epoch (when ``[ssl] enabled``)
==================  ===========================================================================================

Files are written atomically through :mod:`hsimin.io.writers` (JSON with NaN as null). The split's description
is printed, and for random splits it reads ``random pixel split: optimistic``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.errors import ConfigError, InputError, OutputExistsError
from ..data.augment import RecipeAfter, build_augment
from ..data.datasets import TensorSamples
from ..data.samples import SampleSet, concat_samples, cube_samples, library_samples, unlabelled_samples
from ..data.splits import (OPTIMISTIC_NOTE, group_split, mask_membership, min_gap, random_split,
                           spatial_block_split)
from ..io.writers import save_figure, write_json, write_text
from .config import TrainConfig, config_to_json, config_to_toml
from .dann import train_dann
from .loop import fit, predict_samples, seed_everything
from .metrics import classification_metrics, confusion_csv, per_class_csv
from .plots import plot_confusion, plot_history
from .ssl import pretrain_simclr

__all__ = ["RunResult", "init_backbone_from", "run_training"]


@dataclass
class RunResult:
    """What :func:`run_training` returns: the run folder, the trained model, the metrics written to
    ``metrics.json``, the per-epoch history and the checkpoint path."""

    run_dir: Path
    model: nn.Module
    metrics: dict
    history: list
    checkpoint: Path
    class_names: tuple[str, ...]
    wavelengths: np.ndarray
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- data
def _grid(cfg: TrainConfig):
    g = cfg.data.grid
    if g is None:
        return None, None
    from ..io import open_cube
    if g.sample_tray or g.cube:
        if g.sample_tray:
            from ..samples import tray_path
            path = tray_path()
        else:
            path = g.cube
        cube = open_cube(path)
        return cube.wavelengths, cube.fwhm
    wl = np.arange(g.start, g.stop + 0.5 * g.step, g.step)
    return wl, None if g.fwhm is None else np.full(wl.size, g.fwhm)


def _resample_samples(s: SampleSet, wl, fwhm, source_fwhm=None) -> SampleSet:
    if wl is None or (s.wavelengths.shape == wl.shape and np.allclose(s.wavelengths, wl, atol=1e-6)):
        return s
    from dataclasses import replace

    from ..preprocess import resample
    x = resample(s.x, s.wavelengths, wl, fwhm, source_fwhm=source_fwhm)
    finite = np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    out = replace(s, x=x, wavelengths=np.asarray(wl, dtype=np.float64),
                  info={**s.info, "resampled_to_grid": True, "dropped_outside_grid": int((~finite).sum())})
    return out if finite.all() else out.subset(finite)


def _library_sets(cfg: TrainConfig, wl, fwhm) -> list[SampleSet]:
    from ..io.libraries import load_library
    out = []
    for i, src in enumerate(cfg.data.libraries):
        lib = load_library(src.id, instruments=src.instruments, purity=src.purity,
                           include_mixtures=src.include_mixtures, wavelength_range=src.wavelength_range,
                           min_coverage=src.min_coverage, minerals=src.minerals, wavelengths=wl, fwhm=fwhm)
        excl = set(src.exclude_sample_ids)
        if src.exclude_sample_tray:
            from ..samples import TRAY_SAMPLE_IDS
            excl |= set(TRAY_SAMPLE_IDS)
        if excl and lib.sample_ids is not None:
            lib = lib.subset(~np.isin(np.asarray(lib.sample_ids, dtype=object).astype(str), sorted(excl)))
        try:
            s = library_samples(lib, min_groups_per_class=cfg.data.min_groups_per_class,
                                patch_size=cfg.data.patch_size, class_names=cfg.data.classes, source=src.id)
        except InputError as exc:
            raise ConfigError(f"data.library[{i}]: {exc.message}") from None
        s.info["excluded_samples"] = sorted(excl)
        out.append(s)
    return out


def _cube_sets(cfg: TrainConfig, wl, fwhm) -> tuple[list[SampleSet], list[np.ndarray]]:
    from ..io import open_cube, open_map
    sets, rasters = [], []
    for i, src in enumerate(cfg.data.cubes):
        cube = open_cube(src.path)
        lab = open_map(src.labels)
        if lab.shape != cube.shape[:2]:
            raise ConfigError(f"data.cube[{i}]: the label raster is {lab.shape} but the cube is {cube.shape[:2]}",
                              path=src.labels)
        s = cube_samples(cube, lab.labels, lab.classes, patch_size=cfg.data.patch_size, pad_mode=cfg.data.pad_mode,
                         group=src.group, source=cube.meta.tray_id or Path(src.path).stem,
                         max_per_class=cfg.data.max_per_class, target_classes=cfg.data.classes,
                         seed=cfg.seed + i)
        sets.append(_resample_samples(s, wl, fwhm, cube.fwhm))
        rasters.append(np.asarray(lab.labels, dtype=np.int64))
    return sets, rasters


def _unlabelled(cfg: TrainConfig, wl, fwhm) -> SampleSet | None:
    if not cfg.data.unlabelled:
        return None
    from ..io import open_cube
    sets = []
    for i, src in enumerate(cfg.data.unlabelled):
        cube = open_cube(src.path)
        s = unlabelled_samples(cube, src.n, patch_size=cfg.data.patch_size, pad_mode=cfg.data.pad_mode,
                               seed=cfg.seed + 7919 * (i + 1))
        sets.append(_resample_samples(s, wl, fwhm, cube.fwhm))
    return concat_samples(sets)


def _preprocess(pool: SampleSet, recipe: dict | None) -> tuple[SampleSet, SampleSet]:
    """(reflectance samples, preprocessed samples): the same samples in the same order; those whose recipe
    output is not finite are dropped from both."""
    if recipe is None:
        return pool, pool
    from dataclasses import replace

    from ..preprocess import Recipe
    x, wl = Recipe.from_dict(recipe).apply(pool.x, pool.wavelengths)
    x = np.asarray(x, dtype=np.float32)
    finite = np.isfinite(x.reshape(len(pool), -1)).all(axis=1)
    pool = pool.subset(finite)
    pre = replace(pool, x=x[finite], wavelengths=np.asarray(wl, dtype=np.float64),
                  info={**pool.info, "recipe": recipe, "dropped_after_recipe": int((~finite).sum())})
    return pool, pre


def _batch_transform(augment, recipe: dict | None, wavelengths):
    """What training batches go through: the augmentations (on reflectance), then the recipe; None if neither."""
    if recipe is not None:
        return RecipeAfter(augment if len(augment) else None, recipe, wavelengths)
    return augment if len(augment) else None


def _compact(pool: SampleSet, min_groups: int) -> tuple[SampleSet, list[str]]:
    """Drop classes without samples or with fewer than ``min_groups`` groups; reindex labels."""
    keep, dropped = [], []
    for k, name in enumerate(pool.class_names):
        sel = pool.y == k
        if sel.any() and np.unique(pool.groups[sel]).size >= min_groups:
            keep.append(k)
        else:
            dropped.append(name)
    if not keep:
        raise ConfigError("data: no class has samples left after the filters")
    lut = np.full(len(pool.class_names) + 1, -1, dtype=np.int64)
    lut[keep] = np.arange(len(keep))
    y = lut[np.where(pool.y >= 0, pool.y, len(pool.class_names))]
    from dataclasses import replace
    out = replace(pool, y=y, class_names=tuple(pool.class_names[k] for k in keep))
    return out.subset(y >= 0), dropped


# ------------------------------------------------------------------------------------------- split
def _sub_split(kind: str, groups, labels, fraction: float, seed: int, stratify: bool):
    if kind == "random":
        return random_split(len(groups), fraction, seed, labels=labels if stratify else None)
    return group_split(groups, fraction, seed, labels=labels if stratify else None)


def _split(cfg: TrainConfig, pool: SampleSet, rasters: list[np.ndarray], n_lib: int
           ) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """(summary, train, val, test) index arrays into ``pool``; cube ``r`` is pool source ``n_lib + r``."""
    sc = cfg.split
    n = len(pool)
    val_rel = sc.val_fraction / (1.0 - sc.test_fraction) if sc.val_fraction else 0.0
    if val_rel >= 1.0:
        raise ConfigError("split: test_fraction + val_fraction must stay below 1")
    if sc.kind in ("group", "random"):
        test_split = _sub_split(sc.kind, pool.groups, pool.y, sc.test_fraction, sc.seed, sc.stratify)
        rest = test_split.train
        if val_rel:
            vs = _sub_split(sc.kind, pool.groups[rest], pool.y[rest], val_rel, sc.seed + 1, sc.stratify)
            train, val = rest[vs.train], rest[vs.test]
        else:
            train, val = rest, np.zeros(0, np.int64)
        summary = test_split.to_dict()
        if sc.kind == "group":
            leaked = set(pool.groups[train]) & (set(pool.groups[test_split.test]) | set(pool.groups[val]))
            if leaked:  # pragma: no cover - guarded by group_split's construction
                raise RuntimeError(f"group split leaked groups {sorted(leaked)[:3]}")
        return summary, train, val, test_split.test
    # spatial blocks: per cube raster; library samples (no coordinates) by group
    gap = sc.gap if sc.gap is not None else min_gap(cfg.data.patch_size)
    has_xy = pool.coords is not None and (pool.coords[:, 0] >= 0).any()
    cube_part = (pool.coords[:, 0] >= 0) if has_xy else np.zeros(n, bool)
    tr_masks, va_masks, te_masks, blocks = [], [], [], []
    for r, raster in enumerate(rasters):
        bs = spatial_block_split(raster, sc.block_size, gap, sc.test_fraction, sc.seed + r, stratify=sc.stratify)
        tr, va = bs.train_mask, np.zeros_like(bs.train_mask)
        if val_rel:
            vb = spatial_block_split(np.where(bs.train_mask, raster, -1), sc.block_size, gap, val_rel,
                                     sc.seed + 1000 + r, stratify=sc.stratify)
            tr, va = vb.train_mask, vb.test_mask
        tr_masks.append(tr)
        va_masks.append(va)
        te_masks.append(bs.test_mask)
        blocks.append(bs.to_dict())
    coords = pool.coords.copy() if has_xy else np.zeros((n, 3), np.int64)
    if has_xy:
        coords[:, 0] = np.where(cube_part, coords[:, 0] - n_lib, -1)
    in_tr = cube_part & mask_membership(coords, tr_masks)
    in_va = cube_part & mask_membership(coords, va_masks)
    in_te = cube_part & mask_membership(coords, te_masks)
    lib = np.flatnonzero(~cube_part)
    if lib.size:
        ts = group_split(pool.groups[lib], sc.test_fraction, sc.seed, labels=pool.y[lib] if sc.stratify else None)
        in_te[lib[ts.test]] = True
        rest = lib[ts.train]
        if val_rel:
            vs = group_split(pool.groups[rest], val_rel, sc.seed + 1, labels=pool.y[rest] if sc.stratify else None)
            in_va[rest[vs.test]] = True
            in_tr[rest[vs.train]] = True
        else:
            in_tr[rest] = True
    summary = {"kind": "spatial_block", "optimistic": False, "block_size": sc.block_size, "gap": gap,
               "n_train": int(in_tr.sum()), "n_val": int(in_va.sum()), "n_test": int(in_te.sum()),
               "description": (f"spatial_block split ({sc.block_size} px blocks, gap {gap} px >= patch radius "
                               f"{cfg.data.patch_size // 2}; library samples by group): {int(in_te.sum())} test / "
                               f"{int(in_tr.sum())} train samples"),
               "cubes": blocks}
    return summary, np.flatnonzero(in_tr), np.flatnonzero(in_va), np.flatnonzero(in_te)


# ------------------------------------------------------------------------------------------- model
def init_backbone_from(model: nn.Module, checkpoint: str | os.PathLike,
                       class_names: Sequence[str] | None = None) -> dict:
    """Start ``model`` from an hsimin checkpoint (``model.init_from``): its whole backbone, and, where the head is of
    the same kind, the head rows of the classes both share.

    The checkpoint's model gets :meth:`~hsimin.models.HSIModel.reset_classifier` to ``class_names`` (each of its
    classes moved to its position there, the new ones freshly initialised), then its weights are loaded into
    ``model``. Every backbone tensor must fit (same backbone, same band count), else :class:`ConfigError`
    ("backbone does not fit") — a half-copied backbone would train from a silently odd start. A head of another
    kind (``linear`` against ``dense``, say) is left as ``model`` has it.

    Returns ``{"tensors": copied, "head": "carried" | "new", "classes_carried": n}``."""
    from ..models import load_model
    loaded = load_model(checkpoint)
    src_model = loaded.model
    names = list(class_names) if class_names is not None else list(loaded.class_names)
    own = model.state_dict()
    src_backbone = {k: v for k, v in src_model.state_dict().items() if not k.startswith("head.")}
    own_backbone = {k: v for k, v in own.items() if not k.startswith("head.")}
    misfit = sorted(k for k in own_backbone if k not in src_backbone or src_backbone[k].shape != own_backbone[k].shape)
    extra_keys = sorted(set(src_backbone) - set(own_backbone))
    if misfit or extra_keys:
        raise ConfigError(f"model.init_from: the checkpoint's backbone does not fit this model (different backbone, "
                          f"widths or band count; first differing tensor: {(misfit or extra_keys)[0]})",
                          path=checkpoint)
    keep = [names.index(c) if c in names else None for c in loaded.class_names]
    state = {**own, **{k: src_backbone[k] for k in own_backbone}}
    head_tensors = {}
    if int(getattr(src_model.head, "num_outputs", -1)) == len(keep):
        src_model.reset_classifier(len(names), keep=keep)
        src_head = {k: v for k, v in src_model.state_dict().items() if k.startswith("head.")}
        own_head = {k: v for k, v in own.items() if k.startswith("head.")}
        if src_head.keys() == own_head.keys() and all(src_head[k].shape == own_head[k].shape for k in own_head):
            head_tensors = src_head
    state.update(head_tensors)
    model.load_state_dict(state)
    return {"tensors": len(own_backbone) + len(head_tensors), "head": "carried" if head_tensors else "new",
            "classes_carried": sum(k is not None for k in keep) if head_tensors else 0}


def _progress(cfg: TrainConfig, override: bool | None) -> bool | None:
    if override is not None:
        return override
    return {"auto": None, "on": True, "off": False}.get(cfg.output.progress)


def _prepare_dir(path: Path, overwrite: bool) -> Path:
    """Check the run folder before any training: not a file, empty unless ``overwrite``, and writable (a file can be
    created in it: a read-only folder fails now, not after the training); created if missing."""
    from ..io.atomic import check_output_folder
    if path.exists() and not path.is_dir():
        raise OutputExistsError("the run folder path is a file; give a folder", path=path)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputExistsError("the run folder exists and is not empty; pass --overwrite (output.overwrite = true) "
                                "or choose another folder", path=path)
    check_output_folder(path, create=True)
    return path


def run_training(cfg: TrainConfig, run_dir: str | os.PathLike | None = None, *, overwrite: bool | None = None,
                 progress: bool | None = None, log: Callable[[str], None] | None = print) -> RunResult:
    """Run a whole training from ``cfg`` and write the run folder (see the module docstring).

    ``run_dir`` overrides ``output.dir``, ``overwrite`` ``output.overwrite``, ``progress`` ``output.progress``;
    ``log`` receives the report lines (split, test metrics); None is silent.
    """
    say = log or (lambda _m: None)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, run_dir, overwrite, progress, say)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: TrainConfig, run_dir, overwrite, progress, say) -> RunResult:
    from ..io.locks import FolderLock
    out = _prepare_dir(Path(run_dir or cfg.output.dir), cfg.output.overwrite if overwrite is None else overwrite)
    with FolderLock(out, "hsimin train"):       # two trainings into one run folder would mix their files
        return _train(cfg, out, progress, say)


def _train(cfg: TrainConfig, out: Path, progress, say) -> RunResult:
    seed_everything(cfg.seed)
    wl_grid, fwhm_grid = _grid(cfg)
    lib_sets = _library_sets(cfg, wl_grid, fwhm_grid)
    if cfg.data.simulated:
        from .simulated import simulated_sets
        lib_sets += simulated_sets(cfg, wl_grid, fwhm_grid)
    cube_sets, rasters = _cube_sets(cfg, wl_grid, fwhm_grid)
    try:
        pool = concat_samples(lib_sets + cube_sets, class_names=cfg.data.classes)
    except InputError as exc:
        raise ConfigError(f"data: {exc.message}; add a [data.grid] so all sources share one band grid") from None
    pool, dropped = _compact(pool, cfg.data.min_groups_per_class)
    if dropped:
        say(f"classes left out (no samples or fewer than {cfg.data.min_groups_per_class} groups): {', '.join(dropped)}")
    pool, pre = _preprocess(pool, cfg.recipe)
    summary, i_tr, i_va, i_te = _split(cfg, pool, rasters, len(lib_sets))
    if i_tr.size == 0 or i_te.size == 0:
        raise ConfigError("split: the split left no training or no test samples; add data or change split.*")
    say(summary["description"])
    if summary.get("optimistic"):
        say(OPTIMISTIC_NOTE)
    # training batches stay reflectance: augmented (physically), then preprocessed per batch; val/test once
    train = TensorSamples.from_samples(pool.subset(i_tr))
    val = TensorSamples.from_samples(pre.subset(i_va)) if i_va.size else None
    test = TensorSamples.from_samples(pre.subset(i_te))
    K = len(pool.class_names)
    spec = {**cfg.model.spec, "in_bands": pre.n_bands, "num_outputs": K}
    if "preset" not in spec and spec.get("type") != "preset":      # presets take their window size themselves
        spec.setdefault("patch_size", pool.patch_size)
    from ..models import create_model, save_model
    seed_everything(cfg.seed)
    model = create_model(spec)
    extra: dict = {}
    if cfg.model.init_from:
        init = init_backbone_from(model, cfg.model.init_from, pool.class_names)
        extra["init_tensors"] = init["tensors"]
        extra["init_head"] = init["head"]
        say(f"initialised {init['tensors']} tensors from {cfg.model.init_from} (backbone"
            + (f"; head rows of {init['classes_carried']} shared classes)" if init["head"] == "carried" else
               "; new head)"))
    prog = _progress(cfg, progress)
    augment = _batch_transform(build_augment(cfg.augment, pool.wavelengths), cfg.recipe, pool.wavelengths)
    unl = _unlabelled(cfg, wl_grid, fwhm_grid)
    if unl is not None and (unl.wavelengths.shape != pool.wavelengths.shape
                            or not np.allclose(unl.wavelengths, pool.wavelengths, atol=1e-6)):
        raise ConfigError("data.unlabelled: the unlabelled cubes have other bands than the training data; add a "
                          "[data.grid] so every source is resampled to one band grid")
    if cfg.ssl.enabled:
        parts = [pool.x[i_tr]] + ([unl.x] if unl is not None and len(unl) else [])
        from ..models.layout import to_torch
        ssl_x = to_torch(np.concatenate(parts))
        ssl_aug = augment if cfg.ssl.augment is None else _batch_transform(
            build_augment(cfg.ssl.augment, pool.wavelengths), cfg.recipe, pool.wavelengths)
        if ssl_aug is None or len(ssl_aug) == 0:
            raise ConfigError("ssl.enabled: SimCLR needs augmentations to make its two views; set [augment] or "
                              "[ssl.augment]")
        res = pretrain_simclr(model, ssl_x, ssl_aug, epochs=cfg.ssl.epochs, batch_size=cfg.ssl.batch_size,
                              lr=cfg.ssl.lr, temperature=cfg.ssl.temperature, proj_dim=cfg.ssl.proj_dim,
                              seed=cfg.seed, device=cfg.device, progress=prog, deterministic=cfg.deterministic)
        extra["ssl_history"] = res.history
        write_json(res.history, out / "ssl_history.json", overwrite=True)
        say(f"SimCLR pretraining: {cfg.ssl.epochs} epochs on {ssl_x.shape[0]} unlabelled samples, final loss "
            f"{res.history[-1]['loss']:.3f}")
    o = cfg.optim
    common = dict(epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, weight_decay=o.weight_decay,
                  schedule=o.schedule, warmup_epochs=o.warmup_epochs, patience=o.patience, min_delta=o.min_delta,
                  monitor=o.monitor, augment=augment, balance=o.balance,
                  label_smoothing=o.label_smoothing, seed=cfg.seed, device=cfg.device,
                  deterministic=cfg.deterministic, progress=prog)
    if cfg.dann.enabled:
        if unl is None or len(unl) < 2:
            raise ConfigError("dann.enabled: the [[data.unlabelled]] cubes gave fewer than 2 target samples")
        result = train_dann(model, train, TensorSamples.from_samples(unl), val, lambda_max=cfg.dann.lambda_max,
                            gamma=cfg.dann.gamma, domain_weight=cfg.dann.domain_weight,
                            disc_hidden=cfg.dann.hidden, **common)
    else:
        result = fit(model, train, val, grad_clip=o.grad_clip, **common)
    model = result.model
    probs = predict_samples(model, test, device=cfg.device)
    test_metrics = classification_metrics(test.y.numpy(), probs.argmax(axis=1), pool.class_names)
    metrics = {"split": summary, "split_kind": summary["kind"], "optimistic": bool(summary.get("optimistic")),
               "note": OPTIMISTIC_NOTE if summary.get("optimistic") else "", "test": test_metrics,
               "n_train": int(i_tr.size), "n_val": int(i_va.size), "n_test": int(i_te.size),
               "best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "stopped_early": result.stopped_early, "train_seconds": result.seconds,
               "class_names": list(pool.class_names), "classes_left_out": dropped,
               "method": "dann" if cfg.dann.enabled else "supervised",
               "ssl_pretrained": bool(cfg.ssl.enabled)}
    if val is not None:
        vp = predict_samples(model, val, device=cfg.device)
        metrics["val"] = {k: v for k, v in classification_metrics(val.y.numpy(), vp.argmax(axis=1),
                                                                   pool.class_names).items()
                          if k in ("n", "oa", "aa", "kappa", "macro_f1")}
    note = f"; {OPTIMISTIC_NOTE}" if metrics["optimistic"] else ""
    say(f"test: OA {test_metrics['oa']:.3f}, AA {test_metrics['aa']:.3f}, kappa {test_metrics['kappa']:.3f} "
        f"on {test_metrics['n']} samples ({summary['kind']} split{note})")
    ckpt = out / cfg.output.checkpoint
    digest = save_model(model, ckpt, wavelengths=pre.wavelengths, class_names=pool.class_names,
                        recipe=cfg.recipe, overwrite=True,
                        extra={"split": {k: v for k, v in summary.items() if k != "cubes"},
                               "test_metrics": {k: test_metrics[k] for k in ("oa", "aa", "kappa", "n")},
                               "best_epoch": result.best_epoch, "train_config": cfg.to_dict()})
    metrics["model_hash"] = digest
    write_text(out / "config.toml", config_to_toml(cfg), overwrite=True)
    write_text(out / "config.json", config_to_json(cfg), overwrite=True)
    write_json(result.history, out / "history.json", overwrite=True)
    write_json(metrics, out / "metrics.json", overwrite=True)
    write_text(out / "per_class.csv", per_class_csv(test_metrics), overwrite=True)
    write_text(out / "confusion.csv", confusion_csv(test_metrics), overwrite=True)
    title = f"{summary['kind']} split" + (f" — {OPTIMISTIC_NOTE}" if metrics["optimistic"] else "")
    save_figure(plot_history(result.history, title=title), out / "curves.png", overwrite=True)
    save_figure(plot_confusion(test_metrics["confusion"], pool.class_names,
                               title=f"test OA {test_metrics['oa']:.3f} ({title})"), out / "confusion.png", overwrite=True)
    say(f"run folder: {out}")
    return RunResult(out, model, metrics, result.history, ckpt, pool.class_names, pre.wavelengths, extra)
