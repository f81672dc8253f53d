"""``hsimin prospect run`` and ``hsimin prospect demo``: mineral prospectivity (SSGSNet and baselines).

Parse, build a :class:`hsimin.prospect.workflow.ProspectConfig`, make one library call
(:func:`hsimin.prospect.runs.run_files` / :func:`~hsimin.prospect.runs.run_demo`), print the AUC table.
"""
from __future__ import annotations

import argparse
import sys
from .args import numbers

PROSPECT_HELP = "mineral prospectivity from geochemical grids and faults (SSGSNet and baselines)"
MODELS = ("ssgsnet", "resnet", "vit", "dualbranch", "random_forest")


_csv_floats = numbers("--fault-rings", "comma-separated positive distances in the layers' CRS units (e.g. 500,1000)",
                      positive=True)
_three_thresholds = numbers("--thresholds", "three thresholds A,B,C (e.g. 0.95,0.90,0.85) or 'histogram'", 3)


def _thresholds(text: str):
    if text.strip().lower() == "histogram":
        return "histogram"
    return _three_thresholds(text)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _common(p: argparse.ArgumentParser, window_default: int) -> None:
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    p.add_argument("--window", type=int, default=window_default, metavar="K", help="window side in cells")
    p.add_argument("--models", type=_names, default=MODELS, metavar="LIST",
                   help="comma-separated models to compare: " + ", ".join(MODELS))
    p.add_argument("--folds", type=int, default=None,
                   help="spatially blocked CV folds (default: 5, or fewer when the sites cannot fill 5 folds; the "
                        "run says which split it chose)")
    p.add_argument("--block-size", type=int, default=None, metavar="CELLS",
                   help="side of the CV blocks in cells (default: 2 x window, or smaller when the sites need it)")
    p.add_argument("--size", choices=("small", "paper", "tiny"), default="small",
                   help="network widths: 'paper' = ResNet-18 widths and a 256-d ViT (slow on CPU); 'small' = "
                        "shrunk widths that train in minutes on 2 cores; 'tiny' = smoke tests")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per network (None: 30)")
    p.add_argument("--pretrain", action="store_true",
                   help="contrastive (SimCLR) pretraining on unlabelled windows of the area before fine-tuning")
    p.add_argument("--pretrain-windows", type=int, default=2000, metavar="N",
                   help="unlabelled windows for pretraining (and target windows for DANN)")
    p.add_argument("--transfer", choices=("none", "dann"), default="none",
                   help="dann: domain-adversarial transfer from one half of the area to the other, reported in "
                        "summary.json")
    p.add_argument("--transfer-model", default="ssgsnet", metavar="NAME", help="network used for --transfer")
    p.add_argument("--thresholds", type=_thresholds, default=(0.95, 0.90, 0.85), metavar="A,B,C",
                   help="probability thresholds of classes A, B, C, or 'histogram' (top 5/10/15 %% of the area)")
    p.add_argument("--attribution", choices=("shapley", "ig", "none"), default="shapley",
                   help="Captum attributions per input layer: Shapley value sampling or integrated gradients")
    p.add_argument("--attribution-samples", type=int, default=25, metavar="N", help="Shapley permutations")
    p.add_argument("--map-model", default="best", metavar="NAME",
                   help="model that maps the area: 'best' (highest CV AUC) or a model name")
    p.add_argument("--also-map", type=_names, default=None, metavar="LIST",
                   help="comma-separated models mapped (with attributions) besides the mapped one; files get a "
                        "_<model> suffix (demo: ssgsnet)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest for the small networks (more threads spin-wait on tiny ops)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in OUT")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def register(subparsers) -> None:
    p = subparsers.add_parser("prospect", help=PROSPECT_HELP, description=(
        "Prospectivity mapping after SSGSNet (Xiang et al. 2026): element grids and a fault layer are cut into "
        "k x k windows around known deposits (positives) and non-deposit sites (negatives: a site list, or "
        "K-means low clusters of one element far from faults and deposits); SSGSNet (resnet_casa + vit + gated "
        "fusion) and the baselines resnet, vit, dualbranch and random_forest are compared by spatially blocked "
        "cross-validation; the best model maps every cell of the study area."))
    sub = p.add_subparsers(dest="prospect_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    r = sub.add_parser("run", help="run the workflow on your GeoTIFF layers and site lists",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter, description=(
                           "Layers: GeoTIFFs on one grid, one layer per file named by its stem, and/or point "
                           "samples gridded by IDW (--points). Sites: CSV with x,y columns in the layers' CRS. "
                           "Writes OUT/metrics.json, summary.json, "
                           "prospectivity.h5 and .tif, layers.h5, sites_used.csv and PNGs (map with deposits, "
                           "ROC, success-rate, attributions, layers)."))
    r.add_argument("--layers", nargs="+", default=[], metavar="FILE", help="GeoTIFF layers (one grid)")
    r.add_argument("--points", default=None, metavar="SAMPLES.csv",
                   help="point samples (x, y and one column per element) gridded by IDW, on the --layers grid or "
                        "on a new --cell-size grid")
    r.add_argument("--point-columns", type=_names, default=None, metavar="NAMES",
                   help="comma-separated value columns of --points (default: every numeric column)")
    r.add_argument("--cell-size", type=float, default=None, metavar="M", help="IDW grid cell size without --layers")
    r.add_argument("--crs", default=None, metavar="EPSG:XXXX", help="CRS of --points without --layers")
    r.add_argument("--idw-power", type=float, default=2.0, help="IDW exponent")
    r.add_argument("--search-radius", type=float, default=None, metavar="M",
                   help="IDW search radius (cells with no sample in reach are no data)")
    r.add_argument("--deposits", required=True, metavar="SITES.csv", help="known deposits (x,y)")
    r.add_argument("--negatives", default=None, metavar="SITES.csv",
                   help="non-deposit sites (x,y); default: K-means negatives of --negative-layer")
    r.add_argument("--mask", default=None, metavar="MASK.tif", help="study area (non-zero = inside), on the layers' grid")
    r.add_argument("--faults", default=None, metavar="FAULTS",
                   help="fault polylines (GeoJSON LineStrings or CSV line_id,x,y) -> a multi-ring buffer layer 'faults'")
    r.add_argument("--fault-rings", type=_csv_floats, default=(500, 1000, 1500, 2000, 2500, 3000), metavar="M,M,...",
                   help="buffer ring radii in CRS units (m)")
    r.add_argument("--transform", choices=("log", "clr", "none"), default="log",
                   help="transform of the element layers (not of --raw-layers or the fault layer)")
    r.add_argument("--raw-layers", type=_names, default=(), metavar="NAMES",
                   help="comma-separated layer names left untransformed (e.g. a fault-density layer)")
    r.add_argument("--fault-layer", default=None, metavar="NAME",
                   help="layer holding fault influence (high near faults), kept raw and used to keep K-means "
                        "negatives away from faults (set automatically with --faults)")
    r.add_argument("--negative-layer", default="Au", metavar="NAME", help="element clustered for K-means negatives")
    r.add_argument("--n-negatives", type=int, default=None, metavar="N",
                   help="number of K-means negatives (default: as many as deposit cells)")
    _common(r, window_default=32)
    r.set_defaults(func=run_cmd)

    d = sub.add_parser("demo", help="run the workflow on the bundled real South China Li-belt data",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter, description=(
                           "14 IDW element grids (4.2 km) and a fault-density layer (1 km) resampled to 2 km, "
                           "23 Li deposits and the source authors' 23 negative sites; 16 x 16 windows (32 km). "
                           "See hsimin/prospect/data/README.md."))
    d.add_argument("--negatives", choices=("authors", "kmeans"), default="authors",
                   help="negative sites: the source authors' list, or K-means on Li far from faults and deposits")
    d.add_argument("--transform", choices=("log", "clr", "none"), default="log", help="transform of the element layers")
    _common(d, window_default=16)
    d.set_defaults(func=demo_cmd)


