"""I/O verbs: ``info``, ``convert``, ``calibrate``, ``quicklook``.

Each handler parses nothing itself: it validates the output path first (so a refused overwrite or a missing
folder fails before any data are read), makes one library call, and returns an exit code. Errors are raised
as :class:`~hsimin.core.errors.HsiminError`; :func:`hsimin.cli.main` prints them on one line.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.plain import to_plain
from .args import numbers

EXIT_OK = 0


_rgb = numbers("--rgb", "three wavelengths in nm, like 2200,2100,1900", 3, positive=True)


def register(subparsers) -> None:
    """Add the I/O verbs to the ``hsimin`` parser."""
    p = subparsers.add_parser("info", help="describe a cube: shape, interleave, wavelengths, bad bands, size",
                              description="Describe a cube (ENVI, HDF5, Specim scan folder or HyLogger TSG "
                                          "package) without loading it. For a TSG package: the number of "
                                          "spectra and bands, the wavelength range, hole, depths, and which TSA "
                                          "results (SWIR, VNIR; system or user runs) its table holds.")
    p.add_argument("path", metavar="PATH", help="ENVI .hdr (or data file), .h5, Specim scan folder, or a TSG "
                                                "package (.tsg file or its folder; *_tir.tsg for thermal IR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("convert", help="convert a cube between ENVI (.hdr) and HDF5 (.h5)",
                              description="Convert a cube; the output format comes from the extension: "
                                          ".h5/.hdf5 HDF5, .hdr ENVI, .png quicklook.")
    p.add_argument("input", metavar="IN", help="input cube")
    p.add_argument("output", metavar="OUT", nargs="?", help="output file (or use -o)")
    p.add_argument("-o", "--output", dest="output_opt", metavar="OUT", help="output file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--interleave", choices=("bil", "bsq", "bip"), type=str.lower,
                   help="interleave of an ENVI output (default bil)")
    p.set_defaults(func=cmd_convert)

    p = subparsers.add_parser("calibrate", help="Specim scan folder (raw + dark + white) to reflectance",
                              description="Calibrate a Specim capture: reflectance = (raw - mean dark) / "
                                          "(mean white - mean dark) per sample and band.")
    p.add_argument("scan", metavar="SCAN_DIR", help="scan folder holding capture/ (or the capture folder)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output cube (.h5 or .hdr)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_calibrate)

    p = subparsers.add_parser("quicklook", help="false-colour PNG of a cube from three wavelengths",
                              description="Write a false-colour PNG quicklook of a cube.")
    p.add_argument("input", metavar="IN", help="input cube")
    p.add_argument("-o", "--output", required=True, metavar="PNG", help="output .png")
    p.add_argument("--rgb", type=_rgb, metavar="NM,NM,NM", help="wavelengths (nm) shown as red, green, blue")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=cmd_quicklook)


# --------------------------------------------------------------------------------------------- info

def _reader_name(path: Path, cube) -> str | None:
    fmt = cube.meta.attrs.get("format") if cube.meta is not None else None
    if fmt:
        return str(fmt)
    from ..io import list_readers
    for r in list_readers():
        try:
            if r.sniff(path):
                return r.name
        except Exception:  # noqa: BLE001 - a crashing sniff just does not claim the file
            continue
    return None


def describe_cube(path: Path, cube) -> dict:
    """The facts ``hsimin info`` shows, as a JSON-able dict (wavelengths in nm, sizes in MiB)."""
    H, W, B = cube.shape
    wl = np.asarray(cube.wavelengths, float)
    attrs = dict(cube.meta.attrs) if cube.meta is not None else {}
    bad = None if cube.bad_bands is None else np.flatnonzero(cube.bad_bands)
    doc = {
        "path": str(path),
        "reader": _reader_name(path, cube),
        "shape": {"lines": H, "samples": W, "bands": B},
        "interleave": attrs.get("interleave"),
        "dtype_on_disk": attrs.get("dtype"),
        "bands": B,
        "wavelength_min_nm": float(wl[0]),
        "wavelength_max_nm": float(wl[-1]),
        "mean_band_spacing_nm": float(np.diff(wl).mean()) if B > 1 else None,
        "bad_bands": None if bad is None else {"count": int(bad.size), "indices": bad.tolist(),
                                               "wavelengths_nm": wl[bad].round(4).tolist()},
        "fwhm_nm": None if cube.fwhm is None else [float(np.min(cube.fwhm)), float(np.max(cube.fwhm))],
        "size_float32_mib": round(cube.nbytes / 2**20, 3),
        "mask_core_fraction": None if cube.mask is None else round(float(np.mean(cube.mask)), 6),
        "meta": to_plain(cube.meta.to_dict(), nonfinite="null") if cube.meta is not None else None,
    }
    if cube.table is not None:
        doc["spectra"] = H * W
        doc["table"] = describe_table(cube.table)
    return to_plain(doc, nonfinite="null")


def describe_table(table) -> dict:
    """What ``hsimin info`` says of a per-spectrum table: columns, depth range, which TSA runs it holds."""
    from ..io.tsg import tsa_results
    runs = {}
    for run, what in (("sTSAS", "SWIR, system"), ("uTSAS", "SWIR, user"), ("sTSAV", "VNIR, system"),
                      ("uTSAV", "VNIR, user"), ("sTSAT", "TIR, system"), ("uTSAT", "TIR, user")):
        r = tsa_results(table, run)
        if r is not None:
            cols = [c for c in table.names if c.endswith(" " + run)]
            named = int(np.sum(r.min1 != ""))
            top = {}
            for m in r.min1[r.min1 != ""]:
                top[str(m)] = top.get(str(m), 0) + 1
            runs[run] = {"what": what, "columns": cols, "spectra_named": named,
                         "min1": dict(sorted(top.items(), key=lambda kv: -kv[1]))}
    depth = table.get("depth_m")
    finite = None if depth is None or depth.dtype.kind != "f" else depth[np.isfinite(depth)]
    return {"rows": len(table), "columns": table.names,
            "depth_m": None if finite is None or not finite.size else [float(finite.min()), float(finite.max())],
            "tsa": runs}


def _print_info(doc: dict) -> None:
    s = doc["shape"]
    table = doc.get("table")
    shape = f"{s['lines']} lines x {s['samples']} samples x {s['bands']} bands"
    if table is not None and s["samples"] == 1:
        shape = f"{doc['spectra']} spectra x {s['bands']} bands (one pixel per spectrum, in file order)"
    rows = [("path", doc["path"]), ("reader", doc["reader"]), ("shape", shape),
            ("interleave", doc["interleave"]), ("dtype on disk", doc["dtype_on_disk"]),
            ("wavelengths", f"{doc['wavelength_min_nm']:.3f} - {doc['wavelength_max_nm']:.3f} nm"
                            + (f" (mean spacing {doc['mean_band_spacing_nm']:.3f} nm)"
                               if doc["mean_band_spacing_nm"] else ""))]
    bb = doc["bad_bands"]
    rows.append(("bad bands", "none listed" if bb is None else
                 f"{bb['count']}" + (f": {', '.join(f'{w:g}' for w in bb['wavelengths_nm'][:20])} nm"
                                     + (" ..." if bb["count"] > 20 else "") if bb["count"] else "")))
    fw = doc["fwhm_nm"]
    rows.append(("fwhm", "none" if fw is None else f"{fw[0]:.3f} - {fw[1]:.3f} nm"))
    rows.append(("size (float32)", f"{doc['size_float32_mib']:.1f} MiB"))
    mc = doc["mask_core_fraction"]
    rows.append(("mask", "none" if mc is None else f"{100 * mc:.1f}% core"))
    meta = doc.get("meta") or {}
    for k in ("hole_id", "tray_id", "depth_from_m", "depth_to_m", "sensor", "pixel_size_mm"):
        if meta.get(k) is not None:
            rows.append((k.replace("_", " "), meta[k]))
    if table is not None:
        if table.get("depth_m"):
            a, b = table["depth_m"]
            rows.append(("depths", f"{a:g} - {b:g} m over {table['rows']} spectra"))
        rows.append(("table", f"{len(table['columns'])} columns per spectrum: "
                              + ", ".join(table["columns"][:8]) + (" ..." if len(table["columns"]) > 8 else "")))
        for run, r in (table.get("tsa") or {}).items():
            top = ", ".join(f"{m} {n}" for m, n in list(r["min1"].items())[:6])
            rows.append((f"TSA {run}", f"{r['what']}: {len(r['columns'])} columns "
                                       f"({', '.join(c[:-len(run) - 1] for c in r['columns'][:10])}"
                                       f"{' ...' if len(r['columns']) > 10 else ''}); Min1 on {r['spectra_named']} "
                                       f"spectra: {top}"))
        if not table.get("tsa"):
            rows.append(("TSA", "no TSA results in the table"))
    for k, v in sorted((meta.get("attrs") or {}).items()):
        if k in ("interleave", "dtype", "format", "tsa_columns") or v in (None, "", [], {}):
            continue
        rows.append((k.replace("_", " "), v))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        text = str(v)
        limit = 300 if k.startswith("TSA") or k == "table" else 100
        print(f"{k:<{width}}  {text if len(text) <= limit else text[:limit - 3] + '...'}")


def cmd_info(args) -> int:
    from ..io import open_cube
    path = Path(args.path)
    cube = open_cube(path)
    doc = describe_cube(path, cube)
    if args.json:
        print(json.dumps(doc))
    else:
        _print_info(doc)
    return EXIT_OK


# --------------------------------------------------------------------------------------------- writers

def _check_output(out, overwrite: bool, allowed=("hdf5", "envi", "png"), source=None) -> tuple[Path, str]:
    """The output path and format, checked before any data are read: writable, not existing (unless
    ``overwrite``), and none of its files (an ENVI output's data file too) one of ``source``'s files."""
    from ..io import check_not_input, check_output_path, output_format, source_files
    fmt = output_format(out, allowed)
    p = Path(out)
    files = [p] + ([p.with_suffix(".img"), p.with_name(p.stem + "_mask.img")] if fmt == "envi" else [])
    if source is not None:
        check_not_input(files, source_files(source))
    return check_output_path(out, overwrite), fmt


def cmd_convert(args) -> int:
    from ..io import open_cube, save_cube
    if args.output and args.output_opt and args.output != args.output_opt:
        raise InputError(f"two outputs given ({args.output} and -o {args.output_opt}); give one")
    target = args.output or args.output_opt
    if not target:
        raise InputError("convert needs an output: hsimin convert IN OUT")
    out, fmt = _check_output(target, args.overwrite, source=args.input)
    options = {}
    if args.interleave:
        if fmt != "envi":
            raise InputError("--interleave applies to ENVI (.hdr) outputs only", path=out)
        options["interleave"] = args.interleave
    cube = open_cube(args.input)
    written = save_cube(cube, out, overwrite=args.overwrite, **options)
    print(f"wrote {written}")
    return EXIT_OK


def cmd_calibrate(args) -> int:
    from ..io import save_cube
    from ..io.specim import calibrate_specim
    out, _ = _check_output(args.output, args.overwrite, source=args.scan)
    cube = calibrate_specim(args.scan)
    written = save_cube(cube, out, overwrite=args.overwrite)
    a = cube.meta.attrs
    print(f"wrote {written} ({cube.shape[0]} lines x {cube.shape[1]} samples x {cube.shape[2]} bands; "
          f"{a.get('dead_cells', 0)} dead cells, {len(a.get('dead_samples', []))} dead samples, "
          f"{a.get('saturated_pixels', 0)} saturated pixels)")
    return EXIT_OK


def cmd_quicklook(args) -> int:
    from ..io import open_cube, save_cube
    out, _ = _check_output(args.output, args.overwrite, ("png",), source=args.input)
    cube = open_cube(args.input)
    options = {} if args.rgb is None else {"rgb_nm": args.rgb}
    written = save_cube(cube, out, overwrite=args.overwrite, **options)
    print(f"wrote {written}")
    return EXIT_OK
