"""Library identification on real spectra: leave-sample-out accuracy, a real-rock sanity check, SAM speed.

Issue 3 §5 and its benchmark note, one run, results in ``benchmarks/results/identify_accuracy.json``:

1. **Leave-sample-out accuracy.** The bundled USGS splib07 minerals (``hsimin.load_library("usgs_splib07")``,
   mixtures excluded), each instrument resampled from its native grid to a SWIR core-scanner band set
   (270 bands, ``linspace(1000, 2500, 270)`` nm, FWHM 10 nm). For every physical sample (all grain sizes and
   instruments of one specimen share a ``sample_id``), its spectra are held out, the method is fitted on all
   the other spectra, and the held-out spectra are identified, at SNR infinity, 200 and 50 (Gaussian noise of
   sigma = mean reflectance / SNR, brightness x0.6-1.2, seeded). Top-1 accuracy is reported per mineral group
   (:func:`hsimin.core.vocabulary.mineral_group`) of the truth, for groups with >= 2 samples:

   * ``group``: the answer's group is the truth's group (white mica for muscovite, illite, phengite...);
   * ``mineral``: the answer is the truth's vocabulary name, counted only over spectra whose mineral has
     another sample in the library (otherwise no right answer exists);
   * ``unknown``: the share answered 'unknown' (nothing fits, or aspectral for match/mixture).

   The references are, as for ``hsimin identify``, the spectra of minerals in hsimin's curated vocabulary
   (``--all-minerals``: every mineral, the uncurated ones as extra confusers); group 'other' gets no row.
2. **Real rock spectra** (``hylite_rock_spectra.npz``: 57 VNIR-SWIR hand-sample spectra, no labels),
   resampled to the same bands: what each method answers, and the 2200/2330 nm feature positions.
3. **SAM speed**: ``SpectralAngleMapper.predict`` vs SPy's ``spectral.spectral_angles`` + argmin (and hylite's
   ``hylite.analyse.sam.spectral_angles`` + argmin when hylite is importable, or its source is given with
   ``--hylite-src``), on N real-shaped noisy spectra x 270 bands (float32) against every library spectrum
   complete on the band set; spectra/s, the share of labels equal to SPy's, and each method's time relative to
   a plain copy of the same array (the memory-bandwidth yardstick).

Usage::

    .venv/bin/python benchmarks/identify_accuracy.py                 # full run
    .venv/bin/python benchmarks/identify_accuracy.py --quick         # every 4th sample, 20 000 spectra
"""
from __future__ import annotations

import argparse
import ast
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
from hsimin.classical import (DEFAULT_FIT_RANGE_NM, IDENTIFY_METHODS, SpectralAngleMapper,  # noqa: E402
                              extract_features, make_identifier)
from hsimin.core.vocabulary import is_known, mineral_group  # noqa: E402
from hsimin.preprocess import resample  # noqa: E402

GRID = np.linspace(1000.0, 2500.0, 270)
FWHM = np.full(270, 10.0)
SNRS = (None, 200.0, 50.0)
SEED = 3
SHARED = ROOT.parent / "shared" / "data" / "spectral"


def _noisy(S: np.ndarray, snr: float | None, rng: np.random.Generator) -> np.ndarray:
    X = S * rng.uniform(0.6, 1.2, size=(len(S), 1))
    if snr is not None:
        X = X + rng.normal(0.0, 1.0, S.shape) * (S.mean(axis=1, keepdims=True) / snr)
    return X.astype(np.float32)


# --------------------------------------------------------------------------- 1. leave-sample-out

