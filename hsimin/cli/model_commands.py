"""Model verbs of the ``hsimin`` command line. Each verb is one ``register_<verb>(subparsers)`` function that
adds its sub-parser and handler; :func:`register` calls them all (add a verb by adding its pair of functions
and listing it in :data:`VERBS`).

``hsimin train CONFIG.toml [-o RUN_DIR]``: parse, load the config, call
:func:`hsimin.train.run.run_training`; no logic of its own.
"""
from __future__ import annotations

import argparse

TRAIN_HELP = "train a mineral classifier from a TOML config and write a run folder"


def register_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help=TRAIN_HELP,
        description=(
            "Train a classifier as a TOML config describes (data sources, recipe, model spec, split, augmentation, "
            "optimisation; see configs/example_train.toml) and write the run folder: the resolved config "
            "(config.toml, config.json), history.json, curves.png, metrics.json (with the split type; random "
            "splits are reported as 'random pixel split: optimistic'), per_class.csv, confusion.csv/.png and "
            "the checkpoint (model.pt)."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("config", metavar="CONFIG.toml", help="the training configuration")
    p.add_argument("-o", "--output", metavar="RUN_DIR", default=None,
                   help="run folder (default: output.dir of the config)")
    p.add_argument("--overwrite", action="store_true", help="write into a run folder that is not empty")
    p.add_argument("--device", default=None, metavar="DEV", help="cpu, cuda or auto (default: the config's)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show progress bars (default: only on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    from ..train.config import load_config
    from ..train.run import run_training
    cfg = load_config(args.config)
    if args.device:
        cfg = cfg.replace(device=args.device)
    run_training(cfg, args.output, overwrite=True if args.overwrite else None, progress=args.progress,
                 log=None if args.quiet else print)
    return 0


VERBS = [register_train]
"""The verb registrars of this module, in --help order."""


def register(subparsers) -> None:
    """Add every model verb to the ``hsimin`` parser."""
    for add in VERBS:
        add(subparsers)
