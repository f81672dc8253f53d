"""``hsimin batch``: classify a whole scanning session (many trays) and write its down-hole logs and report.

Parse the options into a :class:`hsimin.batch.BatchConfig`, call :func:`hsimin.batch.run_batch`, show progress
(a tqdm bar on an interactive stderr only) and print a summary. Exit code 0 when every tray is done or skipped, 1
when some failed (the rest are written), 2 on bad usage, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import sys

BATCH_HELP = "classify every tray of a session (folder or manifest CSV), locally or on a Dask cluster"

DESCRIPTION = """\
Classify every tray of a scanning session and write, per tray, OUT/<hole_id>/<tray_id>.h5 (mineral map,
feature scalars, pixel depths), .hdr/.img (ENVI Classification) and .png (map with legend); per hole,
downhole_log.csv, downhole_log.png (strip log) and mosaic.png; and OUT/report.html and OUT/run.json.

SESSION is a folder searched recursively for trays (ENVI .hdr, HDF5 .h5, Specim scan folders, which are
calibrated to reflectance, and HyLogger TSG packages, one hole each, whose spectra carry their own depths) or a
manifest CSV with the columns hole_id,tray_id,depth_from_m,depth_to_m,path
(paths absolute or relative to the manifest; optional stick_depths_m = FROM-TO;FROM-TO;... per core stick).

