"""The prospectivity workflow: layers and sites in; blocked-CV AUC of every model, a probability map of the
best one, A/B/C classes, success-rate curve and per-layer attributions out.

:func:`run_prospectivity` works on in-memory objects (a :class:`~hsimin.core.Raster` and site coordinates)
and returns a :class:`ProspectResult`; :func:`hsimin.prospect.outputs.write_outputs` writes it (through
:mod:`hsimin.io.raster`); :func:`hsimin.prospect.runs.run_files` and :func:`~hsimin.prospect.runs.run_demo` (files
in, files out) are the one library call behind ``hsimin prospect run`` and ``hsimin prospect demo``.

Protocol (all models on the same folds): k x k windows on the model-ready layers (transform, robust
scaling, no data filled with the median); positives at deposit cells; negatives from a site list or by
K-means; spatially blocked folds with purging, as many and as large as the sites allow
(:func:`~hsimin.prospect.windows.choose_blocked_folds`: 5 folds of 2k-cell blocks by default); each
network trained on augmented training windows (8 square symmetries + noise) of its fold only; AUC on the
fold's test sites, mean ± sd over folds. Optional: contrastive pretraining on unlabelled windows of the
whole area (no labels, so shared across folds), and a DANN transfer experiment between two halves of the
area.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import Raster
from .layers import PreparedLayers, prepare_layers
from .mapping import DEFAULT_THRESHOLDS, CLASS_NAMES, classify, histogram_thresholds, predict_map, success_rate_curve
from .sites import Sites, make_sites
from .windows import CVChoice, Fold, choose_blocked_folds, extract_windows, random_cells, windows_overlap

Progress = Callable[[str], None]


@dataclass
class ProspectConfig:
    """Everything that decides a prospectivity run (see ``hsimin prospect run --help``)."""

    window: int = 32
    models: Sequence[str] = ("ssgsnet", "resnet", "vit", "dualbranch", "random_forest")
    folds: int | None = None            # None: 5, or fewer when the sites cannot fill 5 (choose_blocked_folds)
    block_size: int | None = None       # None: 2 x window, or smaller when the sites need it
    transform: str = "log"
    raw_layers: Sequence[str] = ()
    negative_layer: str = "Au"
    n_negatives: int | None = None
    fault_layer: str | None = None
    pretrain: bool = False
    pretrain_windows: int = 2000
    transfer: str = "none"
    transfer_model: str = "ssgsnet"
    thresholds: Sequence[float] | str = DEFAULT_THRESHOLDS
    attribution: str = "shapley"
    attribution_samples: int = 25
    map_model: str = "best"
    extra_maps: Sequence[str] = ()
    map_batch: int = 1024
    threads: int | None = 1
    seed: int = 0
    train: Any = None  # TrainSettings; built lazily so this module imports without torch

    def __post_init__(self):
        if int(self.window) < 1:
            raise InputError(f"window must be >= 1 cell, got {self.window}")
        if self.transfer not in ("none", "dann"):
            raise InputError(f"transfer must be 'none' or 'dann', got {self.transfer!r}")
        if self.attribution not in ("none", "shapley", "ig"):
            raise InputError(f"attribution must be 'none', 'shapley' or 'ig', got {self.attribution!r}")
        if isinstance(self.thresholds, str) and self.thresholds != "histogram":
            raise InputError(f"thresholds must be three numbers or 'histogram', got {self.thresholds!r}")
        self.models = tuple(self.models)
        self.extra_maps = tuple(self.extra_maps)
        if not self.models:
            raise InputError("no models to run; give at least one (--models ssgsnet,...)")

    def settings(self):
        from .models import TrainSettings  # noqa: PLC0415 - torch side

        if self.train is None:
            self.train = TrainSettings(seed=self.seed)
        return self.train

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "train"}
        d["models"] = list(self.models)
        d["raw_layers"] = list(self.raw_layers)
        d["extra_maps"] = list(self.extra_maps)
        d["thresholds"] = self.thresholds if isinstance(self.thresholds, str) else list(self.thresholds)
        d["train"] = self.settings().to_dict()
        return d


@dataclass
class MapResult:
    """One model's map of the study area: probability (H, W) (NaN outside), classes (int8: 3 A, 2 B, 1 C,
    0 none, -1 outside), the A/B/C thresholds, the success-rate curve, attributions (or None), timings."""

    model: str
    probability: np.ndarray
    classes: np.ndarray
    thresholds: tuple
    success: dict
    attribution: dict | None
    seconds: dict = field(default_factory=dict)

    def summary(self, sites: Sites) -> dict:
        inside = np.isfinite(self.probability)
        n = max(int(inside.sum()), 1)
        return {"model": self.model,
                "thresholds": {"A": self.thresholds[0], "B": self.thresholds[1], "C": self.thresholds[2]},
                "class_area_fraction": {CLASS_NAMES[c]: float((self.classes == c).sum() / n) for c in (3, 2, 1)},
                "deposits_in_classes": _deposits_in_classes(self.classes, sites),
                "success_rate_auc": self.success["auc"], "attribution": self.attribution,
                "cells_mapped": int(inside.sum()), "seconds": self.seconds}


@dataclass
class ProspectResult:
    """What a run produced (arrays in memory; :func:`write_outputs` writes them). ``maps`` holds the map of
    ``map_model`` and of every extra map; ``probability``, ``classes``... are those of ``map_model``."""

    config: ProspectConfig
    layers: PreparedLayers
    sites: Sites
    folds: list[Fold]
    metrics: dict
    oof: dict
    best_model: str
    map_model: str
    maps: dict
    transfer: dict | None
    inputs: Raster | None = None
    site_counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    cv: CVChoice | None = None

    @property
    def main(self) -> MapResult:
        return self.maps[self.map_model]

    @property
    def probability(self) -> np.ndarray:
        return self.main.probability

    @property
    def classes(self) -> np.ndarray:
        return self.main.classes

    @property
    def thresholds(self) -> tuple:
        return self.main.thresholds

    @property
    def success(self) -> dict:
        return self.main.success

    @property
    def attribution(self) -> dict | None:
        return self.main.attribution

    def summary(self) -> dict:
        """Plain summary for ``summary.json``."""
        main = self.main.summary(self.sites)
        return {
            "best_model": self.best_model, "map_model": self.map_model,
            "auc": {m: {"mean": e["auc_mean"], "std": e["auc_std"], "pooled": e["auc_pooled"]}
                    for m, e in self.metrics.items()},
            "thresholds": {**main["thresholds"],
                           "mode": self.config.thresholds if isinstance(self.config.thresholds, str) else "fixed"},
            "class_area_fraction": main["class_area_fraction"],
            "success_rate_auc": main["success_rate_auc"],
            "deposits_in_classes": main["deposits_in_classes"],
            "n_sites": {"positive": int((self.sites.labels == 1).sum()), "negative": int((self.sites.labels == 0).sum())},
            "site_counts": self.site_counts,
            "cv": None if self.cv is None else self.cv.to_dict(),
            "folds": [{"n_train": int(f.train.size), "n_test": int(f.test.size), "n_purged": int(f.purged.size),
                       "test_positive": int((self.sites.labels[f.test] == 1).sum())} for f in self.folds],
            "layers": list(self.layers.raster.layer_names),
            "grid": {"shape": list(self.probability.shape), "transform": list(self.layers.raster.transform),
                     "crs": self.layers.raster.crs, "cells_mapped": main["cells_mapped"]},
            "recipe": self.layers.recipe(),
            "attribution": self.attribution,
            "maps": {name: m.summary(self.sites) for name, m in self.maps.items()},
            "transfer": self.transfer,
            "timings_s": self.timings,
            "config": self.config.to_dict(),
        }


def _deposits_in_classes(classes: np.ndarray, sites: Sites) -> dict:
    pos = sites.labels == 1
    c = classes[sites.rows[pos], sites.cols[pos]]
    return {CLASS_NAMES[k]: int((c == k).sum()) for k in (3, 2, 1, 0)}


def _auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))


def _set_threads(n: int | None) -> None:
    """Torch intra-op threads for the run. The default is 1: the networks here are small (windows of a few
    hundred cells, widths up to 128), so each op is too short to share between threads, and OpenMP threads that
    spin-wait on a busy machine made a 2-thread run 6x slower in wall time (16x in CPU time) than 1 thread in
    our measurements on a shared 2-core machine. Use more for ``size='paper'`` on a quiet machine. None leaves
    torch's setting alone."""
    import torch  # noqa: PLC0415

    if n:
        torch.set_num_threads(int(n))