def leave_sample_out(methods, quick: bool, fit_range=DEFAULT_FIT_RANGE_NM, params=None,
                     complete_grid: bool = False, curated: bool = True) -> dict:
    lib = hsimin.load_library("usgs_splib07", wavelengths=GRID, fwhm=FWHM)
    sel = (GRID >= fit_range[0]) & (GRID <= fit_range[1])
    S = np.asarray(lib.spectra, dtype=np.float64)[:, sel]
    ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    if complete_grid:  # the same spectra whatever the fit range: those complete over the whole band set
        ok &= np.isfinite(lib.spectra).all(axis=1) & (np.asarray(lib.spectra) > 0).all(axis=1)
    if curated:  # the references `hsimin identify` uses by default: the curated vocabulary's minerals
        ok &= np.array([is_known(m) for m in lib.minerals])
    S = S[ok]
    minerals = np.asarray(lib.minerals, dtype=object)[ok]
    samples = np.asarray(lib.sample_ids, dtype=object)[ok]
    groups = np.array([mineral_group(m) for m in minerals], dtype=object)
    wl = GRID[sel]
    n_samples_of_mineral = {m: len(set(samples[minerals == m])) for m in set(minerals)}
    n_samples_of_group = {g: len(set(samples[groups == g])) for g in set(groups)}
    uniq = sorted(set(samples))
    held = uniq[::4] if quick else uniq
    rng = np.random.default_rng(SEED)
    noisy = {snr: _noisy(S, snr, rng) for snr in SNRS}
    results: dict = {}
    for method in methods:
        t0 = time.perf_counter()
        pred = {snr: np.empty(len(S), dtype=object) for snr in SNRS}
        tested = np.zeros(len(S), bool)
        for u in held:
            test = samples == u
            train = ~test
            est = make_identifier(method, wavelengths=wl, **(params or {}).get(method, {})).fit(
                S[train], minerals[train])
            for snr in SNRS:
                pred[snr][test] = est.predict(noisy[snr][test])
            tested |= test
        seconds = time.perf_counter() - t0
        per_snr = {}
        for snr in SNRS:
            p = pred[snr]
            rows = {}
            for g in sorted(set(groups[tested])):
                if g == "other" or n_samples_of_group[g] < 2:
                    continue
                q = tested & (groups == g)
                pg = np.array([mineral_group(x) if x != "unknown" else "unknown" for x in p[q]], dtype=object)
                qm = q & np.array([n_samples_of_mineral[m] >= 2 for m in minerals])
                rows[g] = {
                    "spectra": int(q.sum()), "samples": int(len(set(samples[q]))),
                    "group": float(np.mean(pg == g)),
                    "mineral": float(np.mean(p[qm] == minerals[qm])) if qm.any() else None,
                    "unknown": float(np.mean(p[q] == "unknown")),
                    "commonest_wrong": Counter(x for x in pg if x != g).most_common(2),
                }
            in_table = tested & np.isin(groups, list(rows))
            pg_all = np.array([mineral_group(x) if x != "unknown" else "unknown" for x in p[in_table]], dtype=object)
            per_snr["inf" if snr is None else f"{snr:g}"] = {
                "overall_group": float(np.mean(pg_all == groups[in_table])),
                "mean_group_accuracy": float(np.mean([r["group"] for r in rows.values()])),
                "unknown": float(np.mean(p[in_table] == "unknown")),
                "groups": rows,
            }
        results[method] = {"seconds": seconds, "by_snr": per_snr}
        print(f"[leave-sample-out] {method}: {seconds:.1f} s; overall group accuracy (unknown) " + ", ".join(
            f"SNR {k}: {100 * v['overall_group']:.1f}% ({100 * v['unknown']:.0f}%)" for k, v in per_snr.items()),
            flush=True)
    return {"library_spectra": int(len(S)), "physical_samples": len(uniq), "held_out_samples": len(held),
            "fit_range_nm": [float(v) for v in fit_range], "bands_used": int(sel.sum()), "methods": results}


def print_table(loo: dict) -> None:
    methods = list(loo["methods"])
    snrs = list(next(iter(loo["methods"].values()))["by_snr"])
    groups = sorted(next(iter(loo["methods"].values()))["by_snr"][snrs[0]]["groups"])
    head = f"{'group':16s} {'n':>5s} " + " ".join(f"{m + '@' + s:>12s}" for m in methods for s in snrs)
    print("\nTop-1 accuracy by mineral group (group-level %, leave-sample-out)")
    print(head)
    for g in groups:
        first = loo["methods"][methods[0]]["by_snr"][snrs[0]]["groups"][g]
        cells = []
        for m in methods:
            for s in snrs:
                r = loo["methods"][m]["by_snr"][s]["groups"].get(g)
                cells.append(f"{100 * r['group']:11.0f}%" if r else f"{'-':>12s}")
        print(f"{g:16s} {first['spectra']:5d} " + " ".join(cells))
    cells = [f"{100 * loo['methods'][m]['by_snr'][s]['overall_group']:11.1f}%" for m in methods for s in snrs]
    print(f"{'ALL (spectra)':16s} {'':5s} " + " ".join(cells))
    cells = [f"{100 * loo['methods'][m]['by_snr'][s]['mean_group_accuracy']:11.1f}%" for m in methods for s in snrs]
    print(f"{'mean of groups':16s} {'':5s} " + " ".join(cells))


