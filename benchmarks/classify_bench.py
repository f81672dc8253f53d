"""Mapping throughput of a whole cube: ``hsimin classify`` (the shipped model) in each of its configurations and
``hsimin identify`` (the library interpretation), with a library-matching peer in the same run, as ratios.

    .venv/bin/python benchmarks/classify_bench.py                 # about a minute on 2 cores
    .venv/bin/python benchmarks/classify_bench.py --tile 4 --repeat 2 --no-tetracorderp

The cube is the bundled sample tray (real USGS spectra in a simulated tray, 320 x 64 pixels, 270 bands, with its
dividers and floor) repeated ``--tile`` times down the tray (8: 163 840 pixels), in memory, so the figures are
the mapping itself and not the disk. Each figure is the best of ``--repeat`` runs after a warm-up (references
prepared, kernels compiled, the model loaded):

* ``classify`` through :func:`hsimin.predict.classify_cube`: the model alone (``--no-artefact-screen
  --no-library-gate``), with the tray-artefact screen (``--no-library-gate``), and the default (screen and library
  gate: aspectral and unknown from the library path's SWIR answer);
* ``identify`` through :func:`hsimin.classical.interpretation.interpret_cube`: the SWIR answer alone
  (``features=False``) and the default (the answer and the 1900/2200/2250/2330 nm feature scalars);
* peers, on the same pixels: **SPy**'s ``spectral_angles`` against the same USGS references on the cube's bands
  (the library matching a user would reach for first: one matrix product, no continuum removal, no decision), and
  **tetracorderp** (USGS Tetracorder rules; GPL, a benchmark-only extra) on ``--tetracorderp-spectra`` spectra
  (it runs at a few spectra per second, so its rate is measured on a sample).

Ratios are hsimin's pixels/s over the peer's. Results: ``benchmarks/results/classify_bench.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hsimin  # noqa: E402


def _best(fn, repeat: int) -> float:
    fn()                                    # warm-up
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _spy_sam(cube):
    """SPy's spectral angles of every pixel against the default SWIR references on the cube's bands."""
    from spectral import spectral_angles

    from hsimin.classical.references import reference_library
    from hsimin.preprocess.resample import resample
    lib = reference_library()
    R = resample(np.asarray(lib.spectra, np.float64), lib.wavelengths, cube.wavelengths, cube.fwhm)
    R = R[np.isfinite(R).all(axis=1)]
    data = np.asarray(cube.data, np.float32)
    return lambda: spectral_angles(data, R).argmin(axis=-1), len(R)


def _tetracorderp(cube, n: int):
    from tetracorderp import GroupEvaluator
    X = np.asarray(cube.data, np.float32).reshape(1, -1, cube.shape[2])[:, :n]
    fwhm = (cube.fwhm if cube.fwhm is not None else np.full(cube.shape[2], 11.0)) / 1000.0
    return lambda: GroupEvaluator(X, cube.wavelengths / 1000.0, fwhm).group_winners


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tile", type=int, default=8, help="copies of the sample tray, stacked down it (default 8)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-tetracorderp", action="store_true", help="leave the Tetracorder port out")
    ap.add_argument("--tetracorderp-spectra", type=int, default=60)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "classify_bench.json"))
    args = ap.parse_args(argv)

    from hsimin.classical.interpretation import interpret_cube
    from hsimin.predict.workflow import classify_cube, resolve_model
    from hsimin.samples import tray_path
    tray = hsimin.open_cube(tray_path())
    cube = dataclasses.replace(tray, data=np.tile(np.asarray(tray.data, np.float32), (args.tile, 1, 1)), mask=None)
    n = cube.shape[0] * cube.shape[1]
    model = resolve_model("default")
    runs = {
        "classify: model alone": lambda: classify_cube(cube, model, artefact_screen=False, library_gate=False),
        "classify: model + artefact screen": lambda: classify_cube(cube, model, library_gate=False),
        "classify: default (screen + library gate)": lambda: classify_cube(cube, model),
        "identify: SWIR answer": lambda: interpret_cube(cube, features=False),
        "identify: default (answer + feature scalars)": lambda: interpret_cube(cube),
    }
    sam, n_refs = _spy_sam(cube)
    rows: dict = {}
    for name, fn in runs.items():
        s = _best(fn, args.repeat)
        rows[name] = {"seconds": round(s, 3), "pixels_per_s": round(n / s)}
    s = _best(sam, args.repeat)
    peers = {"spy_spectral_angles": {"seconds": round(s, 3), "pixels_per_s": round(n / s), "references": n_refs}}
    if not args.no_tetracorderp:
        try:
            run = _tetracorderp(cube, args.tetracorderp_spectra)
        except ImportError:
            peers["tetracorderp"] = {"error": "not installed (pip install '.[bench]')"}
        else:
            s = _best(run, 1)
            peers["tetracorderp"] = {"seconds": round(s, 3), "spectra": args.tetracorderp_spectra,
                                     "pixels_per_s": round(args.tetracorderp_spectra / s, 2)}
    for row in rows.values():
        row["vs_spy_sam"] = round(row["pixels_per_s"] / peers["spy_spectral_angles"]["pixels_per_s"], 2)
        if "pixels_per_s" in peers.get("tetracorderp", {}):
            row["vs_tetracorderp"] = round(row["pixels_per_s"] / peers["tetracorderp"]["pixels_per_s"])
    print(f"{n} pixels ({cube.shape[0]} x {cube.shape[1]}, {cube.shape[2]} bands), best of {args.repeat}:")
    for name, row in {**rows, **{f"peer: {k}": v for k, v in peers.items()}}.items():
        if "error" in row:
            print(f"  {name:46s} {row['error']}")
            continue
        ratio = "" if "vs_spy_sam" not in row else f"  x{row['vs_spy_sam']} SPy SAM" + (
            f", x{row['vs_tetracorderp']} tetracorderp" if "vs_tetracorderp" in row else "")
        rate = row["pixels_per_s"]
        shown = f"{rate / 1e3:9.1f} k px/s" if rate >= 1000 else f"{rate:9.2f}   px/s"
        print(f"  {name:46s} {shown}{ratio}")
    import numba
    out = {"benchmark": "classify_bench", "hsimin": hsimin.__version__, "python": platform.python_version(),
           "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
           "numba_threads": numba.get_num_threads(), "pixels": n, "shape": list(cube.shape),
           "repeat": args.repeat, "hsimin_runs": rows, "peers": peers}
    from hsimin.io.writers import write_json
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"wrote {write_json(out, args.out, overwrite=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
