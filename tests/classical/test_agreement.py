"""Agreement with TSA: the scoring rules on hand-made answers whose figures are counted by hand."""
from __future__ import annotations

import numpy as np
import pytest

from hsimin.classical.agreement import compare_answers, compare_map
from hsimin.core import MineralMap, SpectrumTable
from hsimin.core.errors import InputError
from hsimin.io.tsg import TsaResults, tsa_results


def _tsa(min1, wt1, min2, wt2, error, run="sTSAS"):
    s = lambda v: np.array(v, dtype=str)  # noqa: E731
    f = lambda v: np.array([np.nan if x is None else x for x in v], np.float64)  # noqa: E731
    n = len(min1)
    return TsaResults(run, s(min1), s(min2), s([""] * n), s([""] * n), s([""] * n), f(wt1), f(wt2), f([None] * n),
                      f(error))


def test_group_scoring_by_hand():
    tsa = _tsa(["Kaolinite-WX", "Kaolinite-PX", "Montmorillonite", "Aspectral", "Wood", "Muscovite", "Dark", "Calcite"],
               [0.9, 0.5, 0.6, 1.0, 0.8, 0.75, None, 1.0],
               ["", "Montmorillonite", "Kaolinite-WX", "", "", "", "", ""],
               [None, 0.5, 0.3, None, None, None, None, None],
               [50, 60, 70, 90, 150, 250, None, 20])
    answers = ["dickite", "smectite", "smectite", "unknown", "wood", "white_mica", "kaolinite", ""]
    a = compare_answers(answers, tsa)
    # counted: 'Dark' is no TSA answer; '' is unclassified by hsimin -> 6 scored spectra
    assert a.n == 6 and a.n_unanswered == 1
    # agree with Min1 group: kaolin/kaolin yes, smectite/kaolin no, smectite/smectite yes, none/none yes (unknown vs
    # Aspectral), none/none yes (wood vs Wood), white_mica yes -> 5/6
    assert a.overall == pytest.approx(5 / 6)
    assert a.consistent == pytest.approx(6 / 6)          # the kaolin/smectite mixture accepts smectite
    # confident: wt1 >= 0.7 and error < 200: rows 0, 3, 4 (row 5's error 250, row 7 unanswered) -> all agree
    assert a.n_strict == 3 and a.strict == pytest.approx(1.0)
    assert a.n_mixtures == 2 and a.mixtures == pytest.approx(1.0)
    labels, M = a.confusion
    assert int(M.sum()) == 6 and M[labels.index("kaolin"), labels.index("smectite")] == 1
    assert a.per_group["kaolin"] == {"n": 2, "agree": 1, "consistent": 2, "answered_as": {"kaolin": 1, "smectite": 1}}


def test_vnir_is_scored_by_mineral():
    tsa = _tsa(["Goethite", "Hematite", "Goethite"], [1.0, 0.9, 0.5], ["", "", ""], [None] * 3, [None] * 3, "sTSAV")
    a = compare_answers(["goethite", "goethite", "hematite"], tsa, level="mineral")
    assert a.overall == pytest.approx(1 / 3) and a.n_strict == 2 and a.strict == pytest.approx(0.5)


def test_sizes_must_match():
    with pytest.raises(InputError, match="do not match"):
        compare_answers(["a"], _tsa(["Talc", "Talc"], [1, 1], ["", ""], [None] * 2, [1, 1]))


def test_compare_map_uses_the_table_and_refuses_another_package():
    t = SpectrumTable({"depth_m": [1.0, 2.0], "Min1 sTSAS": ["Talc", "Gypsum"], "Wt1 sTSAS": [1.0, 1.0],
                       "Error sTSAS": [10.0, 10.0]})
    mm = MineralMap(np.array([[0], [1]], np.int16), ["talc", "calcite"])
    a = compare_map(mm, t)
    assert a.overall == pytest.approx(0.5) and a.rows[1]["depth_m"] == 2.0 and tsa_results(t).run == "sTSAS"
    with pytest.raises(InputError, match="not a map of this package"):
        compare_map(MineralMap(np.zeros((3, 1), np.int16), ["talc"]), t)
    with pytest.raises(InputError, match="no TSA vnir"):
        compare_map(mm, t, run="vnir")
