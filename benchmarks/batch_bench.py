"""Batch benchmark: a session of large trays end to end (read -> mask -> classify -> features -> depth -> write).

    .venv/bin/python benchmarks/batch_bench.py                    # 3 trays of 3000 lines x 384 samples x 270 bands
    .venv/bin/python benchmarks/batch_bench.py --lines 750        # a quicker run

The trays are the bundled real-spectra sample tray (320 x 64 x 270, USGS spectra in a simulated tray) tiled to
``--lines`` x ``--samples`` and rolled differently for each tray, written as uint16 BIL ENVI (a Specim SWIR
scan's layout: 384 samples across, 270 bands). The classifier is the shipped model (``--model default``); if this
installation has none yet, a stand-in pixel model of the same kind (``fastspec`` 270 -> 128 -> 64 -> 12, random
weights: the speed of a trained one, not its answers) is used and the JSON says so.

Measured, all through the real ``hsimin batch`` command unless said otherwise:

1. **one tray end to end**: a one-tray session (1 worker with every core): wall clock of the command, of
   ``process_tray`` inside it, CPU seconds, pixels/s, and the time in each stage (setup, read, mask, classify,
   features, depth, write) as a fraction of all the work and, since reading and the feature scalars run on
   their own threads beside the main one (mask, classify), of the main thread's time, where ``read_wait`` and
   ``features_wait`` are the parts of those stages that were not hidden behind the main thread's work;
2. **stages alone**: each stage run by itself on the same tray in this process (read from the page cache into
   memory; mask, classify, features on the in-memory cube; writing the outputs), and end to end / slowest stage
   alone (the pipeline's waste);
3. **a session**: ``--trays`` trays with the default parallelism (one worker per core): trays per hour, pixels/s;
4. **memory**: peak RSS of each worker after each of its trays (flat with tray count), and of one-tray runs at
   half and full ``--lines`` (the growth is the per-pixel outputs, not the cube: bytes per pixel reported);
5. **Dask**: the same session through ``--scheduler`` on a 2-worker ``LocalCluster`` (processes, loopback):
   every output file byte-identical to the local run's;
6. **resume after a kill**: the session started again in a fresh folder, SIGKILLed (the whole process group,
   like a power cut) once a tray is done, then re-run: only the unfinished trays are redone.

Results are printed and written to ``benchmarks/results/batch_bench.json`` with the machine's core count and
load average: on a shared machine the wall-clock figures drop with the load; CPU seconds show the work.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HSIMIN = [sys.executable, "-m", "hsimin"]


# --------------------------------------------------------------------------------------------- data

def sample_bil() -> tuple[np.ndarray, str]:
    """The sample tray's raw BIL array (lines, bands, samples) uint16 and its header text."""
    from hsimin import samples
    hdr = samples.tray_path()
    raw = np.fromfile(hdr.with_suffix(".img"), dtype="<u2").reshape(320, 270, 64)
    return raw, hdr.read_text()


