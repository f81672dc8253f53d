"""I/O benchmark: full reads of a float32 cube from ENVI BIL, ENVI BSQ and chunked HDF5, against raw reads
and SPy, plus the peak memory of ``iter_blocks``.

    .venv/bin/python benchmarks/io_bench.py                 # 384 samples x 2000 lines x 270 bands (829 MB)
    .venv/bin/python benchmarks/io_bench.py --lines 300     # a quick run

Every figure is a full read of the same cube into a new (lines, samples, bands) array (except the two raw
references, which read the file's bytes), best of ``--repeat`` runs after one warm-up, so the file is in the
page cache and the numbers measure the reader, not the disk. GB/s counts the float32 cube bytes (10^9 B/s).

Measured:

- ``raw np.fromfile``: the BIL file's bytes into a fresh (16-byte-aligned) numpy array
- ``raw readinto aligned``: the same bytes into a reused page-aligned buffer (the ceiling for a copy out of
  the page cache)
- ``SPy memmap (H,W,B)``: ``np.ascontiguousarray(spectral.open_image(hdr).open_memmap())``: SPy's band-last
  view copied into a C-contiguous (lines, samples, bands) array, the same output as hsimin's
- ``SPy memmap copy``: ``np.array(...open_memmap())``: numpy keeps the file's memory order (order='K'), so
  this is a plain copy of the bytes, not a band-last contiguous array
- ``SPy load()``: ``spectral.open_image(hdr).load()``
- ``hsimin ENVI BIL/BSQ``: ``np.asarray(hsimin.open_cube(hdr).data)``
- ``hsimin HDF5``: the same from the ``.h5`` written by ``hsimin.save_cube`` (chunked)
- ``iter_blocks peak RSS``: in a fresh process, after one warm-up block, the rise of peak RSS (VmHWM, reset
  through /proc/self/clear_refs) and the numpy allocation peak (tracemalloc) while streaming the BIL cube
  with a block budget of 1/4 and 1/8 of its size. Flat = about two blocks (the one being used and the next
  being read), whatever the cube's size.

Each row also gives the CPU time of the process (all threads) in its best run: on a machine shared with other
jobs the wall-clock figures drop with the load, while GB per CPU-second shows how much work each reader does.

Results are printed as a table and written as JSON to ``benchmarks/results/io_bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hsimin.core import Cube, ScanMeta
from hsimin.io import open_cube, save_cube
from hsimin.io.envi import write_envi_cube
from hsimin.io.lazy import LazyCubeArray

HERE = Path(__file__).resolve().parent


class SyntheticCube(LazyCubeArray):
    """Seeded, line-addressable random reflectance (each line from its own seed), so the writers stream it."""

    def __init__(self, lines: int, samples: int, bands: int, seed: int = 20260101):
        super().__init__((lines, samples, bands))
        self.seed = seed

    def _read_lines(self, r0: int, r1: int) -> np.ndarray:
        _, W, B = self.shape
        out = np.empty((r1 - r0, W, B), np.float32)
        for i, r in enumerate(range(r0, r1)):
            out[i] = np.random.default_rng((self.seed, r)).random((W, B), dtype=np.float32)
        return out


def best_time(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of the process (all threads) in that run, last result)."""
    fn()  # warm-up: page cache, imports, first-touch allocations
    best, cpu, result = float("inf"), float("nan"), None
    for _ in range(repeat):
        result = None  # free the previous run's array before the next one allocates its own
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    return best, cpu, result


def aligned_buffer(nbytes: int) -> np.ndarray:
    buf = np.empty(nbytes + 4096, np.uint8)
    off = (-buf.ctypes.data) % 4096
    return buf[off:off + nbytes]


RSS_CHILD = r"""
import json, sys, tracemalloc
import numpy as np
from hsimin.io import open_cube, iter_blocks

def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None

cube = open_cube(sys.argv[1])
budget = int(sys.argv[2])
first = next(iter_blocks(cube, max_bytes=budget))   # warm-up: imports, compiled kernels, thread start-up
del first
try:  # reset the peak-RSS mark (Linux); without it the figure is the whole run's peak
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
base = status_kib("VmRSS")
tracemalloc.start()
n, checksum = 0, 0.0
for blk in iter_blocks(cube, max_bytes=budget):
    n += 1
    checksum += float(np.nansum(blk.data[:, 0, 0]))
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
hwm = status_kib("VmHWM")
print(json.dumps({"blocks": n, "base_rss_bytes": base * 1024, "peak_rss_bytes": hwm * 1024,
                  "hwm_reset": reset, "traced_peak_bytes": traced_peak, "checksum": checksum}))
"""


