"""Prospectivity benchmark on the bundled real Li-belt data (issue 5).

Spatially blocked 5-fold CV AUC (mean ± sd over folds) of ssgsnet, resnet, vit, dualbranch and random_forest on
the same folds, without and with contrastive pretraining (networks only: the forest has nothing to pretrain);
wall time of the CV, of the final fit on all sites and of mapping the whole belt, per model; the torch thread
count used. Results go to ``benchmarks/results/prospect_bench.json`` and a Markdown table to stdout, next to
the paper's ordering on its own data (SSGSNet 0.945 > ViT 0.937 > ResNet 0.901 > DualBranch 0.637).

Usage (from the project root)::

    .venv/bin/python benchmarks/prospect_bench.py [--threads 1] [--no-pretrain] [--negatives authors|kmeans]
        [--seeds 0] [--epochs 30] [--size small] [--out benchmarks/results/prospect_bench.json]
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

PAPER = {"ssgsnet": 0.945, "vit": 0.937, "resnet": 0.901, "dualbranch": 0.637}
MODELS = ("ssgsnet", "resnet", "vit", "dualbranch", "random_forest")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small nets)")
    ap.add_argument("--no-pretrain", action="store_true", help="skip the pretrained variant")
    ap.add_argument("--negatives", choices=("authors", "kmeans"), default="authors")
    ap.add_argument("--seeds", default="0", help="comma-separated CV seeds (fold assignment and training)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--size", default="small", choices=("small", "paper", "tiny"))
    ap.add_argument("--no-map", action="store_true", help="skip the final fit + map timings")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "prospect_bench.json"))
    a = ap.parse_args(argv)

    import torch

    from hsimin.io.writers import write_json
    from hsimin.prospect.data import load_demo
    from hsimin.prospect.mapping import predict_map
    from hsimin.prospect.models import TrainSettings, create_prospect_model
    from hsimin.prospect.sites import make_sites
    from hsimin.prospect.windows import blocked_folds, extract_windows
    from hsimin.prospect.runs import demo_config
    from hsimin.prospect.workflow import cross_validate, prepare

    torch.set_num_threads(a.threads)
    layers, dep, neg = load_demo()
    seeds = [int(s) for s in a.seeds.split(",")]
    runs = []
    for seed in seeds:
        train = TrainSettings(size=a.size, seed=seed, **({"epochs": a.epochs} if a.epochs else {}))
        cfg = demo_config(seed=seed, train=train, models=MODELS)
        prepared = prepare(layers, cfg)
        sites = make_sites(layers, (dep["x"], dep["y"]), None if a.negatives == "kmeans" else (neg["x"], neg["y"]),
                           negative_layer=cfg.negative_layer, fault_layer=cfg.fault_layer, seed=seed)
        folds = blocked_folds(sites.rows, sites.cols, sites.labels, cfg.window, cfg.folds, cfg.block_size, seed=seed,
                              shape=prepared.mask.shape)
        say = lambda m: print(f"  {m}", flush=True)  # noqa: E731
        print(f"seed {seed}: {len(sites)} sites, folds {[int(f.test.size) for f in folds]}", flush=True)
        plain, _, t_plain = cross_validate(prepared, sites, folds, cfg, progress=say)
        run = {"seed": seed, "no_pretrain": plain, "folds_test_sizes": [int(f.test.size) for f in folds]}
        if not a.no_pretrain:
            cfg_p = demo_config(seed=seed, train=train, models=MODELS, pretrain=True)
            nets = [m for m in MODELS if m != "random_forest"]
            t0 = time.perf_counter()
            pre, _, _ = cross_validate(prepared, sites, folds, cfg_p, models=nets, progress=say)
            run["pretrain"] = pre
            run["pretrain_cv_seconds_total"] = time.perf_counter() - t0
        runs.append(run)

    timing = {}
    if not a.no_map:
        X = extract_windows(prepared.values, sites.rows, sites.cols, cfg.window)
        for name in MODELS:
            m = create_prospect_model(name, X.shape[-1], cfg.window, cfg.settings())
            t0 = time.perf_counter()
            m.fit(X, sites.labels.astype(np.int64), seed=0)
            t_fit = time.perf_counter() - t0
            t0 = time.perf_counter()
            predict_map(m.predict_proba, prepared.values, prepared.mask, cfg.window, batch_size=cfg.map_batch)
            timing[name] = {"cv_seconds": runs[0]["no_pretrain"][name]["train_seconds"], "final_fit_seconds": t_fit,
                            "map_seconds": time.perf_counter() - t0, "cells_mapped": int(prepared.mask.sum())}
            print(f"  {name}: final fit {t_fit:.1f} s, map {timing[name]['map_seconds']:.1f} s", flush=True)

    def agg(key, name):
        vals = [r[key][name]["auc_mean"] for r in runs if key in r and name in r[key]]
        sds = [r[key][name]["auc_std"] for r in runs if key in r and name in r[key]]
        return (float(np.mean(vals)), float(np.mean(sds))) if vals else (float("nan"), float("nan"))

    table = {}
    for name in MODELS:
        m0, s0 = agg("no_pretrain", name)
        m1, s1 = agg("pretrain", name)
        table[name] = {"auc_mean": m0, "auc_std": s0, "auc_mean_pretrained": m1, "auc_std_pretrained": s1,
                       "paper_auc": PAPER.get(name)}
    order_here = sorted(PAPER, key=lambda n: -table[n]["auc_mean"])
    order_paper = sorted(PAPER, key=lambda n: -PAPER[n])
    doc = {
        "data": "bundled South China Li belt: 14 elements + fault density on a 2 km grid, 16 x 16 windows, "
                f"23 deposits, {a.negatives} negatives, spatially blocked 5-fold CV (64 km blocks, purged)",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": a.threads,
                    "processor": platform.processor() or platform.machine()},
        "settings": train.to_dict(), "table": table, "runs": runs, "timing": timing,
        "ordering": {"here": order_here, "paper": order_paper, "holds": order_here == order_paper},
    }
    write_json(doc, a.out, overwrite=True)
    print("\n| model | AUC (no pretraining) | AUC (pretrained) | paper |\n|---|---|---|---|")
    for name, e in table.items():
        pre = "—" if not np.isfinite(e["auc_mean_pretrained"]) else \
            f"{e['auc_mean_pretrained']:.3f} ± {e['auc_std_pretrained']:.3f}"
        paper = "—" if e["paper_auc"] is None else f"{e['paper_auc']:.3f}"
        print(f"| {name} | {e['auc_mean']:.3f} ± {e['auc_std']:.3f} | {pre} | {paper} |")
    print(f"\nordering here: {' > '.join(order_here)}; paper: {' > '.join(order_paper)}; "
          f"holds: {doc['ordering']['holds']}")
    print(f"results: {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