def make_tray(hdr: Path, lines: int, samples: int, k: int) -> Path:
    """A tiled, rolled copy of the sample tray as uint16 BIL ENVI, written 320 lines at a time."""
    raw, text = sample_bil()
    rolled = np.roll(raw, 97 * k, axis=0)
    reps = -(-samples // raw.shape[2])
    chunk = np.ascontiguousarray(np.tile(rolled, (1, 1, reps))[:, :, :samples])
    with open(hdr.with_suffix(".img"), "wb") as f:
        done = 0
        while done < lines:
            n = min(chunk.shape[0], lines - done)
            f.write(chunk[:n].tobytes())
            done += n
    text = text.replace("lines = 320", f"lines = {lines}").replace("samples = 64", f"samples = {samples}")
    hdr.write_text(text)
    return hdr


def manifest(path: Path, trays: list[tuple[str, str, float, float, Path]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["hole_id", "tray_id", "depth_from_m", "depth_to_m", "path"])
        for row in trays:
            w.writerow([*row[:4], str(row[4])])
    return path


def stand_in_model(path: Path, wavelengths) -> Path:
    import torch

    from hsimin.models import create_model, save_model
    torch.manual_seed(0)
    names = ["kaolinite", "white_mica", "smectite", "chlorite", "epidote", "calcite", "dolomite", "talc",
             "serpentine", "gypsum", "plastic", "aspectral"]
    model = create_model({"backbone": {"name": "fastspec", "widths": [128, 64]}, "in_bands": len(wavelengths),
                          "num_outputs": len(names), "patch_size": 1})
    save_model(model, path, wavelengths=wavelengths, class_names=names, overwrite=True)
    return path


# --------------------------------------------------------------------------------------------- helpers

def run(cmd, **kw) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; (result, wall seconds, CPU seconds of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p, wall, cpu


def run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tray_files(out: Path) -> dict[str, str]:
    """sha256 of every file in the hole folders (tray maps and the hole's log and mosaic); run.json and the report
    hold times and paths, so they are left out."""
    return {str(p.relative_to(out)): digest(p) for p in sorted(out.rglob("*")) if p.is_file() and p.parent != out}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------- steps

def stages_alone(hdr: Path, model: str, lines_budget_mb: int = 64) -> dict:
    """Each stage by itself on one tray, in this process, with the per-operation threads a one-tray run uses."""
    from hsimin.batch.runner import default_parallelism
    from hsimin.batch.tray_pass import stage_threads, thread_limits
    with thread_limits(stage_threads(default_parallelism(1)[1])[1]):
        return _stages_alone(hdr, model, lines_budget_mb)


def _stages_alone(hdr: Path, model: str, lines_budget_mb: int) -> dict:
    import dataclasses

    from hsimin.batch.runner import resolve_classifier
    from hsimin.batch import BatchConfig
    from hsimin.batch.classifiers import tray_classifier
    from hsimin.batch.tray_pass import valid_codes
    from hsimin.classical.features import parse_windows
    from hsimin.classical.mapping import map_features
    from hsimin.core import Cube
    from hsimin.io import open_cube, save_map
    from hsimin.io.hdf5 import write_hdf5
    from hsimin.models import load_model
    from hsimin.predict import predict_cube

    cfg = resolve_classifier(BatchConfig(model=model))
    cube = open_cube(hdr)
    screen = tray_classifier(cfg, cube).screen
    H, W, B = cube.shape
    lines = max(1, lines_budget_mb * 2**20 // (W * B * 4))
    out = {}
    t = time.perf_counter()
    data = np.empty((H, W, B), np.float32)
    for r0 in range(0, H, lines):
        data[r0:r0 + lines] = cube.data[r0:r0 + lines]
    out["read"] = time.perf_counter() - t
    t = time.perf_counter()
    valid = np.empty((H, W), bool)
    for r0 in range(0, H, lines):
        v = valid_codes(data[r0:r0 + lines], cube.wavelengths, cfg)[0] == 0
        if screen is not None:
            v[v] = ~screen(data[r0:r0 + lines][v])
        valid[r0:r0 + lines] = v
    out["mask"] = time.perf_counter() - t
    lm = load_model(cfg.model)
    mem = dataclasses.replace(cube, data=data, mask=valid)
    predict_cube(Cube(data[:64], cube.wavelengths, fwhm=cube.fwhm, mask=valid[:64]), lm)  # warm-up
    t = time.perf_counter()
    mm = predict_cube(mem, lm)
    out["classify"] = time.perf_counter() - t
    windows = parse_windows("default")
    wl = cube.wavelengths
    need = np.zeros(wl.size, bool)
    for w in windows:
        need |= (wl >= w.hull_lo_nm) & (wl <= w.hull_hi_nm)
    b = slice(int(np.flatnonzero(need)[0]), int(np.flatnonzero(need)[-1]) + 1)
    core = valid & (mm.labels >= 0)
    t = time.perf_counter()
    feats = {}
    for r0 in range(0, H, lines):
        f = map_features(Cube(data[r0:r0 + lines, :, b], wl[b], mask=core[r0:r0 + lines]), windows)
        for k, v in f.items():
            feats.setdefault(k, np.empty((H, W), np.float32))[r0:r0 + lines] = v
    out["features"] = time.perf_counter() - t
    del data, mem
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        save_map(mm, Path(d) / "m.hdr")
        save_map(mm, Path(d) / "m.png")
        write_hdf5(Path(d) / "m.h5", maps={"mineral": mm}, arrays={"features": feats})
        out["write"] = time.perf_counter() - t
    return {k: round(v, 2) for k, v in out.items()}


def resume_after_kill(man: Path, out: Path, model: str, n_trays: int) -> dict:
    cmd = [*HSIMIN, "batch", str(man), "-o", str(out), "--model", model, "--workers", "1", "--threads", "1"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 1800
    done_before = []
    while time.time() < deadline and p.poll() is None:
        try:
            doc = run_json(out)
            done_before = [t["tray_id"] for t in doc["trays"] if t["status"] == "done"]
        except (OSError, ValueError):
            pass
        if done_before:
            break
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    killed_after = done_before
    leftovers_after_kill = sorted(str(f.relative_to(out)) for f in out.rglob("*.part"))
    p2, wall, _ = run(cmd)
    doc = run_json(out)
    st = {t["tray_id"]: t["status"] for t in doc["trays"]}
    redone = sorted(k for k, v in st.items() if v == "done")
    return {"done_before_kill": killed_after, "temp_files_left_by_the_kill": leftovers_after_kill,
            "statuses_after_rerun": st, "redone": redone,
            "only_unfinished_redone": sorted(set(st) - set(killed_after)) == redone
            and all(st[t] == "skipped" for t in killed_after),
            "temp_files_after_rerun": sorted(str(f.relative_to(out)) for f in out.rglob("*.part")),
            "rerun_exit_code": p2.returncode, "rerun_seconds": round(wall, 1)}


def dask_identical(man: Path, local_out: Path, out: Path, model: str, threads: int) -> dict:
    from dask.distributed import LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        p, wall, _ = run([*HSIMIN, "batch", man, "-o", out, "--model", model, "--scheduler",
                          cluster.scheduler_address, "--threads", str(threads)])
    finally:
        cluster.close()
    a, b = tray_files(local_out), tray_files(out)
    return {"exit_code": p.returncode, "seconds": round(wall, 1), "files_compared": len(a),
            "byte_identical": a == b and len(a) > 0,
            "differing": sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))}


# --------------------------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--samples", type=int, default=384)
    ap.add_argument("--trays", type=int, default=3)
    ap.add_argument("--model", default="default", help="model checkpoint, or 'default' (the shipped model)")
    ap.add_argument("--workdir", default=None, help="where the trays go (default: a temporary folder)")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: alone,session,memory,dask,resume")
    ap.add_argument("--out", default=str(HERE / "results" / "batch_bench.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from hsimin.batch.runner import available_cores, default_parallelism
    from hsimin.io.envi_header import read_envi_header
    from hsimin import samples

    work = Path(args.workdir or tempfile.mkdtemp(prefix="hsimin_batch_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"machine": {"cores": available_cores(), "platform": platform.platform(),
                             "python": platform.python_version(), "load_average_start": load()},
                 "tray": {"lines": args.lines, "samples": args.samples, "bands": 270,
                          "pixels": args.lines * args.samples, "file_mb": round(args.lines * args.samples * 540 / 2**20)}}
    model = args.model
    if model == "default":
        from hsimin.core.errors import ModelError
        try:
            from hsimin.models import default_model_path
            model = str(default_model_path())
            res["model"] = {"kind": "shipped default", "path": model}
        except (ImportError, ModelError):
            wl = read_envi_header(samples.tray_path()).get_floats("wavelength")
            model = str(stand_in_model(work / "stand_in_fastspec.pt", wl))
            res["model"] = {"kind": "stand-in (no shipped model in this installation): fastspec 270-128-64-12, "
                                    "random weights", "path": model}
    else:
        res["model"] = {"kind": "given", "path": model}
    print(f"model: {res['model']['kind']}", flush=True)

    print("writing trays ...", flush=True)
    trays = []
    for k in range(args.trays):
        hdr = make_tray(work / f"T{k + 1:02d}.hdr", args.lines, args.samples, k)
        trays.append(("BENCH1", f"T{k + 1:02d}", 100.0 + 1.5 * k, 101.5 + 1.5 * k, hdr))
    man1 = manifest(work / "one.csv", trays[:1])
    man = manifest(work / "session.csv", trays)
    px = args.lines * args.samples

    # 1. one tray end to end (warm: a first run compiles/caches and fills the page cache, then a fresh run)
    print("one tray end to end ...", flush=True)
    run([*HSIMIN, "batch", man1, "-o", work / "warm", "--model", model])
    p, wall, cpu = run([*HSIMIN, "batch", man1, "-o", work / "one", "--model", model])
    t = run_json(work / "one")["trays"][0]
    stages = t["stages"]
    work_s = {k: v for k, v in stages.items() if not k.endswith("_wait")}
    main = {k: v for k, v in stages.items() if k not in ("read", "features")}  # the main thread's time
    res["one_tray"] = {
        "command_seconds": round(wall, 2), "process_tray_seconds": t["seconds"], "cpu_seconds": round(cpu, 2),
        "threads": run_json(work / "one")["threads_per_tray"], "pixels_per_second": round(px / t["seconds"]),
        "stage_seconds": stages,
        "stage_fraction_of_work": {k: round(v / sum(work_s.values()), 3) for k, v in work_s.items()},
        "main_thread_fraction": {k: round(v / sum(main.values()), 3) for k, v in main.items()},
        "peak_rss_mb": t.get("peak_rss_mb"), "goal_seconds": 20.0, "load_average": load()}
    print(json.dumps(res["one_tray"], indent=1), flush=True)

    if "alone" not in skip:
        print("stages alone ...", flush=True)
        alone = stages_alone(trays[0][4], model)
        slowest = max(alone, key=alone.get)
        res["stages_alone"] = {"seconds": alone, "slowest": slowest,
                               "process_tray_seconds": t["seconds"],
                               "end_to_end_over_slowest": round(t["seconds"] / alone[slowest], 2),
                               "end_to_end_over_sum": round(t["seconds"] / sum(alone.values()), 2),
                               "load_average": load()}
        print(json.dumps(res["stages_alone"], indent=1), flush=True)

    threads = default_parallelism(args.trays)[1]
    if "session" not in skip:
        print("session ...", flush=True)
        p, wall, cpu = run([*HSIMIN, "batch", man, "-o", work / "session", "--model", model])
        doc = run_json(work / "session")
        per_worker = {}
        for tr in doc["trays"]:
            per_worker.setdefault(tr.get("worker_pid", "?"), []).append(tr.get("peak_rss_mb"))
        res["session"] = {"trays": args.trays, "workers": doc["executor"].get("workers"),
                          "threads_per_tray": doc["threads_per_tray"], "seconds": round(wall, 2),
                          "cpu_seconds": round(cpu, 2), "trays_per_hour": round(3600 * args.trays / wall, 1),
                          "pixels_per_second": round(args.trays * px / wall),
                          "tray_seconds": [tr["seconds"] for tr in doc["trays"]],
                          "peak_rss_mb_by_worker_after_each_tray": per_worker, "load_average": load()}
        print(json.dumps(res["session"], indent=1), flush=True)

    if "memory" not in skip:
        print("memory vs tray size ...", flush=True)
        half = make_tray(work / "half.hdr", args.lines // 2, args.samples, 0)
        m_half = manifest(work / "half.csv", [("M", "half", 0.0, 0.75, half)])
        m_full = manifest(work / "full.csv", [("M", "full", 0.0, 1.5, trays[0][4])])
        rss = {}
        for name, m in (("half", m_half), ("full", m_full)):
            run([*HSIMIN, "batch", m, "-o", work / f"mem_{name}", "--model", model, "--workers", "0"])
            rss[name] = run_json(work / f"mem_{name}")["trays"][0]["peak_rss_mb"]
        grow = (rss["full"] - rss["half"]) * 2**20 / (px - (args.lines // 2) * args.samples)
        res["memory"] = {"peak_rss_mb_half_tray": rss["half"], "peak_rss_mb_full_tray": rss["full"],
                         "growth_bytes_per_pixel": round(grow, 1), "block_budget_mb": 64,
                         "cube_float32_mb_full_tray": round(px * 270 * 4 / 2**20),
                         "note": "a tray's per-pixel outputs (labels, confidence, class scores, 20 feature scalars, "
                                 "depth, core mask) are held until written; the cube itself is streamed in blocks"}
        print(json.dumps(res["memory"], indent=1), flush=True)

    if "dask" not in skip and "session" not in skip:
        print("dask ...", flush=True)
        res["dask"] = dask_identical(man, work / "session", work / "dask", model, threads)
        print(json.dumps(res["dask"], indent=1), flush=True)

    if "resume" not in skip:
        print("resume after kill ...", flush=True)
        res["resume_after_kill"] = resume_after_kill(man, work / "resume", model, args.trays)
        print(json.dumps(res["resume_after_kill"], indent=1), flush=True)

    res["machine"]["load_average_end"] = load()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
