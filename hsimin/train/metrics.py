"""Classification metrics (numpy only): overall accuracy (OA), average accuracy (AA, the mean per-class
recall), Cohen's kappa, per-class precision / recall / F1 / support and the confusion matrix, plus their CSV
text. Plots are in :mod:`hsimin.train.plots`; the run folder writer in :mod:`hsimin.train.run`.
"""
from __future__ import annotations

import csv
import io
from typing import Sequence

import numpy as np

from ..core.errors import InputError

__all__ = ["classification_metrics", "confusion_csv", "confusion_matrix", "per_class_csv"]


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class.

    Samples whose true label is outside ``0..K-1`` (e.g. -1 = unlabelled) are ignored; predictions outside it
    (e.g. -1 = unknown) count in no column, so they lower the row's recall but no class's precision.
    """
    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise InputError(f"y_true has {t.size} labels but y_pred {p.size}")
    K = int(num_classes)
    keep = (t >= 0) & (t < K) & (p >= 0) & (p < K)
    cm = np.zeros((K, K), dtype=np.int64)
    np.add.at(cm, (t[keep], p[keep]), 1)
    return cm


def classification_metrics(y_true, y_pred, class_names: Sequence[str]) -> dict:
    """Metrics of predictions against true labels.

    Parameters
    ----------
    y_true : (N,) int, class index (values outside ``0..K-1`` are ignored: unlabelled)
    y_pred : (N,) int, predicted class index (-1 = unknown/unclassified: counted as wrong)
    class_names : K names

    Returns a plain dict: ``n`` (samples scored), ``oa``, ``aa`` (mean recall over classes with support),
    ``kappa`` (Cohen's), ``macro_f1`` (mean F1 over classes with support), ``n_unknown`` (predicted -1),
    ``per_class`` (list of {class, precision, recall, f1, support}; NaN-free: 0 where undefined) and
    ``confusion`` (K x K list, rows true, columns predicted), ``class_names``.
    """
    names = [str(c) for c in class_names]
    K = len(names)
    t = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(y_pred).reshape(-1).astype(np.int64)
    if t.shape != p.shape:
        raise InputError(f"y_true has {t.size} labels but y_pred {p.size}")
    scored = (t >= 0) & (t < K)
    n = int(scored.sum())
    cm = confusion_matrix(t, p, K)
    support = np.bincount(t[scored], minlength=K)[:K]          # includes samples predicted 'unknown'
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        precision = np.where(pred_count > 0, tp / np.maximum(pred_count, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
    has = support > 0
    oa = float(tp.sum() / n) if n else 0.0
    aa = float(recall[has].mean()) if has.any() else 0.0
    pe = float((support.astype(np.float64) * pred_count).sum() / (n * n)) if n else 0.0
    kappa = float((oa - pe) / (1.0 - pe)) if n and pe < 1.0 else 0.0
    per_class = [{"class": names[k], "precision": float(precision[k]), "recall": float(recall[k]),
                  "f1": float(f1[k]), "support": int(support[k])} for k in range(K)]
    return {"n": n, "oa": oa, "aa": aa, "kappa": kappa, "macro_f1": float(f1[has].mean()) if has.any() else 0.0,
            "n_unknown": int((scored & (p < 0)).sum()), "per_class": per_class, "confusion": cm.tolist(),
            "class_names": names}


def per_class_csv(metrics: dict) -> str:
    """CSV text of the per-class table: ``class,precision,recall,f1,support`` (4 decimals)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "precision", "recall", "f1", "support"])
    for row in metrics["per_class"]:
        w.writerow([row["class"], f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                    row["support"]])
    return buf.getvalue()


def confusion_csv(metrics: dict) -> str:
    """CSV text of the confusion matrix: header ``true\\predicted,<class>...``, one row per true class."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = metrics["class_names"]
    w.writerow(["true\\predicted", *names])
    for name, row in zip(names, metrics["confusion"]):
        w.writerow([name, *row])
    return buf.getvalue()
