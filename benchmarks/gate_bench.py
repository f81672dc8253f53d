"""Evidence for the choice of ``hsimin classify``'s library gate: could something cheaper decide aspectral and
unknown where the exact library fit is not needed?

    .venv/bin/python benchmarks/gate_bench.py          # about two minutes on 2 cores

The default gate (:func:`hsimin.predict.workflow.library_gate_map`) runs the library path's SWIR fit on every
unscreened pixel (:func:`hsimin.classical.interpretation.swir_status`: 0 a library mineral explains the
features, 1 unknown, 2 aspectral); it costs more than the model itself (``benchmarks/classify_bench.py``). Two
cheaper gates are measured against it, on the bundled sample tray and the four real HyLogger packages (the real
packages as validation only: nothing here is fitted on them):

1. **The model's own confidence** (a cascade): skip the fit where the shipped model's top probability is at
   least ``p`` and its answer is a mineral and the pixel's deepest feature (the artefact screen's band-averaged
   continuum-removed features) is at least twice the aspectral test's depth; call aspectral without the fit where
   it is under half of it. Reported: the share of pixels that would skip the fit, and how many of them the exact
   gate would have answered differently.
2. **A learned status surrogate**: a small MLP (the shipped model's recipe features plus the log noise and log
   albedo of :func:`hsimin.classical.swir.estimate_noise`) trained here on 144 000 of 160 000 simulated scanner
   spectra (the rest held out; :func:`hsimin.classical.simulate.simulate_scanner_spectra`, seeded; 9/11/13 nm
   FWHM) labelled with the exact status, then used where its top probability is at least ``p``, with the exact fit elsewhere. Reported: its
   agreement with the exact status, the share of pixels it would decide, and the disagreements left there.

Results: ``benchmarks/results/gate_bench.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
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


def _datasets():
    from hsimin import samples
    return [("sample_tray", hsimin.open_cube(samples.tray_path()))] + [
        (s, hsimin.open_cube(samples.hylogger_path(s))) for s in samples.HYLOGGER_SETS]


def _noise_inputs(X, wavelengths):
    from hsimin.classical.swir import SWIR, SWIR_RANGE_NM, estimate_noise
    sel = (wavelengths >= SWIR_RANGE_NM[0]) & (wavelengths <= SWIR_RANGE_NM[1])
    noise, alb = estimate_noise(X[:, sel], wavelengths[sel], SWIR.diagnostic_nm)
    return np.stack([np.log(noise), np.log(np.maximum(alb, 1e-3))], axis=1)


def model_confidence_cascade(model, sets) -> dict:
    from hsimin.classical.artefacts import ArtefactScreen
    from hsimin.classical.interpretation import swir_status_cube
    from hsimin.classical.swir import SIGNIFICANCE, SWIR, estimate_noise
    from hsimin.predict.workflow import classify_cube
    k_asp = list(model.class_names).index("aspectral")
    out = {}
    for name, cube in sets:
        mm = classify_cube(cube, model, library_gate=False).map
        status = swir_status_cube(dataclasses.replace(cube, mask=(mm.labels >= 0))).reshape(-1)
        X = np.asarray(cube.data, np.float32).reshape(-1, cube.shape[2])
        screen = ArtefactScreen(cube.wavelengths, cube.fwhm, cube.bad_bands, model.class_names)
        Xb = X[:, screen.bands]
        F = screen.features(np.asarray(Xb, np.float64))
        noise, _ = estimate_noise(Xb, screen.sensor_wavelengths, SWIR.diagnostic_nm)
        ratio = F.max(axis=1) / (SIGNIFICANCE * noise)
        lab, p = mm.labels.reshape(-1), mm.confidence.reshape(-1)
        valid = lab >= 0
        rows = {}
        for pmin in (0.0, 0.8, 0.9):
            as_mineral = valid & (lab != k_asp) & (p >= pmin) & (ratio >= 2.0)
            as_aspectral = valid & (ratio < 0.5)
            skip = as_mineral | as_aspectral
            rows[f"p>={pmin}"] = {
                "skip_fraction": round(float(skip[valid].mean()), 3) if valid.any() else None,
                "differs_from_exact": int((as_mineral & (status != 0)).sum() + (as_aspectral & (status != 2)).sum()),
                "mineral_where_exact_says_unknown": int((as_mineral & (status == 1)).sum())}
        out[name] = {"pixels": int(valid.sum()), "exact_status": dict(Counter(status[valid].tolist())), **rows}
    return out


def learned_surrogate(model, sets, seed: int = 0) -> dict:
    import torch

    from hsimin.classical.interpretation import swir_status
    from hsimin.classical.simulate import simulate_scanner_spectra
    from hsimin.predict.classify import input_plan
    torch.manual_seed(seed)
    wl = np.asarray(model.wavelengths, np.float64)
    lib = hsimin.load_library("usgs_splib07")
    feats, labels = [], []
    t0 = time.perf_counter()
    for s, fwhm in ((11, 11.0), (12, 9.0), (13, 13.0), (14, 11.0)):
        fw = np.full(wl.size, fwhm)
        sim = simulate_scanner_spectra(lib, 40000, seed=s, sensor_wavelengths=wl, sensor_fwhm=fw, max_dilution=0.9,
                                       max_water=0.8)
        X = np.asarray(sim.spectra, np.float32)
        plan = input_plan(hsimin.Cube(X[:1, None], wl, fw), model)
        feats.append(np.hstack([plan.apply(X), _noise_inputs(X, wl)]).astype(np.float32))
        labels.append(swir_status(X, wl, fw))
    X = np.vstack(feats)
    y = np.concatenate(labels).astype(np.int64)
    ok = np.isfinite(X).all(axis=1)
    X, y = X[ok], y[ok]
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Xt, yt = torch.tensor((X - mu) / sd), torch.tensor(y)
    n_train = int(0.9 * len(Xt))
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, 128),
                              torch.nn.GELU(), torch.nn.Linear(128, 3))
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-2)
    for _ in range(15):
        perm = torch.randperm(n_train)
        for i in range(0, n_train, 256):
            b = perm[i:i + 256]
            loss = torch.nn.functional.cross_entropy(net(Xt[b]), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0

    def judge(P, status):
        row = {"agreement": round(float(np.mean(P.argmax(1) == status)), 3)}
        for pmin in (0.95, 0.99):
            sure = P.max(1) >= pmin
            row[f"p>={pmin}"] = {"decided_fraction": round(float(sure.mean()), 3),
                                 "differs_from_exact": int(np.sum(P.argmax(1)[sure] != status[sure]))}
        return row

    with torch.no_grad():
        P = torch.softmax(net(Xt[n_train:]), 1).numpy()
    out = {"training_spectra": int(n_train), "seconds": round(seconds, 1),
           "simulated_held_out": judge(P, y[n_train:])}
    for name, cube in sets:
        R = np.asarray(cube.data, np.float32).reshape(-1, cube.shape[2])
        status = swir_status(R, cube.wavelengths, cube.fwhm, cube.bad_bands)
        Z = np.hstack([input_plan(cube, model).apply(R), _noise_inputs(R, cube.wavelengths)]).astype(np.float32)
        good = np.isfinite(Z).all(axis=1)
        with torch.no_grad():
            P = torch.softmax(net(torch.tensor((Z[good] - mu) / sd)), 1).numpy()
        out[name] = {"spectra": int(good.sum()), **judge(P, status[good])}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gate_bench.json"))
    args = ap.parse_args(argv)
    from hsimin.predict.workflow import resolve_model
    model = resolve_model("default")
    sets = _datasets()
    cascade = model_confidence_cascade(model, sets)
    for name, row in cascade.items():
        print(f"cascade {name:16s} exact {row['exact_status']} | " + " | ".join(
            f"{k}: skip {v['skip_fraction']}, differs {v['differs_from_exact']}" for k, v in row.items()
            if k.startswith("p>=")), flush=True)
    learned = learned_surrogate(model, sets)
    for name, row in learned.items():
        if isinstance(row, dict):
            print(f"learned {name:18s} agreement {row['agreement']} | " + " | ".join(
                f"{k}: decides {v['decided_fraction']}, differs {v['differs_from_exact']}" for k, v in row.items()
                if k.startswith("p>=")), flush=True)
    out = {"benchmark": "gate_bench", "hsimin": hsimin.__version__, "python": platform.python_version(),
           "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "model_confidence_cascade": cascade, "learned_surrogate": learned}
    from hsimin.io.writers import write_json
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_json(out, args.out, overwrite=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