# --------------------------------------------------------------------------- 2. hylite rock spectra

def rock_spectra(methods, curated: bool = True) -> dict:
    d = np.load(SHARED / "hylite_rock_spectra.npz")
    R = resample(d["library_reflectance"].astype(np.float64), d["library_wavelength_nm"].astype(np.float64), GRID,
                 target_fwhm=FWHM)
    ids = [str(s) for s in d["library_sample_id"]]
    lib = hsimin.load_library("usgs_splib07", wavelengths=GRID, fwhm=FWHM)
    sel = (GRID >= DEFAULT_FIT_RANGE_NM[0]) & (GRID <= DEFAULT_FIT_RANGE_NM[1])
    S = np.asarray(lib.spectra)[:, sel]
    ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    if curated:
        ok &= np.array([is_known(m) for m in lib.minerals])
    feats = extract_features(R, GRID)
    out = {"spectra": len(ids), "per_spectrum": [], "found": {}}
    answers = {}
    for method in methods:
        est = make_identifier(method, wavelengths=GRID[sel]).fit(S[ok], np.asarray(lib.minerals, object)[ok])
        res = est.identify(R[:, sel].astype(np.float32), k=2)
        answers[method] = (est, res)
        out["found"][method] = dict(Counter(res.labels).most_common())
    for i, sid in enumerate(ids):
        row = {"sample_id": sid,
               "f2200_wavelength_nm": _f(feats["f2200_wavelength_nm"][i]), "f2200_depth": _f(feats["f2200_depth"][i]),
               "f2330_wavelength_nm": _f(feats["f2330_wavelength_nm"][i]), "f2330_depth": _f(feats["f2330_depth"][i])}
        for m, (est, res) in answers.items():
            row[m] = str(res.labels[i])
            row[m + "_confidence"] = round(float(res.confidence[i]), 3)
            if "mineral_2" in res.extra and res.extra["mineral_2"][i] >= 0:
                row[m + "_second"] = str(est.classes_[res.extra["mineral_2"][i]])
                row[m + "_fraction_1"] = round(float(res.extra["fraction_1"][i]), 3)
        out["per_spectrum"].append(row)
    for m in methods:
        print(f"[rock spectra] {m}: " + ", ".join(f"{k} x{v}" for k, v in out["found"][m].items()), flush=True)
    return out


def _f(v) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 2)


# --------------------------------------------------------------------------- 3. SAM speed

def _load_hylite_angles(src: str | None):
    try:
        from hylite.analyse.sam import spectral_angles  # type: ignore
        return spectral_angles, "hylite (installed)"
    except Exception:  # noqa: BLE001 - hylite is optional
        pass
    if not src:
        return None, "hylite not installed (pip install hylite, or --hylite-src DIR)"
    path = Path(src) / "hylite" / "analyse" / "sam.py"
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "spectral_angles")
    ns = {"np": np}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), ns)  # noqa: S102 - hylite's own code
    return ns["spectral_angles"], f"hylite spectral_angles from {path} (package not importable here)"


