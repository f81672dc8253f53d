"""Metrics against hand counts and scikit-learn; CSV text."""
import csv
import io

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix as sk_confusion, precision_recall_fscore_support

from hsimin.train.metrics import classification_metrics, confusion_csv, confusion_matrix, per_class_csv

NAMES = ["a", "b", "c"]


def test_hand_computed_example():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 1, 0, 2, 2, 1])
    m = classification_metrics(y, p, NAMES)
    assert m["n"] == 10 and m["oa"] == pytest.approx(0.7)
    assert m["aa"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)
    # kappa: po = 0.7, pe = (4*4 + 3*4 + 3*2) / 100 = 0.34
    assert m["kappa"] == pytest.approx((0.7 - 0.34) / (1 - 0.34))
    assert m["confusion"] == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert m["per_class"][1] == {"class": "b", "precision": pytest.approx(0.5), "recall": pytest.approx(2 / 3),
                                 "f1": pytest.approx(4 / 7), "support": 3}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    m = classification_metrics(y, p, list("wxyz"))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y, p))
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=range(4), zero_division=0)
    assert [r["precision"] for r in m["per_class"]] == pytest.approx(pr)
    assert [r["recall"] for r in m["per_class"]] == pytest.approx(rc)
    assert [r["f1"] for r in m["per_class"]] == pytest.approx(f1)
    assert np.array_equal(np.array(m["confusion"]), sk_confusion(y, p, labels=range(4)))
    assert m["aa"] == pytest.approx(rc.mean()) and m["oa"] == pytest.approx(np.mean(y == p))


def test_unlabelled_truth_ignored_and_unknown_predictions_count_wrong():
    y = np.array([0, 1, -1, 2, 2])
    p = np.array([0, 1, 2, -1, 2])
    m = classification_metrics(y, p, NAMES)
    assert m["n"] == 4 and m["oa"] == pytest.approx(0.75) and m["n_unknown"] == 1
    assert m["per_class"][2]["support"] == 2 and m["per_class"][2]["recall"] == pytest.approx(0.5)
    assert confusion_matrix(y, p, 3).sum() == 3
    empty = classification_metrics([], [], NAMES)
    assert empty["oa"] == 0.0 and empty["kappa"] == 0.0


def test_csv_text():
    m = classification_metrics([0, 1, 1], [0, 1, 0], ["x", "y"])
    rows = list(csv.reader(io.StringIO(per_class_csv(m))))
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert rows[2] == ["y", "1.0000", "0.5000", "0.6667", "2"]
    cm = list(csv.reader(io.StringIO(confusion_csv(m))))
    assert cm == [["true\\predicted", "x", "y"], ["x", "1", "0"], ["y", "1", "1"]]
