"""Deep-classifier benchmarks (issue 4, "Measured"): accuracy on real spectra never used in training, and CPU
throughput of every registered backbone and of the shipped default model end to end.

Run from the project root::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/models_bench.py            # a few minutes on 2 idle cores
    .venv/bin/python benchmarks/models_bench.py --full                             # the whole 384 x 2000 cube

Writes ``benchmarks/results/models_bench.json``.

(a) Accuracy
    * **Leave-samples-out over USGS splib07**: the spectra of the default model's classes (the config
      ``configs/default_model.toml``: same bands, recipe, augmentation, optimiser), minus the samples of the
      bundled tray, in a stratified group k-fold over USGS *physical sample ids* (every spectrum of a sample -
      all grain sizes, all spectrometers - on one side). Each architecture is trained on k-1 folds and scored
      on the held-out samples; OA / AA / kappa / per-class recall over the pooled out-of-fold predictions. The
      same folds score a spectral angle mapper (hsimin.classical SAM, the library-matching baseline), fitted on
      the training folds' raw reflectance.
    * **The bundled sample tray** against its truth: the shipped model (``hsimin.predict.predict_cube``), every
      fold model above (none saw a tray sample: mean and range), and SAM with the tray-free library.
(b) Throughput (``torch.set_num_threads(2)``)
    * Every registered backbone, untrained, with its default arguments for 270 bands, on the real inference path
      (``predict_cube``): pixel backbones on pixels, patch classifiers on 9 x 9 patches, dense backbones in
      tiles. A backbone is a pixel backbone when its output ignores every pixel but the centre of a 9 x 9 patch
      (measured, not looked up by name). Each runs on enough lines of the cube for >= 2 s and is extrapolated to
      384 x 2000 pixels; peak memory is the peak RSS of a fresh process running just that measurement, counted
      from after a warm-up run (imports and JIT compilation excluded; Linux ``clear_refs``).
    * End to end (read ENVI uint16 BIL -> resample/recipe -> classify): the shipped model vs a plain 3-layer 1-D
      CNN (32-64-64, kernel 7, all 270 bands) vs SAM library matching, on the same cube in the same run, as
      ratios. Wall-clock and process CPU time are both reported with the load average (the 2 cores may be
      shared: CPU time per pixel is the steadier figure); every timing is the best of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default_model.toml"
FULL_SHAPE = (384, 2000)
DENSE_MIN_LINES = 128
"""Dense models are timed on at least one tile height (the default tile, 128 lines)."""


# ------------------------------------------------------------------------------------------------ helpers

def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5), so the peak measured next
    excludes one-time costs (imports, JIT compilation); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB) since the last reset (``VmHWM``), else since it started."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _metrics(y, p, names):
    from hsimin.train.metrics import classification_metrics
    m = classification_metrics(y, p, names)
    return {"n": m["n"], "oa": round(m["oa"], 4), "aa": round(m["aa"], 4), "kappa": round(m["kappa"], 4),
            "recall": {r["class"]: round(r["recall"], 3) for r in m["per_class"] if r["support"]}}


def _load():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    torch.set_num_threads(2)
    return torch


def _tray():
    import hsimin
    from hsimin.samples import tray_path, truth_path
    cube = hsimin.open_cube(tray_path())
    truth = hsimin.open_map(truth_path())
    return cube, truth


def _tray_truth_names(truth):
    lab = np.asarray(truth.labels)
    sel = lab >= 0
    return sel, np.asarray(truth.classes, dtype=object)[lab[sel]]


def _map_accuracy(mm, truth):
    sel, want = _tray_truth_names(truth)
    names = np.asarray(list(mm.classes) + [""], dtype=object)
    lab = np.asarray(mm.labels)
    got = names[np.where(lab >= 0, lab, len(mm.classes))][sel]
    classes = list(truth.classes)
    idx = {c: i for i, c in enumerate(classes)}
    return _metrics([idx[w] for w in want], [idx.get(g, -1) for g in got], classes)


# ------------------------------------------------------------------------------------------------ (a) accuracy

def _library_set(cfg, cube):
    """(raw reflectance samples, the same after the config's recipe, the library) of the config's classes, the
    tray's samples left out; both sample sets hold the same spectra in the same order."""
    from hsimin.data import library_samples
    from hsimin.io.libraries import load_library
    from hsimin.preprocess import Recipe
    from hsimin.samples import TRAY_SAMPLE_IDS
    lib = load_library("usgs_splib07", wavelengths=cube.wavelengths, fwhm=cube.fwhm)
    raw = library_samples(lib, class_names=cfg.data.classes)
    raw = raw.subset(~np.isin(raw.groups, list(TRAY_SAMPLE_IDS)))
    x, wl = Recipe.from_dict(cfg.recipe).apply(raw.x, raw.wavelengths)
    finite = np.isfinite(x).all(axis=1)
    raw = raw.subset(finite)
    pre = dataclasses.replace(raw, x=np.ascontiguousarray(x[finite], dtype=np.float32), wavelengths=wl)
    return raw, pre, lib


def _train(spec, train_set, cfg, epochs, seed):
    from hsimin.data import TensorSamples, build_augment
    from hsimin.models import create_model
    from hsimin.train import fit
    o = cfg.optim
    model = create_model({**spec, "in_bands": train_set.n_bands, "num_outputs": len(train_set.class_names)})
    fit(model, TensorSamples.from_samples(train_set), None, epochs=epochs, batch_size=o.batch_size, lr=o.lr,
        weight_decay=o.weight_decay, schedule=o.schedule, warmup_epochs=min(o.warmup_epochs, epochs / 10),
        augment=build_augment(cfg.augment, train_set.wavelengths), balance=o.balance,
        label_smoothing=o.label_smoothing, seed=seed, deterministic=False)
    return model.eval()


def _predict(torch, model, x):
    from hsimin.models import to_torch
    with torch.inference_mode():
        out = []
        xt = to_torch(np.ascontiguousarray(x, dtype=np.float32))
        for i in range(0, xt.shape[0], 16384):
            out.append(model(xt[i:i + 16384]).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, int)


def accuracy(args, torch) -> dict:
    from hsimin.classical import SpectralAngleMapper, identify_cube
    from hsimin.data import group_kfold
    from hsimin.models import default_model_path, load_model
    from hsimin.predict import predict_cube
    from hsimin.preprocess import Recipe
    from hsimin.samples import TRAY_SAMPLE_IDS
    from hsimin.train.config import load_config

    cfg = load_config(CONFIG)
    cube, truth = _tray()
    raw, pre, lib = _library_set(cfg, cube)
    names = list(pre.class_names)
    folds = group_kfold(pre.groups, n_splits=args.folds, seed=0, labels=pre.y)
    recipe = Recipe.from_dict(cfg.recipe)
    sel, _ = _tray_truth_names(truth)
    tray_pixels = np.asarray(cube.data)[sel]
    tray_feats = recipe.apply(tray_pixels, cube.wavelengths, cube.fwhm)[0]
    models = {
        "fastspec (default config)": (cfg.model.spec, cfg.optim.epochs),
        "cnn1d 32-64-64 k7": ({"backbone": {"name": "cnn1d", "widths": [32, 64, 64], "kernel_size": 7},
                               "head": "linear"}, args.cnn_epochs),
    }
    n_groups = np.array([np.unique(pre.groups[pre.y == k]).size for k in range(len(names))])
    testable = n_groups[pre.y] >= 2

    def scored(y, p):
        """Metrics over all held-out spectra, and over the classes with >= 2 USGS samples (a class with one
        sample has no training data when that sample is held out: its recall is 0 by construction)."""
        return {"all_classes": _metrics(y, p, names),
                "classes_with_2_or_more_samples": _metrics(np.where(testable, y, -1), p, names)}

    out = {"split": (f"stratified group {args.folds}-fold over USGS physical sample ids (hsimin.data.group_kfold, "
                     "seed 0): no sample has spectra on both sides; the 16 samples of the bundled tray are left out "
                     "of every fold"),
           "n_spectra": len(pre), "n_samples": int(np.unique(pre.groups).size), "classes": names,
           "spectra_per_class": pre.counts(),
           "samples_per_class": {n: int(g) for n, g in zip(names, n_groups)},
           "single_sample_classes": [n for n, g in zip(names, n_groups) if g < 2], "models": {}}
    # SAM on raw reflectance in the classical fit range (1300-2480 nm)
    win = (raw.wavelengths >= 1300) & (raw.wavelengths <= 2480)
    pred = np.full(len(raw), -1)
    for f in folds:
        sam = SpectralAngleMapper(max_angle=None).fit(raw.x[f.train][:, win],
                                                      np.asarray(names, dtype=object)[raw.y[f.train]])
        got = sam.predict(raw.x[f.test][:, win])
        pred[f.test] = [names.index(g) if g in names else -1 for g in got]
    out["models"]["sam (library matching, 1300-2480 nm)"] = {"leave_samples_out": scored(raw.y, pred)}
    for label, (spec, epochs) in models.items():
        t0 = time.perf_counter()
        pred = np.full(len(pre), -1)
        tray_oa = []
        for k, f in enumerate(folds):
            model = _train(spec, pre.subset(f.train), cfg, epochs, seed=cfg.seed + k)
            pred[f.test] = _predict(torch, model, pre.x[f.test])
            got = np.asarray(names, dtype=object)[_predict(torch, model, tray_feats)]
            tray_oa.append(float(np.mean(got == _tray_truth_names(truth)[1])))
            print(f"  {label} fold {k + 1}/{len(folds)}: tray OA {tray_oa[-1]:.3f}", flush=True)
        out["models"][label] = {"epochs": epochs, "seconds": round(time.perf_counter() - t0, 1),
                                "leave_samples_out": scored(pre.y, pred),
                                "tray_oa_of_fold_models": {"mean": round(float(np.mean(tray_oa)), 4),
                                                           "min": round(min(tray_oa), 4),
                                                           "max": round(max(tray_oa), 4)}}
        lso = out["models"][label]["leave_samples_out"]
        print(f"{label}: leave-samples-out OA {lso['all_classes']['oa']:.3f} (classes with >= 2 samples: "
              f"{lso['classes_with_2_or_more_samples']['oa']:.3f})", flush=True)
    # the shipped model and SAM on the tray
    shipped = load_model(default_model_path())
    mm = predict_cube(cube, shipped)
    out["tray"] = {"what": ("bundled sample tray (hsimin.samples): real USGS spectra of 16 samples in a simulated "
                            "layout, 11 470 labelled pixels; none of its samples was used to train or fit"),
                   "shipped_model": {**_map_accuracy(mm, truth), "model_hash": shipped.model_hash}}
    robust = {}
    for b, slope in ((0.5, 0.0), (1.5, 0.0), (1.0, 0.1), (1.0, -0.1), (0.6, 0.1)):
        ramp = (b * (1.0 + slope * (cube.wavelengths - 1750.0) / 750.0)).astype(np.float32)
        changed = dataclasses.replace(cube, data=np.asarray(cube.data) * ramp)
        robust[f"brightness x{b:g}, slope {slope:+g}"] = _map_accuracy(predict_cube(changed, shipped), truth)["oa"]
    out["tray"]["shipped_model_robustness"] = {
        "what": "tray OA after multiplying every pixel by b * (1 + slope * (wavelength - 1750) / 750)", **robust}
    tray_free = lib.subset(~np.isin(np.asarray(lib.sample_ids, dtype=object).astype(str), list(TRAY_SAMPLE_IDS))
                           & np.isin(np.asarray(lib.minerals, dtype=object).astype(str), names))
    sam_map = identify_cube(cube, "sam", library=tray_free, max_angle=None)
    out["tray"]["sam_same_classes"] = _map_accuracy(sam_map, truth)
    print(f"tray: shipped model OA {out['tray']['shipped_model']['oa']:.3f}, SAM OA "
          f"{out['tray']['sam_same_classes']['oa']:.3f}", flush=True)
    return out


# ------------------------------------------------------------------------------------------------ (b) speed

def _write_cube(folder: Path, width: int) -> Path:
    """A 384 x width x 270 ENVI cube (uint16 BIL, scale 10000, like the sample tray) tiled from the tray."""
    import spectral.io.envi as envi
    cube, _ = _tray()
    raw = np.round(np.asarray(cube.data) * 10000).clip(0, 65535).astype(np.uint16)
    H = FULL_SHAPE[0]
    big = np.tile(raw, (H // raw.shape[0] + 1, width // raw.shape[1] + 1, 1))[:H, :width]
    md = {"wavelength units": "Nanometers", "wavelength": [f"{w:.4f}" for w in cube.wavelengths],
          "fwhm": [f"{w:.4f}" for w in cube.fwhm], "reflectance scale factor": 10000}
    hdr = folder / f"bench_{H}x{width}.hdr"
    envi.save_image(str(hdr), big, dtype=np.uint16, interleave="bil", metadata=md, force=True, ext=".img")
    return hdr


def _is_pixel_backbone(torch, model, bands: int) -> bool:
    """True if the model's output ignores every pixel of a 9 x 9 patch except the centre (measured)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, bands, 9, 9, generator=g)
    y = x.clone()
    y[:, :, :4] = torch.rand(4, bands, 4, 9, generator=g)
    y[:, :, 5:] = torch.rand(4, bands, 4, 9, generator=g)
    with torch.inference_mode():
        return bool(torch.allclose(model(x), model(y), atol=1e-6))


def _timed_predict(cube_path: Path, lm, lines: int | None, repeat: int, **kw) -> dict:
    """Best of ``repeat`` end-to-end runs: open the cube, read lines 0:lines (all if None), predict."""
    import hsimin
    from hsimin.predict import predict_cube
    best = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        cube = hsimin.open_cube(cube_path)
        if lines is not None and lines < cube.shape[0]:
            cube = dataclasses.replace(cube, data=np.asarray(cube.data[:lines]))
        predict_cube(cube, lm, **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = cube.shape[0] * cube.shape[1]
        if best is None or wall < best["seconds"]:
            best = {"pixels": n, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                    "pixels_per_second": round(n / wall, 1), "pixels_per_cpu_second": round(n / cpu, 1)}
    return best


def _lines_for(cube_path: Path, lm, min_lines: int = 1, target_s: float = 2.0) -> int:
    """Lines to time so that one run takes about ``target_s``: a warm-up run (JIT compilation, receptive-field
    measurement), then a timed probe of ``min_lines`` lines."""
    _timed_predict(cube_path, lm, min_lines, 1)
    t = _timed_predict(cube_path, lm, min_lines, 1)["seconds"]
    return int(min(FULL_SHAPE[0], max(min_lines, np.ceil(min_lines * target_s / max(t, 1e-3)))))


def one_backbone(args) -> dict:
    """(subprocess) Throughput of one registered backbone, untrained, on the cube."""
    torch = _load()
    from hsimin.models import create_model, load_model, save_model
    cube, _ = _tray()
    wl = cube.wavelengths
    name = args.one_backbone
    torch.manual_seed(0)
    model = create_model({"backbone": name, "in_bands": wl.size, "num_outputs": 22}).eval()
    if model.dense:
        kind, patch = "dense (tiles)", 16
    elif _is_pixel_backbone(torch, model, wl.size):
        kind, patch = "pixel", 1
    else:
        kind, patch = "patch 9 x 9", 9
    model = create_model({"backbone": name, "in_bands": wl.size, "num_outputs": 22, "patch_size": patch}).eval()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / f"{name}.pt"
        save_model(model, ckpt, wavelengths=wl, class_names=[f"c{i}" for i in range(22)])
        lm = load_model(ckpt)
    lines = _lines_for(Path(args.cube), lm, DENSE_MIN_LINES if model.dense else 1)
    reset = _reset_peak_rss()
    r = _timed_predict(Path(args.cube), lm, lines, args.repeat)
    n_full = FULL_SHAPE[0] * FULL_SHAPE[1]
    return {"backbone": name, "kind": kind, "parameters": int(sum(p.numel() for p in model.parameters())),
            "lines_timed": lines, **r, "extrapolated_seconds_384x2000": round(n_full / r["pixels_per_second"], 1),
            "peak_rss_mib": _peak_rss_mib(), "peak_rss_after_warmup": reset}


def end_to_end(args) -> dict:
    """(subprocess) One pipeline end to end on the cube: the shipped model, a plain cnn1d, or SAM."""
    torch = _load()
    import hsimin
    from hsimin.models import create_model, default_model_path, load_model, save_model
    what = args.one_pipeline
    cube_path = Path(args.cube)
    if what == "shipped":
        lm = load_model(default_model_path())
        _timed_predict(cube_path, lm, 1, 1)                       # warm-up: JIT compilation of the kernels
        reset = _reset_peak_rss()
        r = _timed_predict(cube_path, lm, None, args.repeat)
        r["lines_timed"] = FULL_SHAPE[0]
    elif what == "cnn1d":
        cube, _ = _tray()
        torch.manual_seed(0)
        model = create_model({"backbone": {"name": "cnn1d", "widths": [32, 64, 64], "kernel_size": 7},
                              "in_bands": 270, "num_outputs": 22, "patch_size": 1}).eval()
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / "cnn1d.pt"
            save_model(model, ckpt, wavelengths=cube.wavelengths, class_names=[f"c{i}" for i in range(22)])
            lm = load_model(ckpt)
        lines = _lines_for(cube_path, lm)
        reset = _reset_peak_rss()
        r = _timed_predict(cube_path, lm, lines, args.repeat)
        r["lines_timed"] = lines
    else:
        from hsimin.classical import identify_cube
        from hsimin.samples import TRAY_SAMPLE_IDS, tray_path
        from hsimin.train.config import load_config
        cfg = load_config(CONFIG)
        tray, _ = _tray()
        lib = hsimin.load_library("usgs_splib07", wavelengths=tray.wavelengths, fwhm=tray.fwhm)
        keep = (~np.isin(np.asarray(lib.sample_ids, dtype=object).astype(str), list(TRAY_SAMPLE_IDS))
                & np.isin(np.asarray(lib.minerals, dtype=object).astype(str), list(cfg.data.classes)))
        lib = lib.subset(keep)
        identify_cube(hsimin.open_cube(tray_path()), "sam", library=lib)     # warm-up (JIT)
        reset = _reset_peak_rss()
        best = None
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            cube = hsimin.open_cube(cube_path)
            identify_cube(cube, "sam", library=lib)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            n = cube.shape[0] * cube.shape[1]
            if best is None or wall < best["seconds"]:
                best = {"pixels": n, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                        "pixels_per_second": round(n / wall, 1), "pixels_per_cpu_second": round(n / cpu, 1),
                        "library_spectra": len(lib)}
        r = {**best, "lines_timed": FULL_SHAPE[0]}
    r["peak_rss_mib"] = _peak_rss_mib()
    r["peak_rss_after_warmup"] = reset
    r["extrapolated_seconds_384x2000"] = round(FULL_SHAPE[0] * FULL_SHAPE[1] / r["pixels_per_second"], 1)
    r["torch_threads"] = torch.get_num_threads()
    return r


def _child(args, flag: str, value: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), flag, value, "--cube", str(args.cube), "--width",
           str(args.width), "--repeat", str(args.repeat)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def speed(args) -> dict:
    torch = _load()
    from hsimin.models import list_backbones
    out = {"cube": f"{FULL_SHAPE[0]} x {args.width} x 270 ENVI uint16 BIL (reflectance scale 10000), tiled from "
                   "the sample tray" + ("" if args.width == FULL_SHAPE[1] else
                                        f"; figures extrapolated to {FULL_SHAPE[0]} x {FULL_SHAPE[1]}"),
           "threads": torch.get_num_threads(), "backbones": [], "end_to_end": {}}
    with tempfile.TemporaryDirectory() as tmp:
        args.cube = _write_cube(Path(tmp), args.width)
        for what in ("shipped", "cnn1d", "sam"):
            out["end_to_end"][what] = _child(args, "--one-pipeline", what)
            print(f"end to end {what}: {out['end_to_end'][what]}", flush=True)
        for name in list_backbones():
            r = _child(args, "--one-backbone", name)
            r.setdefault("backbone", name)
            out["backbones"].append(r)
            print(f"backbone {name}: {r}", flush=True)
    e = out["end_to_end"]
    if all("pixels_per_second" in e[k] for k in e):
        s = e["shipped"]
        out["ratios"] = {
            "shipped_vs_cnn1d_wall": round(s["pixels_per_second"] / e["cnn1d"]["pixels_per_second"], 1),
            "shipped_vs_cnn1d_cpu": round(s["pixels_per_cpu_second"] / e["cnn1d"]["pixels_per_cpu_second"], 1),
            "shipped_vs_sam_wall": round(s["pixels_per_second"] / e["sam"]["pixels_per_second"], 2),
            "shipped_vs_sam_cpu": round(s["pixels_per_cpu_second"] / e["sam"]["pixels_per_cpu_second"], 2),
        }
    return out


# ------------------------------------------------------------------------------------------------ main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "models_bench.json"))
    ap.add_argument("--folds", type=int, default=4, help="group k-fold over USGS samples")
    ap.add_argument("--cnn-epochs", type=int, default=150, help="epochs of the cnn1d folds (slow on CPU)")
    ap.add_argument("--width", type=int, default=500, help="samples of the timing cube (2000 with --full)")
    ap.add_argument("--full", action="store_true", help="time the full 384 x 2000 x 270 cube")
    ap.add_argument("--repeat", type=int, default=2, help="timing repeats (best kept)")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--one-backbone", help=argparse.SUPPRESS)
    ap.add_argument("--one-pipeline", help=argparse.SUPPRESS)
    ap.add_argument("--cube", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.full:
        args.width = FULL_SHAPE[1]
    if args.one_backbone:
        print(json.dumps(one_backbone(args)))
        return 0
    if args.one_pipeline:
        print(json.dumps(end_to_end(args)))
        return 0
    torch = _load()
    result = {"benchmark": "hsimin deep classifiers (benchmarks/models_bench.py)",
              "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "torch": torch.__version__, "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
              "settings": {"folds": args.folds, "cnn_epochs": args.cnn_epochs, "width": args.width,
                           "repeat": args.repeat, "config": str(CONFIG.relative_to(ROOT))}}
    t0 = time.perf_counter()
    if not args.skip_accuracy:
        result["accuracy"] = accuracy(args, torch)
    if not args.skip_speed:
        result["throughput"] = speed(args)
    result["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