def sam_speed(n: int, hylite_src: str | None, repeats: int = 3) -> dict:
    from spectral import spectral_angles as spy_angles

    lib = hsimin.load_library("usgs_splib07", wavelengths=GRID, fwhm=FWHM)
    S = np.asarray(lib.spectra)
    ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    refs = S[ok].astype(np.float32)
    names = np.asarray(lib.minerals, dtype=object)[ok]
    rng = np.random.default_rng(SEED + 1)
    X = _noisy(refs[rng.integers(0, len(refs), n)].astype(np.float64), 200.0, rng)
    est = SpectralAngleMapper(max_angle=None).fit(refs, names)
    est.predict(X[:1000])
    chunk = 16384

    def spy():
        out = np.empty(n, dtype=object)
        for s in range(0, n, chunk):
            a = spy_angles(X[s:s + chunk][:, None, :], refs)
            out[s:s + chunk] = names[np.argmin(a[:, 0, :], axis=1)]
        return out

    runs = {"copy": lambda: X.copy(), "hsimin": lambda: est.predict(X), "spy": spy}
    hy, note = _load_hylite_angles(hylite_src)
    if hy is not None:
        def hyl():
            out = np.empty(n, dtype=object)
            for s in range(0, n, chunk):
                a = hy(refs, X[s:s + chunk])
                out[s:s + chunk] = names[np.argmin(a, axis=0)]
            return out
        runs["hylite"] = hyl
    # interleaved repeats, best of each: on a shared machine the load changes between runs, and interleaving
    # gives every method the same chances
    times = {k: [] for k in runs}
    labels = {}
    for _ in range(repeats):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            labels[k] = fn()
            times[k].append(time.perf_counter() - t0)
    t = {k: min(v) for k, v in times.items()}
    res = {"spectra": n, "bands": int(X.shape[1]), "references": int(len(refs)), "classes": int(len(set(names))),
           "repeats": repeats, "copy_seconds": t["copy"], "all_seconds": times, "hylite_note": note}
    for k in runs:
        if k == "copy":
            continue
        res[k] = {"seconds": t[k], "spectra_per_s": n / t[k], "time_vs_copy": t[k] / t["copy"]}
        if k != "hsimin":
            res[k]["labels_equal_to_hsimin"] = float(np.mean(labels[k] == labels["hsimin"]))
            res[f"speedup_vs_{k}"] = t[k] / t["hsimin"]
    print(f"[SAM speed] {n} x {X.shape[1]} vs {len(refs)} refs: hsimin {n / t['hsimin']:,.0f}/s, SPy "
          f"{n / t['spy']:,.0f}/s ({res['speedup_vs_spy']:.1f}x, labels equal "
          f"{100 * res['spy']['labels_equal_to_hsimin']:.2f}%)"
          + (f", hylite {n / t['hylite']:,.0f}/s ({res['speedup_vs_hylite']:.1f}x, labels equal "
             f"{100 * res['hylite']['labels_equal_to_hsimin']:.2f}%)" if "hylite" in res else f"; {note}")
          + f"; a plain copy takes {t['copy'] * 1000:.0f} ms ({t['hsimin'] / t['copy']:.0f}x less than hsimin)",
          flush=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 4th sample held out; 20 000 spectra for speed")
    ap.add_argument("--methods", nargs="+", default=list(IDENTIFY_METHODS), choices=list(IDENTIFY_METHODS))
    ap.add_argument("--speed-n", type=int, default=None, help="spectra in the SAM speed test (default 200 000)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["loo", "rocks", "speed"], help="parts to skip")
    ap.add_argument("--hylite-src", default=os.environ.get("HSIMIN_HYLITE_SRC"),
                    help="folder holding hylite/analyse/sam.py, when hylite is not installed")
    ap.add_argument("--fit-range", type=float, nargs=2, default=list(DEFAULT_FIT_RANGE_NM), metavar=("LO", "HI"),
                    help="wavelength range (nm) of the bands used for identification")
    ap.add_argument("--complete-grid", action="store_true",
                    help="use only library spectra complete over 1000-2500 nm (to compare fit ranges on one set)")
    ap.add_argument("--all-minerals", action="store_true",
                    help="keep every library mineral as a reference (default: the curated vocabulary's, as "
                         "`hsimin identify` does)")
    ap.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                    help="estimator parameter override, e.g. match.min_similarity=0.5 (repeatable)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "identify_accuracy.json"))
    args = ap.parse_args(argv)
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "numpy": np.__version__, "hsimin": hsimin.__version__},
              "grid": {"bands": int(GRID.size), "from_nm": 1000.0, "to_nm": 2500.0, "fwhm_nm": 10.0},
              "quick": bool(args.quick)}
    if "loo" not in args.skip:
        params: dict = {}
        for item in args.param:
            key, _, val = item.partition("=")
            meth, _, name = key.partition(".")
            params.setdefault(meth, {})[name] = None if val == "None" else json.loads(val)
        report["leave_sample_out"] = leave_sample_out(args.methods, args.quick, tuple(args.fit_range), params,
                                                        args.complete_grid, not args.all_minerals)
        print_table(report["leave_sample_out"])
    if "rocks" not in args.skip:
        report["rock_spectra"] = rock_spectra(args.methods, not args.all_minerals)
    if "speed" not in args.skip:
        n = args.speed_n or (20_000 if args.quick else 200_000)
        report["sam_speed"] = sam_speed(n, args.hylite_src)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
