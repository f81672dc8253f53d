"""`make demo`: hsimin's main job, a night in the core shed, on the bundled real-spectra sample tray.

1. Build a small scanning session in ``OUT/session/``: six trays of two holes, made from the bundled sample tray
   (real USGS spectra laid out as four core sticks in a black plastic tray) by reordering and reversing its
   sticks, written as ENVI cubes with a manifest CSV giving each tray's hole, depths and file.
2. Run ``hsimin batch`` on it with the shipped model (``--model default``), writing per tray a mineral map
   (HDF5, ENVI Classification, PNG), per hole a down-hole log (CSV and strip-log PNG) and a tray mosaic, and the
   session's ``report.html`` and ``run.json``.
3. Print where the report is, the top of one down-hole log, and how well the maps agree with the sample tray's
   truth (carried through the same reordering).
4. Real scanner data: run ``hsimin batch`` on a real HyLogger chip hole (SWMB007d, a bundled CSIRO TSG package)
   with its defaults (the interpretation workflow), and print its agreement with TSG's own interpretation (TSA)
   and the path of the side-by-side strip log (hsimin's and TSA's answers down the hole).

Every hsimin step is a real command, printed before it runs. Outputs go to ``--out`` (default ``demo_out/``),
replaced on each run.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The sample tray's core sticks (columns) and the six trays made from it: (hole, tray, from, to, stick order,
# reversed along the lines). The sample spans 100.000-104.864 m (4 sticks x 304 lines x 4 mm).
STICKS = ((3, 15), (18, 30), (33, 45), (48, 60))
TRAY_M = 4.864
TRAYS = (
    ("DDH-DEMO-01", "T001", (0, 1, 2, 3), False),
    ("DDH-DEMO-01", "T002", (2, 3, 0, 1), False),
    ("DDH-DEMO-01", "T003", (1, 0, 3, 2), True),
    ("DDH-DEMO-01", "T004", (3, 2, 1, 0), False),
    ("DDH-DEMO-02", "T001", (1, 2, 3, 0), True),
    ("DDH-DEMO-02", "T002", (0, 2, 1, 3), False),
)
START_M = {"DDH-DEMO-01": 100.0, "DDH-DEMO-02": 250.0}


def run(*args: str) -> int:
    print("$ hsimin " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "hsimin", *args]).returncode


def rearrange(a: np.ndarray, order, reverse: bool, axis_samples: int) -> np.ndarray:
    """Put the sticks of ``a`` (columns on ``axis_samples``) in ``order``, each reversed along the lines if asked;
    the tray walls and dividers stay where they are."""
    out = a.copy()
    for dst, src in zip(STICKS, order):
        s0, s1 = STICKS[src]
        part = np.take(a, range(s0, s1), axis=axis_samples)
        if reverse:
            part = np.flip(part, axis=0)
        idx = [slice(None)] * a.ndim
        idx[axis_samples] = slice(dst[0], dst[1])
        out[tuple(idx)] = part
    return out


def build_session(folder: Path) -> tuple[Path, dict]:
    """Six ENVI trays and a manifest; returns (manifest, {(hole, tray): truth labels})."""
    import hsimin
    from hsimin import samples

    hdr = samples.tray_path()
    text = hdr.read_text()
    raw = np.fromfile(hdr.with_suffix(".img"), dtype="<u2").reshape(320, 270, 64)  # BIL: lines, bands, samples
    truth = hsimin.open_map(samples.truth_path())
    folder.mkdir(parents=True)
    rows, truths = [], {}
    depth = dict(START_M)
    for hole, tray, order, reverse in TRAYS:
        name = f"{hole}_{tray}"
        cube = rearrange(raw, order, reverse, axis_samples=2)
        (folder / f"{name}.img").write_bytes(cube.astype("<u2").tobytes())
        header = text.replace("HSIMIN-DEMO-01", hole).replace("tray id = T001", f"tray id = {tray}")
        (folder / f"{name}.hdr").write_text(header)
        names = truth.names()
        truths[(hole, tray)] = rearrange(names, order, reverse, axis_samples=1)
        d0 = depth[hole]
        rows.append({"hole_id": hole, "tray_id": tray, "depth_from_m": f"{d0:.3f}",
                     "depth_to_m": f"{d0 + TRAY_M:.3f}", "path": f"{name}.hdr"})
        depth[hole] = d0 + TRAY_M
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest, truths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="output folder (replaced)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    print("Building a session of 6 trays (2 holes) from the bundled real-spectra sample tray ...", flush=True)
    manifest, truths = build_session(out / "session")
    print(f"  {manifest}\n", flush=True)
    run("info", str(out / "session" / "DDH-DEMO-01_T001.hdr"))
    print(flush=True)

    classifier = ["--model", "default"]
    try:
        from hsimin.models import default_model_path
        default_model_path()
    except Exception as exc:  # noqa: BLE001 - no shipped model in this build: identify against the library
        print(f"(no shipped model here: {exc}; identifying against the USGS library instead)\n", flush=True)
        classifier = ["--library", "usgs_splib07"]
    batch = out / "batch"
    rc = run("batch", str(manifest), "-o", str(batch), *classifier, "--interval-m", "0.5")
    if rc not in (0, 1):
        return rc

    import hsimin
    print()
    agree = []
    for (hole, tray), want in truths.items():
        from hsimin.batch.session import output_dir_for, safe_name
        got = hsimin.open_map(output_dir_for(batch, hole) / f"{safe_name(tray)}.h5").names()
        has = want != ""
        agree.append((int(np.sum(got[has] == want[has])), int(has.sum())))
    right, total = map(sum, zip(*agree))
    honest = ("the tray's USGS samples were held out of the model's training" if classifier[0] == "--model" else
              "the library holds the very spectra the tray is made of, so this is an upper bound")
    print(f"Maps vs the sample tray's truth: {100 * right / total:.1f} % of {total} labelled core pixels agree "
          f"(real USGS spectra in a simulated tray; {honest})")
    log = batch / "DDH-DEMO-01" / "downhole_log.csv"
    if log.exists():
        lines = log.read_text().splitlines()
        cols = lines[0].split(",")
        show = [i for i, c in enumerate(cols) if i < 8]
        print(f"\nDown-hole log {log} ({len(lines) - 1} intervals of 0.5 m), first rows:")
        for ln in lines[:5]:
            cells = ln.split(",")
            print("  " + "  ".join(f"{cells[i]:>10}" for i in show))
    print(f"\nReport: {(batch / 'report.html').resolve()}")

    # real scanner spectra: a HyLogger chip hole, as a geologist would run it (the bare command)
    from hsimin.samples import hylogger_path
    hole = out / "hylogger"
    shutil.copytree(hylogger_path("SWMB007d").parent, hole / "SWMB007d")
    print(f"\nA real HyLogger-3 chip hole (SWMB007d, CSIRO TSG package, {len(list((hole / 'SWMB007d').iterdir()))} "
          "files) through the same batch, with its defaults:", flush=True)
    real = out / "hylogger_batch"
    rc2 = run("batch", str(hole), "-o", str(real))
    if rc2 not in (0, 1):
        return rc2
    import json
    for cmp in sorted(real.rglob("agreement.json")):
        doc = json.loads(cmp.read_text())
        print(f"\nAgreement with TSA ({doc['tsa_run']}, by mineral group) on {doc['n']} spectra of SWMB007d: "
              f"{100 * doc['consistent']:.0f} % consistent (hsimin's answer is TSA's Min1 or its Min2), "
              f"{100 * doc['overall']:.0f} % the same as Min1, {100 * doc['strict']:.0f} % of TSA's "
              f"{doc['n_strict']} confident calls")
        print(f"Side-by-side strip log (TSA and hsimin down the hole): {(cmp.parent / 'strip_log.png').resolve()}")
    print(f"Report: {(real / 'report.html').resolve()}")
    print(f"Demo finished in {time.perf_counter() - t0:.0f} s; everything is in {out.resolve()}")
    return 0 if rc == 0 and rc2 == 0 else (rc or rc2)


if __name__ == "__main__":
    sys.exit(main())
