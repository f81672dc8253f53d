"""A prospectivity run's files: metrics, summary, maps (HDF5 raster schema, PNG, optional GeoTIFF), the evidence
layers as used, the sites with their out-of-fold scores, ROC and success-rate curves, attributions; written as one
unit with ``metrics.json`` last."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.types import Raster
from .workflow import ProspectResult

__all__ = ["OUTPUT_FILES", "write_outputs"]

OUTPUT_FILES = ("metrics.json", "summary.json", "prospectivity.h5", "layers.h5", "sites_used.csv",
                "prospectivity_map.png", "roc.png", "success_rate.png", "attributions.png", "layers.png")


def write_outputs(result: ProspectResult, out_dir: str | os.PathLike, *, overwrite: bool = False,
                  geotiff: bool = False, negatives_shown: tuple | None = None) -> list[Path]:
    """Write a run's outputs into ``out_dir`` (created if missing): ``metrics.json`` ({model: {auc_mean,
    auc_std, folds}}), ``summary.json``, ``prospectivity.h5`` (probability + classes of the mapped model, hsimin
    raster schema), ``layers.h5`` (the evidence layers as used, in their units, with the scaling recipe),
    ``sites_used.csv``, PNGs (map with deposits and classes, ROC, success-rate, attributions, layers) and, with
    ``geotiff``, ``prospectivity.tif``. Extra maps get the same files with a ``_<model>`` suffix. The files are
    committed as one unit (:func:`hsimin.io.output_group`), ``metrics.json`` last: a run that failed while writing
    (a full disk) leaves none of them, and a folder with ``metrics.json`` holds a complete run."""
    from ..io.atomic import output_group  # noqa: PLC0415

    with output_group():
        return _write_outputs(result, out_dir, overwrite=overwrite, geotiff=geotiff, negatives_shown=negatives_shown)


def _write_outputs(result: ProspectResult, out_dir, *, overwrite: bool, geotiff: bool,
                   negatives_shown: tuple | None) -> list[Path]:
    from ..io.raster import prepare_output_folder, write_geotiff, write_raster_h5, write_sites_csv  # noqa: PLC0415
    from ..io.writers import save_figure, write_json  # noqa: PLC0415
    from . import plots  # noqa: PLC0415

    out = prepare_output_folder(out_dir, overwrite=True)   # each file below refuses to overwrite on its own
    r = result
    written: list[Path] = []
    metrics = {m: {"auc_mean": e["auc_mean"], "auc_std": e["auc_std"], "auc_pooled": e["auc_pooled"],
                   "folds": e["folds"], "pretrained": e["pretrained"], "train_seconds": e["train_seconds"]}
               for m, e in r.metrics.items()}
    written.append(write_json(r.summary(), out / "summary.json", overwrite=overwrite))
    grid = r.layers.raster
    cls_attrs = {"-1": "outside", "0": "none", "1": "C", "2": "B", "3": "A"}
    rasters = {}
    for name, m in r.maps.items():
        suffix = "" if name == r.map_model else f"_{name}"
        rasters[name] = Raster(m.probability, grid.transform, grid.crs, ["prospectivity"],
                               mask=np.isfinite(m.probability))
        written.append(write_raster_h5(rasters[name], out / f"prospectivity{suffix}.h5", overwrite=overwrite,
                                       extra={"classes": m.classes},
                                       attrs={"model": name, "thresholds_ABC": list(m.thresholds),
                                              "classes": cls_attrs, "best_model": r.best_model,
                                              "auc_mean": r.metrics.get(name, {}).get("auc_mean")}))
    if r.inputs is not None:     # the evidence layers as used (built buffers/IDW included), in their own units
        written.append(write_raster_h5(r.inputs, out / "layers.h5", overwrite=overwrite,
                                       attrs={"recipe": r.layers.recipe(),
                                              "note": "raw layers; the models see them after the recipe"}))
    s = r.sites
    fold_of = np.full(len(s), -1)
    for i, f in enumerate(r.folds):
        fold_of[f.test] = i
    oof_cols = {f"oof_{m}": [("" if not np.isfinite(v) else f"{v:.6f}") for v in p] for m, p in r.oof.items()}
    written.append(write_sites_csv(out / "sites_used.csv", s.x, s.y, s.labels, s.ids,
                                   extra={"row": s.rows, "col": s.cols, "test_fold": fold_of, **oof_cols},
                                   overwrite=overwrite))
    pos = s.labels == 1
    dep_xy = (s.x[pos], s.y[pos])
    neg_xy = negatives_shown or (s.x[~pos], s.y[~pos])
    for name, m in r.maps.items():
        suffix = "" if name == r.map_model else f"_{name}"
        auc_txt = r.metrics.get(name, {}).get("auc_mean", float("nan"))
        fig = plots.map_figure(m.probability, m.classes, grid.transform, dep_xy, neg_xy, thresholds=m.thresholds,
                               title=f"Prospectivity, {name} (blocked-CV AUC {auc_txt:.3f})", crs=grid.crs)
        written.append(save_figure(fig, out / f"prospectivity_map{suffix}.png", overwrite=overwrite))
        if m.attribution:
            a = m.attribution
            fig = plots.attribution_figure(a["layers"], a["mean_abs"], a["mean_positive"], a["method"], a["model"])
            written.append(save_figure(fig, out / f"attributions{suffix}.png", overwrite=overwrite))
    curves = {}
    from sklearn.metrics import roc_curve  # noqa: PLC0415

    y = s.labels.astype(int)
    for m, p in r.oof.items():
        ok = np.isfinite(p)
        if len(np.unique(y[ok])) == 2:
            fpr, tpr, _ = roc_curve(y[ok], p[ok])
            curves[m] = {"fpr": fpr, "tpr": tpr, "auc_mean": r.metrics[m]["auc_mean"], "auc_std": r.metrics[m]["auc_std"]}
    written.append(save_figure(plots.roc_figure(curves), out / "roc.png", overwrite=overwrite))
    written.append(save_figure(plots.success_rate_figure({n: m.success for n, m in r.maps.items()}),
                               out / "success_rate.png", overwrite=overwrite))
    fig = plots.layers_figure(grid.values, grid.mask, grid.layer_names, grid.transform, dep_xy)
    written.append(save_figure(fig, out / "layers.png", overwrite=overwrite))
    if geotiff:
        for name in r.maps:
            suffix = "" if name == r.map_model else f"_{name}"
            written.append(write_geotiff(rasters[name], out / f"prospectivity{suffix}.tif", overwrite=overwrite))
    written.append(write_json(metrics, out / "metrics.json", overwrite=overwrite))   # last: marks a complete run
    return written
