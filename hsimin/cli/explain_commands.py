"""``hsimin explain IN --model M --pixel ROW,COL [--method ig|saliency|occlusion] [--target CLASS] -o OUT.png``.

Writes OUT.png (the pixel's spectrum and its attributions over wavelength, diagnostic features marked) and
OUT.json next to it (the attribution per wavelength, the class probabilities, the parameters). Parse, then one
library call (:func:`hsimin.explain.explain_pixel`), a plot and the two writes; no logic of its own.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from .args import number_in, numbers, positive_int

EXPLAIN_HELP = "why a model calls a pixel what it calls it: attributions over wavelength (Captum)"


_pixel_numbers = numbers("--pixel", "ROW,COL (two integers >= 0)", 2, integers=True)


def _pixel(text: str) -> tuple[int, int]:
    r, c = _pixel_numbers(text)
    if r < 0 or c < 0:
        raise argparse.ArgumentTypeError(f"--pixel wants ROW,COL (two integers >= 0); got {text!r}")
    return r, c


def register(subparsers) -> None:
    """Add the ``explain`` verb to the ``hsimin`` parser."""
    p = subparsers.add_parser(
        "explain", help=EXPLAIN_HELP,
        description=("Attribute a model's answer for one pixel to wavelengths with Captum: integrated gradients "
                     "(ig), saliency, or band-window occlusion. Writes OUT.png (spectrum and attributions, "
                     "diagnostic absorption features marked) and OUT.json (attribution per wavelength). Needs the "
                     "[explain] extra (captum)."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("input", metavar="IN", help="cube: ENVI .hdr, HDF5 .h5, Specim scan folder or TSG package")
    p.add_argument("--model", "-m", default="default", metavar="M",
                   help="model checkpoint (.pt, hsimin.models.save_model), or 'default' for the shipped SWIR model")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--pixel", type=_pixel, metavar="ROW,COL", help="the pixel (0-based line, sample)")
    where.add_argument("--spectrum", type=int, metavar="I",
                       help="for point spectra (a TSG package): the spectrum's 0-based index in file order")
    p.add_argument("--method", choices=("ig", "saliency", "occlusion"), default="ig", type=str.lower,
                   help="attribution method")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="class name or index to explain (default: the predicted class)")
    p.add_argument("--output-kind", dest="output_kind", choices=("logit", "probability"), default="logit",
                   help="attribute the class logit or its softmax probability")
    p.add_argument("--baseline", choices=("hull", "zeros"), default="hull",
                   help="ig/occlusion baseline: the spectrum's continuum (features removed) or zeros")
    p.add_argument("--window-nm", type=number_in("--window-nm", "a width in nm", 0.0, lo_open=True), default=40.0, help="occlusion window width (nm)")
    p.add_argument("--steps", type=positive_int("--steps"), default=64, help="integrated-gradients steps")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help="output figure; OUT.json is written next to it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from ..core.errors import OutputError
    from ..io import check_not_input, check_output_path, open_cube, output_group, source_files
    from ..io.writers import save_figure, write_json

    out_png = Path(args.output)
    if out_png.suffix.lower() != ".png":
        raise OutputError("the output figure must be a .png (OUT.json is written next to it)", path=out_png)
    out_json = out_png.with_suffix(".json")
    from ..models.default import model_path as resolve_model_path
    model_path = resolve_model_path(args.model)
    check_not_input([out_png, out_json], source_files(args.input) + [Path(model_path)])
    for p in (out_png, out_json):
        check_output_path(p, overwrite=args.overwrite)
    from ..explain import explain_pixel
    from ..explain.plots import plot_attribution
    from ..models import load_model

    cube = open_cube(args.input)
    if args.spectrum is not None:
        from ..core.errors import InputError
        H, W = cube.shape[:2]
        if not 0 <= args.spectrum < H * W:
            raise InputError(f"--spectrum {args.spectrum}: the input holds {H * W} spectra (0-{H * W - 1})",
                             path=args.input)
        args.pixel = divmod(args.spectrum, W)
    model = load_model(model_path, map_location="cpu")
    row, col = args.pixel
    attribution = explain_pixel(model, cube, row, col, target=args.target, method=args.method,
                                window_nm=args.window_nm, baseline=args.baseline, output=args.output_kind,
                                n_steps=args.steps, device=args.device)
    fig = plot_attribution(attribution, raw_spectrum=cube.data[row, col], raw_wavelengths=cube.wavelengths)
    record = {"input": str(args.input), "model": str(args.model), "model_hash": model.model_hash,
              "pixel": [row, col], **attribution.to_dict()}
    with output_group():      # both files or neither
        write_json(record, out_json, overwrite=args.overwrite)
        save_figure(fig, out_png, overwrite=args.overwrite)
    print(f"{attribution.method} attribution of pixel ({row}, {col}) for {attribution.target_name or attribution.target}"
          f" (predicted {attribution.predicted_name or attribution.predicted}): {out_png}, {out_json}")
    return 0