# ------------------------------------------------------------------------------------------- pieces
def prepare(layers: Raster, config: ProspectConfig) -> PreparedLayers:
    """Model-ready layers: log/CLR on the element layers (all but ``raw_layers`` and the fault layer),
    robust scaling, no-data fill."""
    raw = set(config.raw_layers) | ({config.fault_layer} if config.fault_layer else set())
    missing = sorted(raw - set(layers.layer_names))
    if missing:
        raise InputError(f"raw layers {missing} are not among the layers {list(layers.layer_names)}")
    elements = [n for n in layers.layer_names if n not in raw]
    return prepare_layers(layers, config.transform, elements)


def cross_validate(prepared: PreparedLayers, sites: Sites, folds: Sequence[Fold], config: ProspectConfig,
                   models: Sequence[str] | None = None, progress: Progress | None = None,
                   pretrained: dict | None = None) -> tuple[dict, dict, dict]:
    """Blocked CV of each model on the same folds. Returns ``(metrics, oof, timings)``: ``metrics[name]`` =
    ``{auc_mean, auc_std, auc_pooled, folds: [...], train_seconds}``, ``oof[name]`` the out-of-fold
    probabilities of every site (NaN for a site never tested). With ``config.pretrain`` the networks start
    from ``pretrained`` weights (``{name: state_dict}``, computed by :func:`pretrain_states` if not given)."""
    from .models import create_prospect_model, is_network  # noqa: PLC0415

    say = progress or (lambda m: None)
    k = int(config.window)
    L = prepared.values.shape[2]
    X = extract_windows(prepared.values, sites.rows, sites.cols, k)
    y = sites.labels.astype(np.int64)
    if not config.pretrain:
        pretrained = {}
    elif pretrained is None:
        pretrained = pretrain_states(prepared, config, models or config.models, progress)
    metrics, oof, timings = {}, {}, {}
    for name in models or config.models:
        t0 = time.perf_counter()
        per_fold, pred = [], np.full(len(sites), np.nan)
        for i, f in enumerate(folds):
            model = create_prospect_model(name, L, k, config.settings())
            if is_network(model) and name in pretrained:
                model.init_state = pretrained[name]
            model.fit(X[f.train], y[f.train], seed=config.seed + i)
            p = model.predict_proba(X[f.test])
            pred[f.test] = p
            per_fold.append({"fold": i, "auc": _auc(y[f.test], p), "n_train": int(f.train.size),
                             "n_test": int(f.test.size), "n_test_positive": int((y[f.test] == 1).sum()),
                             "n_purged": int(f.purged.size)})
        aucs = np.array([e["auc"] for e in per_fold], dtype=float)
        tested = np.isfinite(pred)
        metrics[name] = {"auc_mean": float(np.nanmean(aucs)), "auc_std": float(np.nanstd(aucs)),
                         "auc_pooled": _auc(y[tested], pred[tested]), "folds": per_fold,
                         "pretrained": name in pretrained, "train_seconds": time.perf_counter() - t0}
        oof[name] = pred
        timings[f"cv_{name}"] = time.perf_counter() - t0
        say(f"{name}: blocked {len(folds)}-fold CV AUC {metrics[name]['auc_mean']:.3f} ± "
            f"{metrics[name]['auc_std']:.3f} ({timings[f'cv_{name}']:.0f} s)")
    return metrics, oof, timings


