"""Answers on real scanner spectra: every hsimin method against CSIRO TSA, with the USGS Tetracorder port beside it.

    .venv/bin/python benchmarks/realdata_bench.py              # everything (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/realdata_bench.py --no-peer    # without tetracorderp
    .venv/bin/python benchmarks/realdata_bench.py --quick      # fewer library folds

1. **Real HyLogger packages** (the four bundled in ``hsimin/samples/data/hylogger``: three HyLogger-3 chip holes and
   222 HyLogger-4 test rocks), each method's answer per spectrum scored against the package's own TSA answers
   (:func:`hsimin.classical.agreement.compare_answers`: by group in the SWIR, by mineral in the VNIR; TSA's
   Aspectral and Wood and hsimin's aspectral, unknown and tray artefacts all count as "no mineral"):

   * ``strict``: TSA's confident calls (Wt1 >= 0.7, Error < 200) answered with TSA's Min1 group;
   * ``consistent``: the answer is Min1's group, or Min2's where TSA weighs Min2 at >= 0.25;
   * ``aspectral``: of TSA's Aspectral spectra, the share hsimin answers with no mineral; ``wood``: the same for
     TSA's Wood; ``vnir``: agreement with TSA's VNIR Min1 on its confident calls (Wt1 >= 0.7);
   * ``spectra_s``: spectra per second of the method on the package (after a warm-up; the model includes loading
     nothing, the library methods nothing: their references are prepared in the warm-up).

   Methods: ``hsimin identify`` default (``unmix``) and every ``--method`` (``sam``, ``sid``, ``match``,
   ``mixture``), ``hsimin classify`` with the shipped model, and as the peer **tetracorderp** (an independent
   Python port of USGS Tetracorder 6; GPL, a benchmark-only extra, never imported by hsimin): its group-2
   (2 µm) winner, ``none`` where no material wins. The packages are validation data: nothing in hsimin was fitted
   or tuned on them.

2. **USGS leave-sample-out** (``usgs_splib07`` on a HyLogger band set, 380-2500 nm every 4 nm, FWHM 11 nm): every
   physical sample is held out of the references in turn (5 folds by sample) and its spectra are identified clean
   and at SNR 200; group accuracy (over all, and over the spectra whose group still has a reference in the fold,
   where a right answer exists), and the **open-set** test: every spectrum of a mineral left out of the references
   altogether (leave-mineral-out) should come back with no mineral (``unknown`` or ``aspectral``) rather than a
   wrong mineral: the share that does, per method.

3. **Simulated scanner spectra** (:func:`hsimin.classical.simulate.simulate_scanner_spectra` from held-out USGS
   samples: water, a second mineral, SWIR-inactive diluent, noise at SNR 150-2000): group accuracy and
   consistency, as for the packages (the development set the interpretation was designed on).

4. **Sample tray** (the bundled tray, truth by pixel): group accuracy of each method.

Results: ``benchmarks/results/realdata_bench.json`` and confusion matrices ``benchmarks/results/realdata/*.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hsimin  # noqa: E402
from hsimin.classical.agreement import compare_answers  # noqa: E402
from hsimin.core.vocabulary import answer_group  # noqa: E402
from hsimin.io.tsg import tsa_results  # noqa: E402
from hsimin.samples import HYLOGGER_SETS, hylogger_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
LIB_METHODS = ("unmix", "sam", "sid", "match", "mixture")
HYLOGGER_GRID = np.arange(380.0, 2500.1, 4.0)
HYLOGGER_FWHM = np.full(HYLOGGER_GRID.size, 11.0)


def _answers_library(cube, method: str, range_: str = "swir") -> tuple[list[str], float]:
    from hsimin.classical.interpretation import map_minerals
    map_minerals(cube, method, range=range_, features=False)            # warm-up: references prepared
    t = time.perf_counter()
    mm = map_minerals(cube, method, range=range_, features=False).map
    dt = time.perf_counter() - t
    return [str(x) for x in mm.names().reshape(-1)], cube.shape[0] * cube.shape[1] / dt


def _answers_model(cube) -> tuple[list[str], float]:
    from hsimin.predict.workflow import classify_cube, resolve_model
    model = resolve_model("default")
    classify_cube(cube, model)
    t = time.perf_counter()
    mm = classify_cube(cube, model).map
    dt = time.perf_counter() - t
    return [str(x) for x in mm.names().reshape(-1)], cube.shape[0] * cube.shape[1] / dt


_PEER_RUNS: dict = {}


def _answers_tetracorder(cube, group: int = 2) -> tuple[list[str], float]:
    """tetracorderp's winner of a Tetracorder group per spectrum (2: the 2 µm SWIR group, 1: the 1 µm ferric-iron
    group); 'none' where no material wins. One evaluation per cube serves both groups."""
    from tetracorderp import GroupEvaluator
    key = id(cube)
    if key not in _PEER_RUNS:
        X = np.asarray(cube.data, np.float32).reshape(1, -1, cube.shape[2])
        fwhm = (cube.fwhm if cube.fwhm is not None else np.full(cube.shape[2], 11.0)) / 1000.0
        t = time.perf_counter()
        run = GroupEvaluator(X, cube.wavelengths / 1000.0, fwhm)
        _PEER_RUNS[key] = (run, X.shape[1] / (time.perf_counter() - t))
    run, rate = _PEER_RUNS[key]
    n = cube.shape[0] * cube.shape[1]
    g = run.group_winners.get(group)
    if g is None:
        return ["none"] * n, rate
    win, fit = np.asarray(g["winner"]).reshape(-1), np.asarray(g["fit"]).reshape(-1)
    return ["none" if w is None or not f > 0 else str(w) for w, f in zip(win, fit)], rate


def _peer_name(material_id: str) -> str:
    """A Tetracorder material id (``kaolinite.wxl``, ``musc.hi-al``...) as an hsimin vocabulary name."""
    from hsimin.core.vocabulary import mineral_name
    if material_id == "none":
        return "aspectral"
    token = material_id.replace(".", "_").split("_")[0]
    return mineral_name(token)


def _rates(ans, tsa, name: str) -> float | None:
    idx = [i for i, m in enumerate(tsa.min1) if str(m) == name]
    if not idx:
        return None
    return float(np.mean([answer_group(ans[i]) in ("none",) for i in idx]))


def packages(peer: bool, figures: Path) -> dict:
    from hsimin.io.comparison import write_confusion_png
    out: dict = {}
    for s in HYLOGGER_SETS:
        cube = hsimin.open_cube(hylogger_path(s))
        swir = tsa_results(cube.table, "swir")
        vnir = tsa_results(cube.table, "vnir")
        depth = cube.table["depth_m"]
        row: dict = {"spectra": cube.shape[0], "tsa_run": swir.run}
        methods = {m: (lambda m=m: _answers_library(cube, m)) for m in LIB_METHODS}
        methods["classify"] = lambda: _answers_model(cube)
        if peer:
            methods["tetracorderp"] = lambda: _answers_tetracorder(cube)
        for name, fn in methods.items():
            try:
                ans, rate = fn()
            except Exception as exc:  # noqa: BLE001 - a method that cannot run on a package is reported as such
                row[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            if name == "tetracorderp":
                ans = [_peer_name(a) for a in ans]
            a = compare_answers(ans, swir, depth=depth)
            row[name] = {"strict": a.strict, "n_strict": a.n_strict, "consistent": a.consistent, "n": a.n,
                         "overall": a.overall, "mixtures": a.mixtures, "aspectral": _rates(ans, swir, "Aspectral"),
                         "wood": _rates(ans, swir, "Wood"), "spectra_s": round(rate, 1),
                         "answers": dict(Counter(ans).most_common(8))}
            write_confusion_png(a, figures / f"{s}_{name}.png", title=f"{s}: {name} vs TSA ({a.n} spectra)")
        if vnir is not None:
            vnir_methods = {"unmix_vnir": lambda: _answers_library(cube, "unmix", "vnir")}
            if peer:
                vnir_methods["tetracorderp_vnir"] = lambda: _answers_tetracorder(cube, 1)
            for name, fn in vnir_methods.items():
                try:
                    ans, rate = fn()
                    if name.startswith("tetracorderp"):
                        ans = [_peer_name(a) for a in ans]
                    a = compare_answers(ans, vnir, level="mineral", depth=depth)
                    row[name] = {"strict": a.strict, "n_strict": a.n_strict, "consistent": a.consistent,
                                 "n": a.n, "spectra_s": round(rate, 1)}
                except Exception as exc:  # noqa: BLE001
                    row[name] = {"error": str(exc)}
        out[s] = row
        line = " ".join(f"{k}={v['consistent']:.2f}/{v['strict']:.2f}" for k, v in row.items()
                        if isinstance(v, dict) and "consistent" in v)
        print(f"{s:16s} consistent/strict: {line}", flush=True)
    return out


def _folds(samples, k: int, seed: int = 0):
    uniq = np.array(sorted(set(samples)), dtype=object)
    perm = np.random.default_rng(seed).permutation(uniq)
    return [set(perm[i::k]) for i in range(k)]


def library_tests(quick: bool) -> dict:
    """Leave-sample-out accuracy (clean and SNR 200) and the leave-mineral-out open-set rate, per method."""
    from hsimin.classical.references import reference_library
    from hsimin.classical.swir import SwirInterpreter
    from hsimin.preprocess.resample import resample
    refs = reference_library(artefacts=False)
    S = resample(np.asarray(refs.spectra), refs.wavelengths, HYLOGGER_GRID, HYLOGGER_FWHM)
    ok = np.isfinite(S[:, (HYLOGGER_GRID >= 1300)]).all(axis=1)
    S, minerals = S[ok], np.asarray(refs.minerals, dtype=object)[ok]
    samples = np.asarray(refs.sample_ids, dtype=object)[ok]
    rng = np.random.default_rng(7)
    noisy = S + rng.normal(0, 1, S.shape) * (np.nanmean(S, axis=1, keepdims=True) / 200.0)
    groups = np.array([answer_group(m) for m in minerals], dtype=object)
    out: dict = {"spectra": int(len(S)), "minerals": int(len(set(minerals)))}
    folds = _folds(samples, 3 if quick else 5)
    for method in ("unmix", "sam", "match"):
        hit = {"clean": [], "snr200": []}
        possible: list = []
        for held in folds:
            test = np.isin(samples, list(held))
            r = reference_library(artefacts=True, exclude_samples=held)
            have = {answer_group(m) for m in r.minerals}
            possible.extend(answer_group(m) in have for m in minerals[test])
            if method == "unmix":
                eng = SwirInterpreter(r, HYLOGGER_GRID, HYLOGGER_FWHM)
                pred = {k: eng.interpret(X[test].astype(np.float32)).names() for k, X in (("clean", S),
                                                                                         ("snr200", noisy))}
            else:
                from hsimin.classical.mapping import make_identifier
                from hsimin.classical.streaming import prepare_library
                from hsimin.preprocess.resample import resample_library
                sel = (HYLOGGER_GRID >= 1300) & (HYLOGGER_GRID <= 2480)
                lib = prepare_library(resample_library(r, HYLOGGER_GRID[sel], HYLOGGER_FWHM[sel]),
                                      HYLOGGER_GRID[sel], HYLOGGER_FWHM[sel])
                est = make_identifier(method, wavelengths=HYLOGGER_GRID[sel]).fit(
                    lib.spectra.astype(np.float32), np.asarray(lib.minerals, dtype=object))
                pred = {k: est.predict(X[test][:, sel].astype(np.float32)) for k, X in (("clean", S),
                                                                                         ("snr200", noisy))}
            for k in hit:
                hit[k].extend(answer_group(a) == g for a, g in zip(pred[k], groups[test]))
        ok_ = np.array(possible, bool)
        out[method] = {"group_accuracy": {k: float(np.mean(v)) for k, v in hit.items()},
                       "group_accuracy_where_possible": {k: float(np.mean(np.array(v)[ok_])) for k, v in hit.items()},
                       "spectra": int(len(ok_)), "spectra_possible": int(ok_.sum())}
        print(f"leave-sample-out {method}: clean {np.mean(hit['clean']):.3f}, SNR 200 {np.mean(hit['snr200']):.3f} "
              f"(where the group has references left: {np.mean(np.array(hit['clean'])[ok_]):.3f}, "
              f"{np.mean(np.array(hit['snr200'])[ok_]):.3f})", flush=True)
    # open set: leave one mineral out entirely
    names = sorted(set(minerals))
    if quick:
        names = names[::3]
    for method in ("unmix", "sam", "match"):
        none = total = wrong_named = 0
        for m in names:
            test = minerals == m
            keep_ids = set(samples[test])
            r = reference_library(artefacts=True, exclude_samples=keep_ids)
            if m in set(r.minerals):  # another sample id of the same mineral would leave it known
                r = r.subset(np.asarray(r.minerals, dtype=object) != m)
            X = noisy[test].astype(np.float32)
            if method == "unmix":
                ans = SwirInterpreter(r, HYLOGGER_GRID, HYLOGGER_FWHM).interpret(X).names()
            else:
                from hsimin.classical.mapping import make_identifier
                from hsimin.classical.streaming import prepare_library
                from hsimin.preprocess.resample import resample_library
                sel = (HYLOGGER_GRID >= 1300) & (HYLOGGER_GRID <= 2480)
                lib = prepare_library(resample_library(r, HYLOGGER_GRID[sel], HYLOGGER_FWHM[sel]),
                                      HYLOGGER_GRID[sel], HYLOGGER_FWHM[sel])
                est = make_identifier(method, wavelengths=HYLOGGER_GRID[sel]).fit(
                    lib.spectra.astype(np.float32), np.asarray(lib.minerals, dtype=object))
                ans = est.predict(X[:, sel])
            g = answer_group(m)
            for a in ans:
                total += 1
                ga = answer_group(a)
                none += ga == "none"
                wrong_named += ga not in ("none", g)
        out[method]["open_set"] = {"minerals": len(names), "spectra": total, "no_mineral": none / max(total, 1),
                                   "another_group": wrong_named / max(total, 1)}
        print(f"open set {method}: no mineral {none / max(total, 1):.3f}, another group "
              f"{wrong_named / max(total, 1):.3f} ({total} spectra of {len(names)} left-out minerals)", flush=True)
    return out


def simulated(quick: bool) -> dict:
    from hsimin.classical.references import reference_library
    from hsimin.classical.simulate import INACTIVE_MINERALS, simulate_scanner_spectra
    from hsimin.classical.swir import SwirInterpreter
    from hsimin.core.types import SpectralLibrary
    full = reference_library(artefacts=False)
    src = hsimin.load_library("usgs_splib07")
    inact = src.subset(np.isin(np.asarray(src.minerals, dtype=object), list(INACTIVE_MINERALS)))
    simlib = SpectralLibrary(np.vstack([full.spectra, inact.spectra]), full.wavelengths,
                             list(full.names) + list(inact.names), list(full.minerals) + list(inact.minerals),
                             sample_ids=list(full.sample_ids) + list(inact.sample_ids))
    res = {"n": 0, "group": 0, "consistent": 0, "aspectral_recall": [0, 0]}
    for f, held in enumerate(_folds(list(full.sample_ids), 3 if quick else 5, seed=1)):
        eng = SwirInterpreter(reference_library(exclude_samples=held), HYLOGGER_GRID, HYLOGGER_FWHM)
        sim = simulate_scanner_spectra(simlib, 600 if quick else 1500, seed=f, sensor_wavelengths=HYLOGGER_GRID,
                                       sensor_fwhm=HYLOGGER_FWHM, only_samples=list(held) + list(inact.sample_ids),
                                       active=sorted(set(full.minerals)))
        known = set(eng.classes)
        keep = np.array([(p == "aspectral") or (p in known and s in held) for p, s in zip(sim.primary, sim.sample)])
        ans = eng.interpret(sim.spectra[keep]).names()
        for a, p1, p2, f2 in zip(ans, sim.primary[keep], sim.secondary[keep], sim.fraction2[keep]):
            g1 = "none" if p1 == "aspectral" else answer_group(p1)
            ok = {g1} | ({answer_group(p2)} if p2 and f2 >= 0.25 else set())
            ga = answer_group(a)
            res["n"] += 1
            res["group"] += ga == g1
            res["consistent"] += ga in ok
            if g1 == "none":
                res["aspectral_recall"][0] += ga == "none"
                res["aspectral_recall"][1] += 1
    n = max(res["n"], 1)
    out = {"spectra": res["n"], "group_accuracy": res["group"] / n, "consistent": res["consistent"] / n,
           "aspectral_recall": res["aspectral_recall"][0] / max(res["aspectral_recall"][1], 1)}
    print(f"simulated scanner spectra: group {out['group_accuracy']:.3f}, consistent {out['consistent']:.3f}, "
          f"aspectral recall {out['aspectral_recall']:.3f} ({res['n']} spectra)", flush=True)
    return out


def sample_tray() -> dict:
    from hsimin.classical.interpretation import map_minerals
    from hsimin.predict.workflow import classify_cube
    from hsimin.samples import tray_path, truth_path
    cube = hsimin.open_cube(tray_path())
    truth = hsimin.open_map(truth_path())
    core = truth.labels >= 0
    g = np.vectorize(answer_group)
    want = g(truth.names()[core])
    out = {}
    for m in LIB_METHODS:
        mm = map_minerals(cube, m, features=False).map
        out[m] = float(np.mean(g(mm.names()[core]) == want))
    mm = classify_cube(cube, "default").map
    out["classify"] = float(np.mean(g(mm.names()[core]) == want))
    print("sample tray group accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-peer", action="store_true", help="skip tetracorderp")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "realdata_bench.json"))
    args = ap.parse_args(argv)
    figures = RESULTS / "realdata"
    figures.mkdir(parents=True, exist_ok=True)
    peer = not args.no_peer
    if peer:
        try:
            import tetracorderp  # noqa: F401
        except ImportError:
            print("tetracorderp is not installed (pip install -e '.[bench]'): the peer is left out", flush=True)
            peer = False
    t0 = time.perf_counter()
    doc = {"benchmark": "realdata_bench", "hsimin": hsimin.__version__, "python": platform.python_version(),
           "cpus": os.cpu_count(), "packages": packages(peer, figures), "library": library_tests(args.quick),
           "simulated": simulated(args.quick), "sample_tray": sample_tray()}
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    if peer:
        from importlib.metadata import version
        doc["tetracorderp"] = version("tetracorderp")
    Path(args.out).write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {args.out} in {doc['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
