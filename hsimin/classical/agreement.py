"""Agreement of hsimin's answers with a reference interpretation: CSIRO TSA's, as a TSG package carries it.

TSA (The Spectral Assistant, inside TSG) gives every HyLogger spectrum up to three minerals with weights and an
error of fit. It is an expert system with CSIRO's own training library, not XRD truth, but it is the industry's
reference: "how does hsimin compare with TSG on my hole?" is the first question a geologist asks. This module
answers it from two aligned sequences, hsimin's class name per spectrum and the package's TSA columns
(:func:`hsimin.io.tsg.tsa_results`), with no file access (:mod:`hsimin.io.comparison` writes the products).

How answers are scored (the choices, so they can be argued with)
---------------------------------------------------------------
- Both sides are mapped to hsimin's vocabulary (:func:`hsimin.core.vocabulary.tsa_mineral`) and compared by
  **group** for the SWIR (kaolin, white mica, smectite, chlorite, carbonate, sulfate, talc, pyrophyllite...:
  what a SWIR scanner can tell apart reliably and what a logger reports), by **mineral** for the VNIR (goethite
  vs hematite vs jarosite is the point of the VNIR answer).
- TSA's ``Aspectral`` and ``Wood`` (and its tray and marker names) and hsimin's ``aspectral``, ``unknown`` and
  tray artefacts are all "no mineral" (group ``none``): they agree with each other.
- Spectra where TSA gives no answer (empty, ``Dark``, ``Noisy``, ``HighError``, ``MaskedOff``) are left out; so
  are spectra hsimin left unclassified (masked): they count in ``n_unanswered``.
- **overall**: hsimin's group equals TSA's Min1 group, over every spectrum TSA names.
- **strict**: the same on TSA's confident calls (``Wt1 >= 0.7`` and ``Error < 200``; VNIR: ``Wt1 >= 0.7``).
- **consistent**: hsimin's group is Min1's, or Min2's where TSA weighs Min2 at 0.25 or more (a mixture).
- **mixtures**: of the spectra where TSA calls a mixture (Min2 weight >= 0.25), the fraction where hsimin's
  answer is one of its two minerals' groups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..core.errors import InputError
from ..core.vocabulary import NO_MINERAL, answer_group, mineral_name, tsa_mineral

__all__ = ["CONFIDENT_ERROR", "CONFIDENT_WEIGHT", "MIXTURE_WEIGHT", "Agreement", "compare_answers", "compare_map"]

CONFIDENT_WEIGHT = 0.7
"""TSA Min1 weight at and above which a call counts as confident (strict agreement)."""
CONFIDENT_ERROR = 200.0
"""TSA error below which a SWIR call counts as confident."""
MIXTURE_WEIGHT = 0.25
"""TSA Min2 weight at and above which Min2 is a real second mineral (consistent agreement, mixtures)."""


@dataclass
class Agreement:
    """The agreement of one map with TSA over one package (see the module docstring).

    level : ``'group'`` (SWIR) or ``'mineral'`` (VNIR)
    overall, strict, consistent, mixtures : fractions in [0, 1] (NaN when no spectrum counts)
    n, n_strict, n_mixtures : spectra each figure is over; n_unanswered : TSA named it, hsimin left it unclassified
    per_group : TSA Min1 group -> {"n", "agree", "consistent", "answered_as"} (hsimin's answers, counted)
    confusion : (labels, matrix) with rows TSA's Min1 group and columns hsimin's group (counts)
    rows : per spectrum, a dict of the facts (index, depth, TSA min1/wt1/min2/wt2/error, hsimin answer, groups,
        agree, consistent, confident); for the CSV and the strip log
    """

    level: str
    run: str
    overall: float
    strict: float
    consistent: float
    mixtures: float
    n: int
    n_strict: int
    n_mixtures: int
    n_unanswered: int
    per_group: dict = field(default_factory=dict)
    confusion: tuple = ((), np.zeros((0, 0), np.int64))
    rows: list = field(default_factory=list)

    def summary(self) -> dict:
        """The figures as a JSON-able dict (no per-spectrum rows)."""
        def f(x):
            return None if x != x else round(float(x), 4)
        labels, m = self.confusion
        return {"level": self.level, "tsa_run": self.run, "overall": f(self.overall), "strict": f(self.strict),
                "consistent": f(self.consistent), "mixtures": f(self.mixtures), "n": self.n,
                "n_strict": self.n_strict, "n_mixtures": self.n_mixtures, "n_unanswered": self.n_unanswered,
                "per_group": self.per_group, "confusion": {"labels": list(labels), "counts": m.tolist()}}

    def line(self) -> str:
        """One line for a terminal or a report."""
        def pc(x):
            return "n/a" if x != x else f"{100 * x:.0f}%"
        return (f"agreement with TSA ({self.run}, by {self.level}) on {self.n} spectra: overall {pc(self.overall)}, "
                f"consistent {pc(self.consistent)}, strict {pc(self.strict)} ({self.n_strict} confident)"
                + (f", mixtures {pc(self.mixtures)} ({self.n_mixtures})" if self.n_mixtures else ""))


def _key(name: str, level: str) -> str:
    if level == "group":
        return answer_group(name)
    m = mineral_name(name) if name else ""
    return "" if not m else (NO_MINERAL if answer_group(m) == NO_MINERAL else m)


def compare_answers(answers: Sequence[str], tsa, *, level: str = "group", depth=None, second=None,
                    second_weight=None) -> Agreement:
    """Agreement of hsimin's answers with TSA's.

    Parameters
    ----------
    answers : (N,) hsimin class names per spectrum, in the package's order (``''`` where unclassified)
    tsa : :class:`hsimin.io.tsg.TsaResults` of the same package (N spectra)
    level : ``'group'`` (SWIR answers) or ``'mineral'`` (VNIR answers)
    depth : (N,) depths in m, or None; only carried into ``rows``
    second, second_weight : (N,) hsimin's second mineral ('' none) and its weight, or None; only carried into
        ``rows`` (the strip log draws them); the scores use ``answers``

    Returns an :class:`Agreement`.
    """
    if level not in ("group", "mineral"):
        raise InputError(f"level must be 'group' or 'mineral', got {level!r}")
    ans = [str(a) for a in answers]
    N = len(tsa)
    if len(ans) != N:
        raise InputError(f"{len(ans)} answers for {N} TSA results: the map and the package do not match (a map of "
                         "this package holds one label per spectrum, in file order)")
    depth = np.full(N, np.nan) if depth is None else np.asarray(depth, np.float64).reshape(-1)
    wt1, wt2, err = (np.asarray(x, np.float64) for x in (tsa.wt1, tsa.wt2, tsa.error))
    rows, per = [], {}
    n = n_s = g = g_s = c = n_m = g_m = unanswered = 0
    conf_pairs = []
    for i in range(N):
        t1 = tsa_mineral(tsa.min1[i])
        if not t1:
            continue
        k1 = _key(t1, level)
        t2 = tsa_mineral(tsa.min2[i]) if level == "group" else ""
        mixed = bool(t2) and np.isfinite(wt2[i]) and wt2[i] >= MIXTURE_WEIGHT
        ok = {k1} | ({_key(t2, level)} if mixed else set())
        got = _key(ans[i], level)
        confident = np.isfinite(wt1[i]) and wt1[i] >= CONFIDENT_WEIGHT and (
            level == "mineral" or (np.isfinite(err[i]) and 0 <= err[i] < CONFIDENT_ERROR))
        row = {"index": i, "depth_m": None if not np.isfinite(depth[i]) else float(depth[i]),
               "tsa_min1": str(tsa.min1[i]), "tsa_wt1": None if not np.isfinite(wt1[i]) else float(wt1[i]),
               "tsa_min2": str(tsa.min2[i]), "tsa_wt2": None if not np.isfinite(wt2[i]) else float(wt2[i]),
               "tsa_error": None if not np.isfinite(err[i]) else float(err[i]), "tsa_group": k1,
               "hsimin": ans[i], "hsimin_group": got, "confident": bool(confident), "mixture": bool(mixed),
               "hsimin_min2": "" if second is None else str(second[i]),
               "hsimin_wt2": None if second_weight is None or not np.isfinite(second_weight[i])
               else float(second_weight[i])}
        if not got:
            unanswered += 1
            row.update(agree=None, consistent=None)
            rows.append(row)
            continue
        agree, cons = got == k1, got in ok
        row.update(agree=bool(agree), consistent=bool(cons))
        rows.append(row)
        n += 1
        g += agree
        c += cons
        if confident:
            n_s += 1
            g_s += agree
        if mixed:
            n_m += 1
            g_m += cons
        p = per.setdefault(k1, {"n": 0, "agree": 0, "consistent": 0, "answered_as": {}})
        p["n"] += 1
        p["agree"] += int(agree)
        p["consistent"] += int(cons)
        p["answered_as"][got] = p["answered_as"].get(got, 0) + 1
        conf_pairs.append((k1, got))
    for p in per.values():
        p["answered_as"] = dict(sorted(p["answered_as"].items(), key=lambda kv: -kv[1]))
    labels = sorted({a for a, _ in conf_pairs} | {b for _, b in conf_pairs}, key=lambda x: (x == NO_MINERAL, x))
    idx = {k: j for j, k in enumerate(labels)}
    M = np.zeros((len(labels), len(labels)), np.int64)
    for a, b in conf_pairs:
        M[idx[a], idx[b]] += 1

    def frac(a, b):
        return a / b if b else float("nan")
    return Agreement(level=level, run=tsa.run, overall=frac(g, n), strict=frac(g_s, n_s), consistent=frac(c, n),
                     mixtures=frac(g_m, n_m), n=n, n_strict=n_s, n_mixtures=n_m, n_unanswered=unanswered,
                     per_group=dict(sorted(per.items(), key=lambda kv: -kv[1]["n"])), confusion=(tuple(labels), M),
                     rows=rows)


def compare_map(mineral_map, table, *, run: str = "auto") -> Agreement:
    """Agreement of a map of a TSG package (one label per spectrum, file order) with the TSA answers in the
    package's table.

    ``run``: ``'swir'`` (TSA's SWIR minerals, by group), ``'vnir'`` (TSA's VNIR minerals, by mineral), an explicit
    TSA suffix (``sTSAS``, ``uTSAS``, ``sTSAV``), or ``'auto'``: ``vnir`` for a map whose provenance says it is a
    VNIR answer, else ``swir``. Raises :class:`InputError` when the sizes differ or the table has no such TSA run.
    """
    from ..io.tsg import tsa_results  # the table reader's helper: pure (no file access)
    if run == "auto":
        run = "vnir" if str((mineral_map.provenance or {}).get("range", "")).lower() == "vnir" else "swir"
    tsa = tsa_results(table, run)
    if tsa is None:
        raise InputError(f"the package holds no TSA {run} results (no 'Min1 ...' column with names) to compare with")
    names = mineral_map.names().reshape(-1)
    if names.size != len(tsa):
        raise InputError(f"the map holds {names.size} labels for the package's {len(tsa)} spectra: it is not a map "
                         "of this package")
    level = "mineral" if tsa.run.endswith("V") else "group"
    depth = table.get("depth_m")
    second = weight2 = None
    m2 = mineral_map.extra.get("min2")
    if m2 is not None and level == "group":
        cls = np.array(list(mineral_map.classes) + [""], dtype=object)
        k = np.asarray(m2).reshape(-1).astype(np.int64)
        second = cls[np.where((k >= 0) & (k < len(mineral_map.classes)), k, len(mineral_map.classes))]
        w = mineral_map.extra.get("wt2")
        weight2 = None if w is None else np.asarray(w, np.float64).reshape(-1)
    return compare_answers([str(x) for x in names], tsa, level=level,
                           depth=None if depth is None or depth.dtype.kind != "f" else depth, second=second,
                           second_weight=weight2)