def pretrain_states(prepared: PreparedLayers, config: ProspectConfig, models: Sequence[str],
                    progress: Progress | None = None) -> dict:
    """Contrastive pretraining of each network model on ``config.pretrain_windows`` random unlabelled
    windows of the study area; ``{name: state_dict}``. Labels are not used, so the weights serve all folds."""
    from .models import create_prospect_model, is_network  # noqa: PLC0415

    say = progress or (lambda m: None)
    k = int(config.window)
    rng = np.random.default_rng(config.seed + 7)
    r, c = random_cells(prepared.mask, config.pretrain_windows, rng)
    U = extract_windows(prepared.values, r, c, k)
    states = {}
    for name in models:
        model = create_prospect_model(name, U.shape[-1], k, config.settings())
        if not is_network(model):
            continue
        t0 = time.perf_counter()
        hist = model.pretrain(U, seed=config.seed)
        states[name] = model.init_state
        say(f"{name}: contrastive pretraining on {len(U)} windows, NT-Xent {hist['loss'][0]:.3f} -> "
            f"{hist['loss'][-1]:.3f} ({time.perf_counter() - t0:.0f} s)")
    return states


def split_area(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of a study area: cells on either side of the median along the area's long (first
    principal) axis. Returns two boolean masks."""
    r, c = np.nonzero(mask)
    xy = np.column_stack([c, -r]).astype(float)
    xy -= xy.mean(axis=0)
    _, _, vt = np.linalg.svd(xy, full_matrices=False)
    t = xy @ vt[0]
    first = np.zeros(mask.shape, bool)
    first[r, c] = t <= np.median(t)
    return first, mask & ~first


def transfer_dann(prepared: PreparedLayers, sites: Sites, config: ProspectConfig,
                  progress: Progress | None = None) -> dict:
    """DANN transfer between the two halves of the area (:func:`split_area`): train on the half with more
    deposits (source), adapt to the other (target) with its unlabelled windows, and report the AUC on the
    target's labelled sites for the source-only model and the DANN model (same network, same seed). Source
    sites whose windows overlap a target site's window are left out."""
    from .models import create_prospect_model, is_network  # noqa: PLC0415

    say = progress or (lambda m: None)
    k = int(config.window)
    a, b = split_area(prepared.mask)
    in_a = a[sites.rows, sites.cols]
    pos = sites.labels == 1
    src_mask, tgt_mask, src_sel = (a, b, in_a) if (pos & in_a).sum() >= (pos & ~in_a).sum() else (b, a, ~in_a)
    tgt_sel = ~src_sel
    y = sites.labels.astype(np.int64)
    if len(np.unique(y[tgt_sel])) < 2 or len(np.unique(y[src_sel])) < 2:
        raise InputError("each half of the area needs positive and negative sites for the DANN experiment; "
                         "run without --transfer dann")
    src_idx, tgt_idx = np.flatnonzero(src_sel), np.flatnonzero(tgt_sel)
    clash = windows_overlap(sites.rows[src_idx], sites.cols[src_idx], sites.rows[tgt_idx], sites.cols[tgt_idx],
                            k).any(axis=1)
    src_idx = src_idx[~clash]
    X = extract_windows(prepared.values, sites.rows, sites.cols, k)
    rng = np.random.default_rng(config.seed + 11)
    tr, tc = random_cells(tgt_mask, max(64, config.pretrain_windows // 2), rng)
    XT = extract_windows(prepared.values, tr, tc, k)
    L = X.shape[-1]
    out = {"model": config.transfer_model, "n_source_sites": int(src_idx.size), "n_target_sites": int(tgt_idx.size),
           "n_source_purged": int(clash.sum()), "n_target_windows": int(len(XT)),
           "split": "halves of the area along its long axis; source = the half with more deposits"}
    t0 = time.perf_counter()
    base = create_prospect_model(config.transfer_model, L, k, config.settings())
    if not is_network(base):
        raise InputError(f"DANN needs a network model, not {config.transfer_model!r}; use --transfer-model ssgsnet")
    base.fit(X[src_idx], y[src_idx], seed=config.seed)
    out["auc_source_only"] = _auc(y[tgt_idx], base.predict_proba(X[tgt_idx]))
    dann = create_prospect_model(config.transfer_model, L, k, config.settings())
    dann.fit_dann(X[src_idx], y[src_idx], XT, seed=config.seed)
    out["auc_dann"] = _auc(y[tgt_idx], dann.predict_proba(X[tgt_idx]))
    out["seconds"] = time.perf_counter() - t0
    say(f"DANN transfer ({config.transfer_model}): target-half AUC source-only {out['auc_source_only']:.3f}, "
        f"DANN {out['auc_dann']:.3f}")
    return out


def attribute(model, prepared: PreparedLayers, sites: Sites, config: ProspectConfig) -> dict:
    """Captum attributions of ``model`` over the input layers at every site window; a summary dict."""
    from ..models import to_torch  # noqa: PLC0415
    from .attribution import layer_attributions, summarise  # noqa: PLC0415
    from .models import is_network  # noqa: PLC0415

    method = config.attribution
    note = None
    if method == "ig" and not is_network(model):
        method, note = "shapley", "integrated gradients need a differentiable model; used Shapley sampling"
    X = to_torch(extract_windows(prepared.values, sites.rows, sites.cols, int(config.window))).contiguous()
    A = layer_attributions(model.forward_fn(), X, method=method, n_samples=config.attribution_samples,
                           seed=config.seed)
    out = summarise(A, list(prepared.raster.layer_names), sites.labels)
    out.update({"method": method, "model": model.name, "n_windows": int(len(X)), "baseline": "0 (study-area median)"})
    if note:
        out["note"] = note
    return out


def map_with(name: str, prepared: PreparedLayers, sites: Sites, config: ProspectConfig,
             init_state: dict | None = None, progress: Progress | None = None) -> MapResult:
    """Fit model ``name`` on every site, map every cell of the study area, classify, success-rate curve and
    (unless ``config.attribution == 'none'``) attributions."""
    from .models import create_prospect_model  # noqa: PLC0415

    say = progress or (lambda m: None)
    k = int(config.window)
    seconds = {}
    t0 = time.perf_counter()
    X = extract_windows(prepared.values, sites.rows, sites.cols, k)
    model = create_prospect_model(name, X.shape[-1], k, config.settings())
    if init_state is not None:
        model.init_state = init_state
    model.fit(X, sites.labels.astype(np.int64), seed=config.seed)
    seconds["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prob = predict_map(model.predict_proba, prepared.values, prepared.mask, k, batch_size=config.map_batch)
    seconds["map"] = time.perf_counter() - t0
    say(f"{name}: fitted on all sites in {seconds['fit']:.0f} s, mapped {int(prepared.mask.sum())} cells in "
        f"{seconds['map']:.0f} s")
    thresholds = (histogram_thresholds(prob) if isinstance(config.thresholds, str)
                  else tuple(float(t) for t in config.thresholds))
    classes = classify(prob, thresholds)
    pos = sites.labels == 1
    success = success_rate_curve(prob, sites.rows[pos], sites.cols[pos])
    attribution = None
    if config.attribution != "none":
        t0 = time.perf_counter()
        attribution = attribute(model, prepared, sites, config)
        seconds["attribution"] = time.perf_counter() - t0
        say(f"{name}: attributions ({attribution['method']}), most important layers "
            f"{', '.join(attribution['rank'][:5])}")
    return MapResult(name, prob, classes, thresholds, success, attribution, seconds)


# ------------------------------------------------------------------------------------------- the run
def run_prospectivity(layers: Raster, deposits_xy: tuple, negatives_xy: tuple | None = None,
                      config: ProspectConfig | None = None, *, deposit_ids=None, negative_ids=None,
                      progress: Progress | None = None) -> ProspectResult:
    """The whole workflow on in-memory inputs.

    Parameters
    ----------
    layers : raw evidence layers on one grid (element grids in their units, fault layer...), with the
        study-area mask
    deposits_xy, negatives_xy : ``(x, y)`` arrays in the layers' CRS; without negatives they are chosen by
        K-means on ``config.negative_layer``
    """
    config = config or ProspectConfig()
    say = progress or (lambda m: None)
    _set_threads(config.threads)
    unknown = [m for m in config.models if m not in _model_names()]
    if unknown:
        raise InputError(f"unknown models {unknown}; choose from {', '.join(_model_names())}")
    t_all = time.perf_counter()
    timings: dict = {}
    prepared = prepare(layers, config)
    k = int(config.window)
    scored = Raster(layers.values, layers.transform, layers.crs, layers.layer_names, mask=prepared.mask)
    sites = make_sites(scored, deposits_xy, negatives_xy, negative_layer=config.negative_layer,
                       n_negatives=config.n_negatives, fault_layer=config.fault_layer, seed=config.seed,
                       deposit_ids=deposit_ids, negative_ids=negative_ids)
    sites = _sites_on_mask(sites, prepared.mask)
    n_pos, n_neg = int((sites.labels == 1).sum()), int((sites.labels == 0).sum())
    site_counts = {"deposits_given": int(len(deposits_xy[0])), "deposit_cells_used": n_pos,
                   "negatives_given": None if negatives_xy is None else int(len(negatives_xy[0])),
                   "negative_cells_used": n_neg}
    say(f"{int(prepared.mask.sum())} cells in the study area, {prepared.values.shape[2]} layers; {n_pos} deposit "
        f"cells (of {len(deposits_xy[0])} deposits given) and {n_neg} negative sites; {k} x {k} windows")
    folds, cv = choose_blocked_folds(sites.rows, sites.cols, sites.labels, k, config.folds, config.block_size,
                                     seed=config.seed, shape=prepared.mask.shape)
    say(cv.describe())
    t0 = time.perf_counter()
    pretrained = pretrain_states(prepared, config, config.models, say) if config.pretrain else {}
    if config.pretrain:
        timings["pretrain"] = time.perf_counter() - t0
    metrics, oof, t_cv = cross_validate(prepared, sites, folds, config, progress=say, pretrained=pretrained)
    timings.update(t_cv)
    best = max(metrics, key=lambda m: (np.nan_to_num(metrics[m]["auc_mean"], nan=-1.0), -metrics[m]["auc_std"]))
    chosen = best if config.map_model == "best" else config.map_model

    maps = {}
    for name in dict.fromkeys((chosen, *config.extra_maps)):
        if name not in _model_names():
            raise InputError(f"map model {name!r} is unknown; choose from {', '.join(_model_names())}")
        maps[name] = map_with(name, prepared, sites, config, pretrained.get(name), say)
        timings[f"map_{name}"] = sum(maps[name].seconds.values())
    transfer = None
    if config.transfer == "dann":
        transfer = transfer_dann(prepared, sites, config, say)
        timings["transfer"] = transfer["seconds"]
    timings["total"] = time.perf_counter() - t_all
    return ProspectResult(config, prepared, sites, folds, metrics, oof, best, chosen, maps, transfer, scored,
                          site_counts, timings, cv)


def _model_names() -> list[str]:
    from .models import MODELS  # noqa: PLC0415

    return list(MODELS)


def _sites_on_mask(sites: Sites, mask: np.ndarray) -> Sites:
    keep = mask[sites.rows, sites.cols]
    if not keep.all():
        sites = sites.subset(keep)
    if not (np.any(sites.labels == 1) and np.any(sites.labels == 0)):
        raise InputError("after masking, the sites lack deposits or negatives; check the mask and the site CRS")
    return sites
