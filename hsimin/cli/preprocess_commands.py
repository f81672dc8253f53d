"""``hsimin features`` and ``hsimin identify``: absorption-feature maps and library identification of a cube.

Parse, then call the library: :func:`hsimin.io.open_cube`, :func:`hsimin.io.libraries.load_library`,
:func:`hsimin.classical.map_features` / :func:`hsimin.classical.identify_cube`, and the writers of
:mod:`hsimin.io`. No processing happens here.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from .args import number_in

FEATURES_HELP = "absorption-feature scalars (minimum wavelength, depth, width, asymmetry) of every pixel"
IDENTIFY_HELP = "identify the mineral of every pixel against a spectral library"

WINDOWS_HELP = (
    "feature windows, comma-separated NAME:LO-HI or NAME:LO-HI:HULL_LO-HULL_HI in nm (the search window, then "
    "the range of the local continuum hull; default hull: the window +-60 nm); 'default' (the default) stands "
    "for the windows listed above")


_depth = number_in("--min-depth", "a depth below the continuum", 0.0, 1.0, hi_open=True)


def register(subparsers) -> None:
    from ..classical.features import DEFAULT_WINDOWS, windows_to_spec
    from ..classical.defaults import DEFAULT_FIT_RANGE_NM, DEFAULT_METHOD, METHOD_NAMES

    p = subparsers.add_parser(
        "features", help=FEATURES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Measure absorption features on the continuum-removed spectrum of every pixel and write one (H, W) "
            "float32 dataset per scalar to OUT.h5 (group /features): {window}_wavelength_nm (minimum, nm, "
            "sub-band by a Gaussian fit), {window}_depth (1 - CR at the minimum), {window}_width_nm (full "
            "width at half depth) and {window}_asymmetry (-1..1, positive when the long-wavelength side is "
            "broader). NaN where there is no feature (shallower than --min-depth, or the minimum on the "
            "window's edge) and for masked pixels.", 78)
        + "\n\ndefault windows (NAME:LO-HI:HULL_LO-HULL_HI, nm):\n"
        + "\n".join(f"  {w}" for w in windows_to_spec(DEFAULT_WINDOWS).split(",")))
    p.add_argument("input", metavar="IN", help="a cube: ENVI header (.hdr), HDF5 file or Specim scan folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT.h5", help="the HDF5 file to write")
    p.add_argument("--windows", default="default", metavar="SPEC", help=WINDOWS_HELP)
    p.add_argument("--min-depth", type=_depth, default=0.02, metavar="D",
                   help="smallest depth (1 - CR) counted as a feature (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.h5 if it exists")
    p.set_defaults(func=run_features)

    q = subparsers.add_parser(
        "identify", help=IDENTIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Interpret every pixel (or every spectrum of a TSG package) and write a mineral map. The default "
            "method, unmix, answers as TSA does: the SWIR Min1 and Min2 with weights and an error of fit, decided by "
            "the diagnostic SWIR features (water and broad slopes projected out); 'aspectral' when no diagnostic "
            "feature is deep enough for the pixel's noise; 'unknown' when the features are not explained by the "
            "references; tray artefacts (wood, plastic, cardboard) as answers of their own; the VNIR Min1 "
            "(goethite, hematite, jarosite..., or aspectral) when the cube has VNIR bands; and the 1900 nm water "
            "depth and the 2200/2250/2330 nm feature scalars. MAP.h5 holds all of it: /maps/mineral (the --range "
            "answer, what hsimin.open_map reads), /maps/vnir or /maps/swir (the other range), and /features "
            "(see docs/formats.md). .hdr (ENVI Classification) or .png (colour map) hold the --range answer only. "
            "The older methods (sam, sid, match, mixture) match whole spectra against a library.", 78))
    q.add_argument("input", metavar="IN", help="a cube: ENVI header (.hdr), HDF5 file, Specim scan folder or TSG "
                                               "package (.tsg or its folder)")
    q.add_argument("-o", "--output", required=True, metavar="MAP", help="the map to write: .h5, .hdr or .png")
    q.add_argument("--method", default=DEFAULT_METHOD, choices=METHOD_NAMES,
                   help="unmix: the interpretation workflow (default); sam: spectral angle; sid: spectral "
                        "information divergence; match: continuum-removed feature matching in the diagnostic "
                        "windows; mixture: best fit of one or two library minerals")
    q.add_argument("--range", default="swir", choices=("swir", "vnir"), type=str.lower,
                   help="unmix: which answer the map is: swir (default) or vnir (the ferric-iron mineral)")
    q.add_argument("--library", default="usgs_splib07", metavar="ID",
                   help="a bundled library id (usgs_splib07) or a library file (.h5, .sli, .csv) "
                        "(default: %(default)s)")
    q.add_argument("--minerals", choices=("core", "curated", "all"), default="core",
                   help="unmix: core (default): the minerals core logging reports (hsimin.classical.references); "
                        "all: every SWIR-active mineral of the library. sam/sid/match/mixture: core or curated: "
                        "minerals of hsimin's curated vocabulary; all: every spectrum of the library")
    q.add_argument("--no-artefacts", dest="artefacts", action="store_false",
                   help="unmix: leave the tray artefacts (wood, plastic, cardboard) out of the references")
    q.add_argument("--top-k", type=int, default=3, metavar="K",
                   help="sam/sid/match/mixture: number of best classes kept per pixel (default: %(default)s)")
    q.add_argument("--fit-range", default=None, metavar="LO-HI",
                   help="sam/sid/match/mixture: wavelength range (nm) of the bands used (default: "
                        f"{DEFAULT_FIT_RANGE_NM[0]:g}-{DEFAULT_FIT_RANGE_NM[1]:g}); unmix uses the SWIR and VNIR "
                        "ranges of hsimin.classical.swir/vnir")
    q.add_argument("--include-mixtures", action="store_true",
                   help="sam/sid/match/mixture: keep library spectra of mixtures and coated samples")
    q.add_argument("--overwrite", action="store_true", help="replace MAP if it exists")
    q.set_defaults(func=run_identify)


def _progress(label: str):
    """A tqdm progress callback on an interactive stderr, else None (keeps logs and error output clean)."""
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=0, desc=label, unit="line", file=sys.stderr, leave=False)

    def cb(done: int, total: int):
        bar.total = total
        bar.n = done
        bar.refresh()
    return cb, bar


def _parse_range(text: str) -> tuple[float, float]:
    from ..core.errors import InputError
    parts = str(text).replace(",", "-").split("-")
    try:
        lo, hi = (float(v) for v in parts if v.strip())
    except ValueError:
        raise InputError(f"--fit-range {text!r}: write LO-HI in nm, e.g. 1300-2480") from None
    if not lo < hi:
        raise InputError(f"--fit-range {text!r}: want LO < HI")
    return lo, hi


def run_features(args) -> int:
    import numpy as np

    from ..classical.features import check_windows_cover, parse_windows
    from ..classical.mapping import features_provenance, map_features
    from ..io import check_not_input, check_output_path, open_cube, source_files
    from ..io.hdf5 import write_arrays_hdf5

    windows = parse_windows(args.windows)
    check_not_input([args.output], source_files(args.input))
    check_output_path(args.output, overwrite=args.overwrite)
    cube = open_cube(args.input)
    good = cube.wavelengths if cube.bad_bands is None else cube.wavelengths[~cube.bad_bands]
    check_windows_cover(windows, good, where=args.input)
    cb, bar = _progress("features")
    try:
        maps = map_features(cube, windows, min_depth=args.min_depth, progress=cb)
    finally:
        if bar is not None:
            bar.close()
    attrs = {**features_provenance(windows, args.min_depth), "source": str(args.input)}
    write_arrays_hdf5(args.output, maps, group="features", attrs=attrs, overwrite=args.overwrite)
    H, W = cube.shape[:2]
    found = {w.name: float(np.mean(np.isfinite(maps[f"{w.name}_wavelength_nm"]))) for w in windows}
    print(f"wrote {args.output}: {len(maps)} feature maps of {H} x {W} pixels; pixels with a feature: "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in found.items()))
    return 0


def run_identify(args) -> int:
    import numpy as np

    from ..classical.interpretation import answers_summary, map_minerals
    from ..classical.features import DEFAULT_WINDOWS
    from ..classical.streaming import features_provenance
    from ..core.errors import InputError
    from ..io import check_not_input, check_output_path, open_cube, output_format, save_map, source_files
    from ..io.hdf5 import write_hdf5

    if args.top_k < 1:
        raise InputError(f"--top-k must be >= 1, got {args.top_k}")
    if args.method == "unmix" and (args.fit_range is not None or args.include_mixtures):
        raise InputError("--fit-range and --include-mixtures apply to sam, sid, match and mixture; --method unmix "
                         "decides from the diagnostic SWIR and VNIR ranges itself")
    if args.method != "unmix" and args.range != "swir":
        raise InputError(f"--range {args.range} needs --method unmix (the library matchers give SWIR answers)")
    if args.include_mixtures:
        raise InputError("--include-mixtures: the reference library holds no mixture spectra (they are answers "
                         "of --method unmix as two minerals with weights)")
    fit_range = _parse_range(args.fit_range) if args.fit_range is not None else None
    fmt = output_format(args.output)
    out = Path(args.output)
    check_not_input([out] + ([out.with_suffix(".img")] if fmt == "envi" else []), source_files(args.input))
    check_output_path(args.output, overwrite=args.overwrite)
    cube = open_cube(args.input)
    cb, bar = _progress(f"identify ({args.method}, {args.range})")
    try:
        result = map_minerals(cube, args.method, range=args.range, minerals=args.minerals, artefacts=args.artefacts,
                              library=args.library, top_k=args.top_k, fit_range=fit_range, features=fmt == "hdf5",
                              progress=cb)
    finally:
        if bar is not None:
            bar.close()
    primary = result.map
    if fmt == "hdf5":
        arrays = {"features": result.features} if result.features else {}
        write_hdf5(args.output, maps=result.hdf5_maps(), arrays=arrays,
                   arrays_attrs={"features": features_provenance(DEFAULT_WINDOWS, 0.02)} if arrays else None,
                   overwrite=args.overwrite)
    else:
        save_map(primary, args.output, overwrite=args.overwrite)
    others = [k for k in result.maps if k != result.primary]
    also = [f"{o.upper()} answers" for o in others] + (["feature scalars"] if result.features else [])
    n_valid = int(np.sum(primary.labels >= 0))
    print(f"wrote {args.output}: {args.method}, {args.range.upper()} answers of {n_valid} pixels "
          f"({answers_summary(primary)})" + ("; also " + " and ".join(also) if fmt == "hdf5" and also else ""))
    return 0
