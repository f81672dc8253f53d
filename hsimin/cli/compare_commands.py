"""``hsimin compare``: how does hsimin's map of a HyLogger package compare with TSG's own interpretation (TSA)?

Parse, then call the library: :func:`hsimin.io.open_map`, :func:`hsimin.io.open_cube` (the package's table),
:func:`hsimin.classical.agreement.compare_map` and :func:`hsimin.io.comparison.write_comparison`.
"""
from __future__ import annotations

COMPARE_HELP = "agreement of a map of a TSG package with TSA's answers: figures, confusion matrix, strip log"

DESCRIPTION = """\
Compare a mineral map of a HyLogger TSG package (made by 'hsimin identify', 'classify' or 'batch' from that
package: one label per spectrum, in file order) with the interpretation TSG's TSA stored in the package.

Both answers are put in hsimin's vocabulary and scored by mineral group for the SWIR (kaolin, white mica,
smectite, carbonate, sulfate, talc...; TSA's Aspectral and Wood and hsimin's aspectral, unknown and tray
artefacts all count as 'no mineral') and by mineral for the VNIR (goethite, hematite, jarosite):
  overall     hsimin's group is TSA's Min1 group, over every spectrum TSA names
  strict      the same, over TSA's confident calls (Wt1 >= 0.7 and Error < 200)
  consistent  hsimin's group is Min1's, or Min2's where TSA weighs it at 0.25 or more
  mixtures    where TSA calls a mixture, hsimin's answer is one of its two minerals

Writes into OUT: agreement.json (the figures, per TSA group, confusion counts), spectra.csv (one row per
spectrum), confusion.csv and confusion.png, and strip_log.png (TSA's Min1 and Min2 beside hsimin's answer,
down the hole)."""


def register(subparsers) -> None:
    import argparse
    p = subparsers.add_parser("compare", help=COMPARE_HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("map", metavar="MAP", help="a mineral map of the package (.h5 written by hsimin)")
    p.add_argument("package", metavar="PACKAGE", help="the TSG package: its .tsg file or its folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder to write the products into")
    p.add_argument("--tsa", default="auto", metavar="RUN",
                   help="which TSA answers: swir (system run sTSAS, else the user run uTSAS), vnir (sTSAV), an "
                        "explicit suffix (sTSAS, uTSAS, sTSAV), or auto: vnir for a VNIR map, else swir "
                        "(default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace the products in OUT if they exist")
    p.set_defaults(func=run_compare)


def run_compare(args) -> int:
    from pathlib import Path

    from ..classical.agreement import compare_map
    from ..core.errors import InputError, OutputError
    from ..io import check_output_path, open_cube, open_map
    from ..io.comparison import COMPARISON_FILES, write_comparison

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise OutputError("the output is a file; give a folder", path=out)
    if out.is_dir():
        for name in COMPARISON_FILES:
            check_output_path(out / name, overwrite=args.overwrite)
    else:
        check_output_path(out, overwrite=False)  # the parent must exist and be writable
    mm = open_map(args.map)
    cube = open_cube(args.package)
    if cube.table is None:
        raise InputError("has no per-spectrum table with TSA results: give the TSG package the map was made from",
                         path=args.package)
    try:
        agreement = compare_map(mm, cube.table, run=args.tsa)
    except InputError as exc:
        raise InputError(exc.message, path=args.map) from None
    title = f"{cube.meta.hole_id or Path(args.package).name}: {agreement.line()}"
    extra = {"map": str(Path(args.map).resolve()), "package": str(Path(args.package).resolve()),
             "hole_id": cube.meta.hole_id, "produced_by": mm.produced_by}
    paths = write_comparison(agreement, out, title=title, extra=extra)
    print(f"{cube.meta.hole_id}: {agreement.line()}")
    print(f"wrote {out}/: " + ", ".join(p.name for p in paths.values()))
    return 0