def peak_rss(hdr: Path, budget: int) -> dict:
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(hdr), str(budget)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=384)
    ap.add_argument("--bands", type=int, default=270)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per reader (best is kept)")
    ap.add_argument("--spy-load-repeat", type=int, default=1, help="timed runs of SPy's slow load()")
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one in /tmp)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "io_bench.json")
    args = ap.parse_args(argv)

    import spectral

    H, W, B = args.lines, args.samples, args.bands
    nbytes = H * W * B * 4
    scratch = Path(tempfile.mkdtemp(prefix="hsimin_io_bench_", dir=args.dir))
    rows: list[dict] = []
    try:
        wl = np.linspace(1000.0, 2500.0, B)
        src = Cube(SyntheticCube(H, W, B), wl, fwhm=np.full(B, 6.0), meta=ScanMeta(hole_id="BENCH"))
        t0 = time.perf_counter()
        bil = write_envi_cube(src, scratch / "bil.hdr", interleave="bil")
        bsq = write_envi_cube(src, scratch / "bsq.hdr", interleave="bsq")
        h5 = save_cube(open_cube(bil), scratch / "cube.h5")
        setup_s = time.perf_counter() - t0
        print(f"cube {H} lines x {W} samples x {B} bands float32 = {nbytes / 1e6:.0f} MB; files written in "
              f"{setup_s:.1f} s to {scratch}", flush=True)

        def record(name, fn, repeat=args.repeat, check=None):
            seconds, cpu, result = best_time(fn, repeat)
            if check is not None:
                check(result)
            rows.append({"name": name, "seconds": seconds, "gb_per_s": nbytes / seconds / 1e9,
                         "cpu_seconds": cpu, "gb_per_cpu_s": nbytes / cpu / 1e9 if cpu > 0 else None})
            print(f"  {name:<28s} {nbytes / seconds / 1e9:7.2f} GB/s  ({seconds * 1000:6.0f} ms wall, "
                  f"{cpu * 1000:6.0f} ms CPU)", flush=True)
            return result

        reference = np.asarray(open_cube(bil).data[H // 2])

        def same(arr):
            if not np.array_equal(np.asarray(arr)[H // 2], reference):
                raise SystemExit("a reader returned different numbers; the benchmark is void")

        data_file = scratch / "bil.img"
        record("raw np.fromfile", lambda: np.fromfile(data_file, dtype=np.float32))
        buf = aligned_buffer(nbytes)

        def readinto():
            with open(data_file, "rb", buffering=0) as f:
                f.readinto(memoryview(buf))
            return buf
        record("raw readinto aligned", readinto)
        for label, hdr in (("BIL", bil), ("BSQ", bsq)):
            record(f"SPy memmap (H,W,B) {label}",
                   lambda h=hdr: np.ascontiguousarray(spectral.open_image(str(h)).open_memmap()), check=same)
            record(f"SPy memmap copy {label}", lambda h=hdr: np.array(spectral.open_image(str(h)).open_memmap()),
                   check=same)
            record(f"SPy load() {label}", lambda h=hdr: np.asarray(spectral.open_image(str(h)).load()),
                   repeat=args.spy_load_repeat, check=same)
            record(f"hsimin ENVI {label}", lambda h=hdr: np.asarray(open_cube(h).data), check=same)
        record("hsimin HDF5 (chunked)", lambda: np.asarray(open_cube(h5).data), check=same)

        by = {r["name"]: r["gb_per_s"] for r in rows}
        ratios = {}
        for label in ("BIL", "BSQ"):
            ours = by[f"hsimin ENVI {label}"]
            ratios[label] = {
                "vs_np_fromfile": ours / by["raw np.fromfile"],
                "vs_readinto_aligned": ours / by["raw readinto aligned"],
                "vs_spy_memmap_hwb": ours / by[f"SPy memmap (H,W,B) {label}"],
                "vs_spy_memmap_copy": ours / by[f"SPy memmap copy {label}"],
                "vs_spy_load": ours / by[f"SPy load() {label}"],
            }
        ours = by["hsimin HDF5 (chunked)"]
        ratios["HDF5"] = {"vs_np_fromfile": ours / by["raw np.fromfile"],
                          "vs_readinto_aligned": ours / by["raw readinto aligned"],
                          "vs_spy_memmap_hwb": ours / by["SPy memmap (H,W,B) BIL"],
                          "vs_spy_memmap_copy": ours / by["SPy memmap copy BIL"],
                          "vs_spy_load": ours / by["SPy load() BIL"]}
        print("\nratios (hsimin GB/s / reference GB/s):")
        print(f"  {'':6s} {'fromfile':>9s} {'readinto':>9s} {'SPy mm HWB':>11s} {'SPy mm copy':>11s} {'SPy load':>9s}")
        for label, r in ratios.items():
            print(f"  {label:6s} {r['vs_np_fromfile']:9.2f} {r['vs_readinto_aligned']:9.2f} "
                  f"{r['vs_spy_memmap_hwb']:11.2f} {r.get('vs_spy_memmap_copy', float('nan')):11.2f} "
                  f"{r['vs_spy_load']:9.2f}")

        rss = []
        for frac in (4, 8):
            budget = nbytes // frac
            res = peak_rss(bil, budget)
            res.update(budget_bytes=budget, cube_bytes=nbytes,
                       rise_bytes=res["peak_rss_bytes"] - res["base_rss_bytes"])
            res["rise_in_blocks"] = res["rise_bytes"] / budget
            res["traced_peak_in_blocks"] = res["traced_peak_bytes"] / budget
            rss.append(res)
            print(f"iter_blocks, budget 1/{frac} of the cube ({budget / 2**20:.0f} MiB, {res['blocks']} blocks): "
                  f"peak RSS rise {res['rise_bytes'] / 2**20:.0f} MiB = {res['rise_in_blocks']:.2f} blocks "
                  f"({res['rise_bytes'] / nbytes:.2f} of the cube); numpy peak (tracemalloc) "
                  f"{res['traced_peak_in_blocks']:.2f} blocks", flush=True)

        doc = {
            "cube": {"lines": H, "samples": W, "bands": B, "dtype": "float32", "bytes": nbytes},
            "repeat": args.repeat,
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "numpy": np.__version__, "spectral": spectral.__version__, "cpus": os.cpu_count(),
                        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
            "results": rows, "ratios": ratios, "iter_blocks_peak_rss": rss,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
