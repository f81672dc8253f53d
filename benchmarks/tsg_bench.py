"""TSG (HyLogger) package reads: hsimin's reader against pytsg (the peer), on the four real packages and a long hole.

    .venv/bin/python benchmarks/tsg_bench.py                  # the four bundled packages + a 50 000-spectrum hole
    .venv/bin/python benchmarks/tsg_bench.py --long 0         # the real packages only

What is read, by both readers, is the NIR-SWIR pair of a package: every spectrum as a float array plus every scalar
column of the table (pytsg: ``pytsg.parse_tsg.read_tsg_bip_pair(tsg, bip, "nir")``, which builds pandas frames;
hsimin: ``np.asarray(hsimin.open_cube(tsg).data)`` and the ``SpectrumTable`` that ``open_cube`` builds).

- ``read ms``: best of ``--repeat`` runs after one warm-up, in one process per reader and package (page cache warm,
  imports done before timing).
- ``peak MB``: the rise of the process's peak resident memory (VmHWM, reset through /proc/self/clear_refs after
  one warm-up read, so imports are not counted) over one read, in a fresh process. The result is kept until the
  measurement ends, so this is what holding the package costs at its peak.
- ``alloc MB``: the peak of Python/numpy allocations over the same read (tracemalloc): exact, and free of the
  allocator's reuse of memory the warm-up freed, which hides small reads from VmHWM.
- ``stream peak MB`` (hsimin only): the same while streaming the spectra with ``iter_blocks`` at a 16 MiB block
  budget, the way every hsimin verb reads a cube: the spectra cost one block whatever the hole's length; the
  per-spectrum table (about 150 float32 scalars a spectrum, 60 MB for 50 000 spectra) is held whole, as the
  verbs need it. pytsg has no streaming read.
- ``long``: SWMB007d's spectra and scalars repeated to ``--long`` spectra (a deep hole scanned at 1 cm: 50 000
  spectra, a 212 MB .bip), written to a temporary folder with a matching .tsg.

- ``agreement``: whether the two readers read the same package: spectra (max absolute difference), wavelengths and
  every scalar column both have (see :func:`agreement`).

Results are printed and written to ``benchmarks/results/tsg_bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _rss_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(reader: str, tsg: str, mode: str, repeat: int) -> dict:
    """Run in a fresh process: time or measure one reader on one package."""
    import numpy as np
    tsg_p = Path(tsg)
    bip_p = tsg_p.with_suffix(".bip")
    if reader == "pytsg":
        from pytsg.parse_tsg import read_tsg_bip_pair

        def read():
            s = read_tsg_bip_pair(tsg_p, bip_p, "nir")
            return s.spectra.shape, s.scalars.shape
    else:
        import hsimin
        from hsimin.io import iter_blocks

        if mode == "stream":
            def read():
                cube = hsimin.open_cube(tsg_p)
                n = 0
                for b in iter_blocks(cube, max_bytes=16 * 2**20):
                    n += int(np.isfinite(b.data).sum() > 0)
                return cube.shape, len(cube.table.names)
        else:
            def read():
                cube = hsimin.open_cube(tsg_p)
                X = np.asarray(cube.data)
                return X.shape, len(cube.table.names)
    if mode in ("memory", "stream"):
        import gc
        read()  # imports and first-use allocations are not the read's memory
        gc.collect()
        import tracemalloc
        base = _rss_mb()
        _rss_reset()
        tracemalloc.start()
        t0 = time.perf_counter()
        shape = read()
        wall = time.perf_counter() - t0
        alloc = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return {"peak_mb": round(_hwm_mb() - base, 1), "alloc_peak_mb": round(alloc, 2), "seconds": wall,
                "shape": str(shape)}
    read()  # warm-up: page cache, lazy imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        shape = read()
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "shape": str(shape)}


def agreement(tsg: str) -> dict:
    """What the two readers make of one package: spectra, wavelengths and every scalar column both have.

    TSG marks a missing value with -3.4e38; hsimin reads it as NaN (as the format means), pytsg keeps the number,
    so those are mapped to NaN before comparing. pytsg decodes some class-valued columns to their names and
    leaves others as class numbers; a column it left as numbers is counted, not compared.
    """
    import numpy as np
    from pytsg.parse_tsg import read_tsg_bip_pair

    import hsimin
    tsg_p = Path(tsg)
    p = read_tsg_bip_pair(tsg_p, tsg_p.with_suffix(".bip"), "nir")
    cube = hsimin.open_cube(tsg_p)
    X = np.asarray(cube.data, dtype=np.float64).reshape(-1, cube.shape[-1])
    P = np.asarray(p.spectra, dtype=np.float64)
    out = {"spectra_max_abs_diff": float(np.nanmax(np.abs(X - P))) if X.shape == P.shape else None,
           "spectra_shape_equal": X.shape == P.shape,
           "wavelength_max_abs_diff_nm": float(np.max(np.abs(np.asarray(p.wavelength, float) - cube.wavelengths)))}
    numeric_equal = numeric_differ = text_equal = text_differ = left_as_numbers = 0
    differ = []
    for name in p.scalars.columns:
        if name not in cube.table:
            continue
        a = cube.table[name]
        b = p.scalars[name].to_numpy()
        if a.dtype.kind == "f":
            b = b.astype(np.float64)
            b[b < -1e38] = np.nan
            same = np.allclose(a, b, rtol=1e-6, equal_nan=True)
            numeric_equal += same
            numeric_differ += not same
        elif b.dtype.kind in "fiu":
            left_as_numbers += 1
            continue
        else:
            same = [str(x) for x in a] == ["" if x is None else str(x) for x in b]
            text_equal += same
            text_differ += not same
        if not same:
            differ.append(name)
    out.update(numeric_columns_equal=numeric_equal, numeric_columns_differ=numeric_differ,
               text_columns_equal=text_equal, text_columns_differ=text_differ,
               class_columns_pytsg_left_as_numbers=left_as_numbers, columns_that_differ=differ[:10],
               hsimin_only_columns=[n for n in cube.table.names if n not in p.scalars.columns])
    return out


def run_child(reader: str, tsg: Path, mode: str, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(tsg), mode, str(repeat)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_long(src_tsg: Path, n: int, folder: Path) -> Path:
    """SWMB007d's spectra and scalars repeated to ``n`` spectra, with a .tsg saying so (depths every 1 cm)."""
    import numpy as np

    from hsimin.io.tsg import read_tsg_header
    h = read_tsg_header(src_tsg)
    N, B = h.n_spectra, h.n_bands
    planes = np.fromfile(src_tsg.with_suffix(".bip"), dtype="<f4").reshape(2, N, B)
    reps = -(-n // N)
    text = src_tsg.read_text(encoding="cp1252").splitlines()
    out_lines, i = [], 0
    in_samples = False
    for line in text:
        if line.startswith("["):
            if in_samples:  # write the new sample headers where the old ones were
                for k in range(n):
                    out_lines.append(f"{k}:LONG_{k}  T={1 + k // 500:04d} L=1 P={k % 500 + 1} D={0.005 + 0.01 * k:.6f} "
                                     f"H=LONG01")
                out_lines.append("")
            in_samples = line.strip().lower() == "[sample headers]"
            out_lines.append(line)
            continue
        if in_samples:
            continue
        if line.startswith("lastsample") or line.startswith("samples") or line.startswith("spacespecs"):
            key = line.split("=")[0]
            line = f"{key}= {n}"
        out_lines.append(line)
        i += 1
    tsg = folder / "LONG_tsg.tsg"
    tsg.write_text("\n".join(out_lines) + "\n", encoding="cp1252")
    with open(folder / "LONG_tsg.bip", "wb") as f:
        for p in range(2):
            big = np.tile(planes[p], (reps, 1))[:n]
            f.write(big.astype("<f4").tobytes())
    return tsg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--long", type=int, default=50_000, help="spectra in the synthetic long hole (0: none)")
    ap.add_argument("--out", default=str(HERE / "results" / "tsg_bench.json"))
    args = ap.parse_args(argv)
    from hsimin.samples import HYLOGGER_SETS, hylogger_path
    targets = {name: hylogger_path(name) for name in HYLOGGER_SETS}
    tmp = tempfile.TemporaryDirectory(prefix="tsg-bench-")
    if args.long:
        targets[f"long ({args.long} spectra)"] = make_long(hylogger_path("SWMB007d"), args.long, Path(tmp.name))
    rows = []
    for name, tsg in targets.items():
        size_mb = (tsg.stat().st_size + tsg.with_suffix(".bip").stat().st_size) / 2**20
        row = {"package": name, "files_mb": round(size_mb, 2)}
        for reader in ("hsimin", "pytsg"):
            t = run_child(reader, tsg, "time", args.repeat)
            m = run_child(reader, tsg, "memory", 1)
            row[f"{reader}_ms"] = None if "error" in t else round(1000 * t["seconds"], 2)
            row[f"{reader}_peak_mb"] = m.get("peak_mb")
            row[f"{reader}_alloc_peak_mb"] = m.get("alloc_peak_mb")
            if "error" in t:
                row[f"{reader}_error"] = t["error"]
        s = run_child("hsimin", tsg, "stream", 1)
        row["hsimin_stream_peak_mb"] = s.get("peak_mb")
        row["hsimin_stream_alloc_peak_mb"] = s.get("alloc_peak_mb")
        if not name.startswith("long"):
            row["agreement"] = run_child("agree", tsg, "agree", 1)
        if row.get("hsimin_ms") and row.get("pytsg_ms"):
            row["speedup_vs_pytsg"] = round(row["pytsg_ms"] / row["hsimin_ms"], 2)
        rows.append(row)
        print(f"{name:24s} {size_mb:7.2f} MB | hsimin {row['hsimin_ms']} ms, RSS +{row['hsimin_peak_mb']} MB, alloc "
              f"{row['hsimin_alloc_peak_mb']} MB; streaming alloc {row['hsimin_stream_alloc_peak_mb']} MB | pytsg "
              f"{row['pytsg_ms']} ms, RSS +{row['pytsg_peak_mb']} MB, alloc {row['pytsg_alloc_peak_mb']} MB | "
              f"pytsg/hsimin time x{row.get('speedup_vs_pytsg')}", flush=True)
        if "agreement" in row:
            print(f"{'':24s} same spectra: max |diff| {row['agreement'].get('spectra_max_abs_diff')}; columns "
                  f"equal/differ: numeric {row['agreement'].get('numeric_columns_equal')}/"
                  f"{row['agreement'].get('numeric_columns_differ')}, text {row['agreement'].get('text_columns_equal')}/"
                  f"{row['agreement'].get('text_columns_differ')}; class columns pytsg left as numbers "
                  f"{row['agreement'].get('class_columns_pytsg_left_as_numbers')}", flush=True)
    import hsimin
    try:
        from importlib.metadata import version
        pytsg_version = version("pytsg")
    except Exception:  # noqa: BLE001
        pytsg_version = None
    doc = {"benchmark": "tsg_bench", "hsimin": hsimin.__version__, "pytsg": pytsg_version,
           "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "repeat": args.repeat, "rows": rows,
           "notes": "read ms: best of repeat after a warm-up; peak MB: rise of VmHWM over one read in a fresh "
                    "process; stream: hsimin iter_blocks at a 16 MiB budget"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if sys.argv[2] == "agree":
            print(json.dumps(agreement(sys.argv[3])))
        else:
            print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