def _config_kwargs(args) -> dict:
    from ..prospect.models import TrainSettings

    train = TrainSettings(size=args.size, seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    kw = dict(window=args.window, models=args.models, folds=args.folds, block_size=args.block_size,
              transform=args.transform, pretrain=args.pretrain, pretrain_windows=args.pretrain_windows,
              transfer=args.transfer, transfer_model=args.transfer_model, thresholds=args.thresholds,
              attribution=args.attribution, attribution_samples=args.attribution_samples, map_model=args.map_model,
              threads=args.threads, seed=args.seed, train=train)
    if args.block_size is None:
        del kw["block_size"]
    if args.also_map is not None:
        kw["extra_maps"] = args.also_map
    return kw


def _say(args):
    if args.quiet:
        return None
    return lambda msg: print(f"hsimin prospect: {msg}", file=sys.stderr, flush=True)


def _report(result, out) -> int:
    cv = result.cv.describe() if result.cv is not None else f"spatially blocked {len(result.folds)}-fold CV"
    print(f"{'model':15s} {'AUC mean':>8s} {'sd':>6s}  ({cv})")
    for name, e in result.metrics.items():
        print(f"{name:15s} {e['auc_mean']:8.3f} {e['auc_std']:6.3f}")
    print(f"map: {result.map_model}; success-rate AUC {result.success['auc']:.3f}; outputs in {out}")
    return 0


def run_cmd(args) -> int:
    from ..prospect.runs import PointLayers, run_files
    from ..prospect.workflow import ProspectConfig

    raw = tuple(args.raw_layers) + ((args.fault_layer,) if args.fault_layer else ())
    cfg = ProspectConfig(**_config_kwargs(args), raw_layers=raw, fault_layer=args.fault_layer,
                         negative_layer=args.negative_layer, n_negatives=args.n_negatives)
    points = None if args.points is None else PointLayers(
        args.points, args.point_columns, args.idw_power, args.search_radius, cell_size=args.cell_size, crs=args.crs)
    result = run_files(args.layers, args.deposits, args.output, negatives=args.negatives, mask=args.mask,
                       faults=args.faults, fault_rings=args.fault_rings, points=points, config=cfg,
                       overwrite=args.overwrite, progress=_say(args))
    return _report(result, args.output)


def demo_cmd(args) -> int:
    from ..prospect.runs import demo_config, run_demo

    cfg = demo_config(**_config_kwargs(args))
    result = run_demo(args.output, config=cfg, kmeans_negatives=args.negatives == "kmeans", overwrite=args.overwrite,
                      progress=_say(args))
    return _report(result, args.output)
