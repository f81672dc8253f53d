"""``hsimin classify IN -o OUT.h5 [--model default|PATH]``: a cube to a mineral map with a deep model.

Writes three files from one map (every one atomically, through :func:`hsimin.io.save_map`):

=========================  ==========================================================================
``OUT.h5``                 the map: labels, class names, class probabilities, confidence, provenance
``OUT_classes.hdr`` + .img  ENVI Classification (class names and lookup colours; opens in ENVI / SPy)
``OUT.png``                colour map with a legend of the classes present
=========================  ==========================================================================

(``-o OUT.hdr`` makes the ENVI Classification the main output and writes ``OUT.png`` beside it; ``-o OUT.png``
writes the picture only.) Every output path is checked before any work is done. The model is loaded safely
(``weights_only=True``): a checkpoint holding pickled objects is refused with one error line, exit 2, and
nothing is written. A progress bar is shown on stderr only when stderr is a terminal.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.errors import InputError
from .args import number_in, positive_int

EXIT_OK = 0

HELP = "classify a cube into a mineral map with a deep model (default: the shipped SWIR model)"


_probability = number_in("--threshold", "a probability", 0.0, 1.0)


def register(subparsers) -> None:
    """Add the ``classify`` verb to the ``hsimin`` parser."""
    p = subparsers.add_parser(
        "classify", help=HELP,
        description=("Classify every pixel of a cube with a model checkpoint and write the map as HDF5 (OUT.h5), "
                     "an ENVI Classification (OUT_classes.hdr + .img) and a PNG with a legend (OUT.png). The "
                     "cube is resampled to the model's bands when they differ (refused when it does not cover "
                     "them) and streamed in blocks, so any size fits in memory."))
    p.add_argument("input", metavar="IN", help="input cube (ENVI .hdr, .h5, Specim scan folder)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.h5",
                   help="the map (.h5; .hdr for an ENVI Classification, .png for the picture only)")
    p.add_argument("--model", default="default", metavar="default|PATH",
                   help="'default' (the shipped SWIR model; the default) or a checkpoint written by hsimin train")
    p.add_argument("--threshold", type=_probability, default=None, metavar="P",
                   help="label pixels whose top class probability is below P as unclassified ('unknown')")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=None, metavar="N",
                   help="pixels per forward pass (default: 16384 for pixel models, a 64 MiB budget of patches)")
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu (default), cuda, cuda:N or auto (CUDA when present)")
    p.add_argument("--tile", type=positive_int("--tile"), default=None, metavar="PX",
                   help="dense models: output tile side in pixels (default 128)")
    p.add_argument("--mask-background", action="store_true",
                   help="leave dark, flat and saturated pixels (tray, background) unclassified "
                        "(hsimin.preprocess.mask_cube)")
    p.add_argument("--min-albedo", type=number_in("--min-albedo", "a mean reflectance", 0.0, 1.0), default=None, metavar="R",
                   help="with --mask-background: mean reflectance below R is background (default 0.03; black "
                        "plastic trays need about 0.15)")
    p.add_argument("--no-artefact-screen", dest="artefact_screen", action="store_false",
                   help="do not screen out tray artefacts. By default, for a model without artefact classes (the "
                        "shipped one has none), pixels closer to a USGS tray material (plastic, wood, cardboard, "
                        "metal) than to every USGS spectrum of rock (the model's minerals, the common SWIR "
                        "minerals, the SWIR-inactive ones) are left unclassified instead of getting their nearest "
                        "mineral: by absorption features, or by reflectance where the pixel has no feature above "
                        "its noise (hsimin.classical.artefacts)")
    p.add_argument("--no-library-gate", dest="library_gate", action="store_false",
                   help="leave aspectral and unknown to the model. By default, for a model with an 'aspectral' "
                        "class (the shipped one), they are decided by hsimin identify's SWIR answer (no feature "
                        "deep enough for the pixel's noise: aspectral; features no library mineral explains: "
                        "unclassified) and the model names the mineral. Without the gate classify runs about 2-3x "
                        "faster and agrees less with TSA on real spectra (measured in the model card, "
                        "hsimin/models/weights/README.md)")
    p.add_argument("--no-envi", action="store_true", help="do not write the ENVI Classification")
    p.add_argument("--no-png", action="store_true", help="do not write the PNG")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=cmd_classify)


def output_paths(out: str | Path, *, envi: bool = True, png: bool = True) -> dict[str, Path]:
    """The files ``hsimin classify -o OUT`` writes, by format: ``{"hdf5": OUT.h5, "envi": OUT_classes.hdr,
    "png": OUT.png}`` for an HDF5 ``OUT``; an ``.hdr`` OUT is the ENVI output itself, a ``.png`` OUT the only
    output."""
    from ..io import output_format
    p = Path(out)
    fmt = output_format(p)
    paths = {fmt: p}
    stem = p.with_suffix("")
    if fmt == "hdf5" and envi:
        paths["envi"] = stem.with_name(stem.name + "_classes.hdr")
    if fmt != "png" and png:
        paths["png"] = stem.with_suffix(".png")
    return paths


def _model_path(text: str) -> Path:
    from ..models.default import model_path
    return model_path(text)


class _Bar:
    """tqdm progress over cube lines on stderr, only when stderr is a terminal."""

    def __init__(self, total: int):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="line", desc="classify", file=sys.stderr, leave=False)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_classify(args) -> int:
    from ..io import check_not_input, check_output_path, open_cube, output_group, save_map, source_files
    from ..models import load_model
    from ..predict.workflow import classify_cube

    paths = output_paths(args.output, envi=not args.no_envi, png=not args.no_png)
    files = list(paths.values()) + ([paths["envi"].with_suffix(".img")] if "envi" in paths else [])
    model_path = _model_path(args.model)
    check_not_input(files, source_files(args.input) + [model_path])
    for p in files:
        check_output_path(p, args.overwrite)
    loaded = load_model(model_path)
    cube = open_cube(args.input)
    if args.min_albedo is not None and not args.mask_background:
        raise InputError("--min-albedo applies with --mask-background; add it")
    bar = _Bar(cube.shape[0])
    try:
        res = classify_cube(cube, loaded, artefact_screen=args.artefact_screen, mask_background=args.mask_background,
                            min_albedo=args.min_albedo, threshold=args.threshold, device=args.device,
                            batch_size=args.batch_size, tile=args.tile, progress=bar,
                            library_gate=args.library_gate)
    finally:
        bar.close()
    if res.screen_note:
        print(f"hsimin classify: no tray-artefact screen ({res.screen_note})", file=sys.stderr)
    for note in res.notes:
        print(f"hsimin classify: {note}", file=sys.stderr)
    mm, screened = res.map, res.screened
    written = []
    order = [f for f in ("png", "envi", "hdf5") if f in paths]       # the main map last: it marks completion
    with output_group():   # all files or none: a failure (a full disk) or a kill leaves no partial set
        for fmt in order:
            written.append(save_map(mm, paths[fmt], overwrite=args.overwrite))
    nonfinite = mm.provenance.get("pixels_nonfinite", 0)
    if nonfinite:
        print(f"hsimin classify: warning: the model gave non-finite outputs for {nonfinite} pixels; they are left "
              "unclassified (is the checkpoint damaged?)", file=sys.stderr)
    n = mm.labels.size
    done = int((mm.labels >= 0).sum())
    unknown = mm.provenance.get("pixels_unknown", 0)
    if not written:
        raise InputError("nothing to write", path=args.output)
    print(f"wrote {', '.join(str(w) for w in written)} ({done} of {n} pixels classified"
          + (f", {unknown} below --threshold" if unknown else "")
          + (f", {screened} screened out as tray" if screened else "")
          + (f", {res.gated['to_unknown']} unknown to the library" if res.gated and res.gated["to_unknown"] else "")
          + f"; {len(mm.classes)} classes)")
    return EXIT_OK
