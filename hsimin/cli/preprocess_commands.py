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

FEATURES_HELP = "absorption-feature scalars (minimum wavelength, depth, width, asymmetry) of every pixel"
IDENTIFY_HELP = "identify the mineral of every pixel against a spectral library"

WINDOWS_HELP = (
    "feature windows, comma-separated NAME:LO-HI or NAME:LO-HI:HULL_LO-HULL_HI in nm (the search window, then "
    "the range of the local continuum hull; default hull: the window +-60 nm); 'default' (the default) stands "
    "for the windows listed above")


def _depth(text: str) -> float:
    """``--min-depth``: a depth below the continuum, 0 <= D < 1."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"--min-depth wants a depth below the continuum, 0 <= D < 1, got {text!r}")
    return v


def register(subparsers) -> None:
    from ..classical.features import DEFAULT_WINDOWS, windows_to_spec
    from ..classical.defaults import DEFAULT_FIT_RANGE_NM, IDENTIFY_METHOD_NAMES

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
        "identify", help=IDENTIFY_HELP,
        description=(
            "Match every pixel against a spectral library resampled to the cube's bands (by default only the "
            "spectra of the minerals in hsimin's curated SWIR vocabulary, mixtures excluded) and write a mineral "
            "map: labels in the library's mineral vocabulary, the top-K classes and their similarity, a "
            "confidence in [0, 1] and, for --method mixture, the second mineral, both fractions and the error "
            "of fit. Pixels that match nothing (or show no absorption feature, for match and mixture) are "
            "left unclassified. The format follows MAP's extension: .h5 (everything), .hdr (ENVI "
            "Classification) or .png (colour map with legend)."))
    q.add_argument("input", metavar="IN", help="a cube: ENVI header (.hdr), HDF5 file or Specim scan folder")
    q.add_argument("-o", "--output", required=True, metavar="MAP", help="the map to write: .h5, .hdr or .png")
    q.add_argument("--library", default="usgs_splib07", metavar="ID",
                   help="a bundled library id (usgs_splib07, usgs_artefacts) or a library file (.h5, .sli, .csv) "
                        "(default: %(default)s)")
    q.add_argument("--method", default="sam", choices=sorted(IDENTIFY_METHOD_NAMES),
                   help="sam: spectral angle; sid: spectral information divergence; match: continuum-removed "
                        "feature matching in the diagnostic windows; mixture: best fit of one or two library "
                        "minerals (non-negative least squares on continuum-removed spectra) (default: %(default)s)")
    q.add_argument("--top-k", type=int, default=3, metavar="K", help="number of best classes kept per pixel (default: %(default)s)")
    q.add_argument("--fit-range", default=f"{DEFAULT_FIT_RANGE_NM[0]:g}-{DEFAULT_FIT_RANGE_NM[1]:g}",
                   metavar="LO-HI", help="wavelength range (nm) of the bands used (default: %(default)s)")
    q.add_argument("--minerals", choices=("curated", "all"), default="curated",
                   help="curated: only library spectra of minerals in hsimin's curated SWIR vocabulary (white mica, "
                        "kaolinite, chlorite, carbonates, sulfates...; hsimin.core.vocabulary); all: every "
                        "spectrum of the library, whatever its mineral name (default: %(default)s)")
    q.add_argument("--include-mixtures", action="store_true",
                   help="keep library spectra of mixtures and coated samples")
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

    from ..classical.mapping import identify_cube, select_bands
    from ..core.errors import InputError, LibraryError
    from ..core.vocabulary import is_known
    from ..io import check_not_input, check_output_path, open_cube, output_format, save_map, source_files
    from ..io.libraries import load_library

    if args.top_k < 1:
        raise InputError(f"--top-k must be >= 1, got {args.top_k}")
    fit_range = _parse_range(args.fit_range)
    fmt = output_format(args.output)
    out = Path(args.output)
    check_not_input([out] + ([out.with_suffix(".img")] if fmt == "envi" else []), source_files(args.input))
    check_output_path(args.output, overwrite=args.overwrite)
    cube = open_cube(args.input)
    idx = select_bands(cube, fit_range)
    fwhm = None if cube.fwhm is None else cube.fwhm[idx]
    library = load_library(args.library, wavelengths=cube.wavelengths[idx], fwhm=fwhm,
                           include_mixtures=args.include_mixtures)
    if args.minerals == "curated":
        keep = np.array([is_known(m) for m in library.minerals], dtype=bool)
        if not keep.any():
            raise LibraryError(f"none of the minerals of library {args.library!r} is in hsimin's curated vocabulary; "
                               "pass --minerals all to use its own names")
        library = library.subset(keep)
    cb, bar = _progress(f"identify ({args.method})")
    try:
        mm = identify_cube(cube, args.method, library=library, top_k=args.top_k, fit_range=fit_range,
                           include_mixtures=args.include_mixtures, progress=cb)
    finally:
        if bar is not None:
            bar.close()
    save_map(mm, args.output, overwrite=args.overwrite)
    lab = mm.labels
    n_valid = int(np.sum(mm.extra["status"] >= 0))
    n_known = int(np.sum(lab >= 0))
    counts = np.bincount(lab[lab >= 0].ravel(), minlength=len(mm.classes))
    top = [f"{mm.classes[i]} {100 * counts[i] / max(n_known, 1):.0f}%" for i in np.argsort(-counts)[:5]
           if counts[i]]
    print(f"wrote {args.output}: {args.method} against {len(library)} spectra of {args.library}; "
          f"{n_known} of {n_valid} valid pixels identified" + (f" ({', '.join(top)})" if top else ""))
    return 0