Re-running the same command skips trays whose outputs are complete and whose input files and options are
unchanged, and redoes failed, interrupted or changed ones. Ctrl-C finishes the trays in flight and stops;
a second Ctrl-C abandons them. Exit code: 0 every tray done, 1 some failed (the rest written), 2 bad usage,
130 interrupted."""


DEFAULT_LIBRARY = "usgs_splib07"
"""What a bare ``hsimin batch SESSION -o OUT`` classifies with."""


def register(subparsers) -> None:
    from ..classical.features import DEFAULT_WINDOWS, windows_to_spec
    from ..classical.defaults import DEFAULT_METHOD, METHOD_NAMES

    p = subparsers.add_parser("batch", help=BATCH_HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("session", metavar="SESSION", help="folder of trays, or manifest CSV")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    clf = p.add_mutually_exclusive_group()
    clf.add_argument("--model", metavar="M",
                     help="model checkpoint (.pt) to classify with, or 'default' for the model shipped with hsimin")
    clf.add_argument("--library", metavar="ID",
                     help="identify against a spectral library instead: a bundled id (usgs_splib07) or a file "
                          f"(with neither option: --library {DEFAULT_LIBRARY})")
    g = p.add_argument_group("classification")
    g.add_argument("--method", default=DEFAULT_METHOD, choices=METHOD_NAMES,
                   help="identification with --library: unmix, the interpretation workflow of 'hsimin identify' "
                        "(SWIR minerals with weights, aspectral, unknown, tray artefacts; default), or a whole-"
                        "spectrum matcher (sam, sid, match, mixture)")
    g.add_argument("--top-k", type=int, default=3, metavar="K", help="best classes kept per pixel (default: 3)")
    g.add_argument("--no-artefacts", dest="artefacts", action="store_false",
                   help="do not recognise tray artefacts (plastic, wood, cardboard, metal) from the usgs_artefacts "
                        "spectra: with --library they are not added to it; with --model the tray is not screened "
                        "out before the model (models without artefact classes)")
    g.add_argument("--no-library-gate", dest="library_gate", action="store_false",
                   help="with --model: leave aspectral and unknown to the model instead of deciding them by the "
                        "library path's SWIR answer (as 'hsimin classify --no-library-gate'): faster, and agrees "
                        "less with TSA on real spectra (the model card, hsimin/models/weights/README.md)")
    g.add_argument("--recipe", metavar="FILE",
                   help="preprocessing recipe (.toml or .json) applied to every block and to the library")
    x = p.add_argument_group("execution")
    ex = x.add_mutually_exclusive_group()
    ex.add_argument("--workers", type=int, metavar="N",
                    help="local worker processes (default: one per core, at most one per tray; 0: one by one in "
                         "this process)")
    ex.add_argument("--scheduler", metavar="ADDR",
                    help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (paths must be the same "
                         "on the workers)")
    x.add_argument("--threads", type=int, default=0, metavar="N",
                   help="threads per tray (default: the cores shared among the workers); outputs are identical "
                        "between runs with the same value")
    x.add_argument("--block-mb", type=int, default=64, metavar="MB",
                   help="memory budget of one block of a tray, in MiB of float32 reflectance (default: 64)")
    x.add_argument("--max-attempts", type=int, default=2, metavar="N",
                   help="tries per tray when its worker process dies (default: 2)")
    o = p.add_argument_group("products and processing")
    o.add_argument("--interval-m", type=float, default=1.0, metavar="X",
                   help="depth interval of the down-hole log, metres (default: 1)")
    o.add_argument("--windows", default="default", metavar="SPEC",
                   help="absorption-feature windows (as for 'hsimin features'); default: "
                        + windows_to_spec(DEFAULT_WINDOWS))
    o.add_argument("--min-albedo", type=float, default=0.03, metavar="R",
                   help="pixels darker than this mean reflectance are background (default: 0.03)")
    o.add_argument("--min-contrast", type=float, default=0.0, metavar="C",
                   help="pixels with less spectral contrast are background; 0 (default) skips the test")
    o.add_argument("--saturation", type=float, default=1.05, metavar="R",
                   help="pixels with a band above this reflectance are saturated (default: 1.05)")
    o.add_argument("--gaps", choices=("keep", "close"), default="keep",
                   help="keep: gaps in a stick take their length of depth (default); close: depth is shared "
                        "out over the core alone")
    o.add_argument("--reading-order", choices=("default", "reversed"), default="default",
                   help="default: sticks left to right (or top to bottom), each from its top (or left) end; "
                        "reversed: a tray scanned rotated by 180 degrees")
    p.set_defaults(func=run_batch_command)


class _Progress:
    """Progress callback: a tqdm bar (trays done, rate, ETA) on an interactive stderr; silent otherwise."""

    def __init__(self):
        self.bar = None
        self.tty = sys.stderr.isatty()
        self.counts: dict[str, int] = {}

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "start":
            if self.tty:
                from tqdm import tqdm
                self.bar = tqdm(total=event["total"], desc="trays", unit="tray", file=sys.stderr,
                                dynamic_ncols=True)
        elif kind == "tray":
            rec = event["record"]
            st = rec.get("status")
            self.counts[st] = self.counts.get(st, 0) + 1
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix({k: v for k, v in sorted(self.counts.items())}, refresh=False)
        elif kind == "message":
            from ..core.text import printable
            text = printable(f"hsimin: {event['text']}")
            if self.bar is not None:
                self.bar.write(text, file=sys.stderr)
            else:
                print(text, file=sys.stderr, flush=True)
        elif kind == "end" and self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_batch_command(args) -> int:
    from ..batch import BatchConfig, recipe_from_file, run_batch

    recipe = recipe_from_file(args.recipe) if args.recipe else None
    library = args.library if args.library or args.model else DEFAULT_LIBRARY
    config = BatchConfig(model=args.model, library=library, method=args.method, artefacts=args.artefacts,
                         library_gate=args.library_gate, top_k=args.top_k, recipe=recipe,
                         min_albedo=args.min_albedo, min_contrast=args.min_contrast,
                         saturation=args.saturation, windows=args.windows, gaps=args.gaps, order=args.reading_order,
                         block_mb=args.block_mb, threads=args.threads, interval_m=args.interval_m)
    progress = _Progress()
    try:
        result = run_batch(args.session, args.output, config, workers=args.workers, scheduler=args.scheduler,
                           progress=progress, max_attempts=args.max_attempts)
    finally:
        progress.close()
    from ..core.text import printable
    for t in result.failed:    # ids and errors are escaped: a NUL or a bidi override in a manifest shows as such
        print(printable(f"hsimin: tray {t.get('hole_id')}/{t.get('tray_id')} failed: {t.get('error')}"),
              file=sys.stderr)
    if result.products_error:
        print(f"hsimin: session products failed: {result.products_error}", file=sys.stderr)
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted", "pending")
                       if result.count(s))
    print(f"batch {result.status}: {counts} in {result.seconds:.1f} s; run file {result.run_file}"
          + (f"; report {result.report}" if result.report else ""))
    return result.exit_code
