"""Build hsimin's bundled sample tray from real USGS spectra: ``hsimin/samples/data/sample_tray.{hdr,img}``,
``sample_tray_truth.h5`` and ``sample_tray.json``.

    python scripts/make_sample_tray.py [--out hsimin/samples/data] [--seed 20260202]

What it plants (all random draws come from one ``numpy.random.default_rng(seed)``, so the output is the
same on every run and machine with the same library file):

Bands
    270 bands ``np.linspace(1000, 2500, 270)`` nm, FWHM 10 nm: a SWIR core scanner (Specim SWIR-like).
    Spectra come from ``hsimin.load_library('usgs_splib07', wavelengths=..., fwhm=...)``: each USGS spectrum is
    Gaussian-resampled from its spectrometer's native grid with the effective width sqrt(10² − FWHM_source²).
Layout (320 lines x 64 samples; 4.0 mm pixels)
    Four core sticks run along the lines: columns 3-14, 18-29, 33-44, 48-59 (12 px = 48 mm, NQ core),
    separated by 3-pixel tray dividers; 3-4 pixel tray walls left and right; 8 lines of tray end wall at the top
    and bottom. Floor and walls are USGS ``Plastic_HDPE GDS351 BlkSheet`` (black HDPE sheet), dividers
    ``Plastic_PETE GDS382 Black``, each with smooth brightness variation (x0.9-1.1).
Core
    Each stick is cut into intervals of 10-40 lines; after an interval a broken-core gap of 2-6 lines (tray
    floor showing) follows with probability 0.3. Each interval has one dominant mineral, drawn so that every
    tray mineral appears and neighbours differ, and one of that mineral's USGS samples (``TRAY_SPECTRA``).
    Every pixel of the interval is a linear mixture ``(1 − f) * dominant + f * second``, where the second
    mineral is a geological associate of the dominant one (e.g. chlorite with epidote or calcite) and
    ``f`` varies smoothly along the interval (a sine between 0 and ``fmax``, ``fmax`` 0.05-0.30) plus ±0.02
    per-pixel jitter, clipped to 0-0.30. Then:

    - brightness x0.6-1.2: a smooth along-stick factor, a per-interval factor, cylinder shading across the
      stick (x0.85 at the edges) and 3 % per-pixel jitter;
    - a continuum slope ``1 + s (λ − 1750 nm) / 750 nm`` with ``s`` in ±0.06 per interval;
    - stick borders: the outermost column on each side, and the line next to a gap or the tray end, is a mix
      of core (35-75 %) and tray floor (rounded core edges);
    - Gaussian noise with sigma = sqrt((mean reflectance / SNR)² + 0.001²), SNR 200-400 per interval (200 on
      the tray plastic).

    Reflectance is stored as uint16 ``round(10000 x reflectance)`` (clipped to 0-65535), BIL, with
    ``reflectance scale factor = 10000`` and the hsimin header keys ``hole id``, ``tray id``, ``depth from m``,
    ``depth to m``, ``pixel size mm``.
Truth
    ``sample_tray_truth.h5`` (``hsimin.save_map``): labels (H, W) int16, the dominant mineral's index into
    ``hsimin.samples.TRAY_MINERALS`` on every whole core pixel, -1 on tray, dividers, gaps and border pixels;
    ``extra``: ``core_fraction`` (1 core, 0 tray, between on borders), ``second_fraction`` (f) and
    ``second_label`` (index of the second mineral, -1 off core); provenance: seed, samples, intervals.
``sample_tray.json``
    The same plan as JSON (spectra, physical sample ids, every interval with its lines, minerals, fmax, slope,
    SNR) for readers without hsimin.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hsimin  # noqa: E402
from hsimin.core import MineralMap, ScanMeta  # noqa: E402
from hsimin.preprocess.resample import resample_library  # noqa: E402
from hsimin.samples import TRAY_MINERALS, TRAY_SPECTRA  # noqa: E402

SEED = 20260202
LINES, SAMPLES = 320, 64
WAVELENGTHS = np.linspace(1000.0, 2500.0, 270)
FWHM = np.full(270, 10.0)
SCALE = 10000
PIXEL_MM = 4.0
HOLE_ID, TRAY_ID, DEPTH_FROM = "HSIMIN-DEMO-01", "T001", 100.0
STICK_COLS = [(3, 15), (18, 30), (33, 45), (48, 60)]   # [start, stop) columns of the 4 sticks
DIVIDER_COLS = [(15, 18), (30, 33), (45, 48)]
CORE_LINES = (8, LINES - 8)                           # tray end walls above and below
FLOOR_SPECTRUM = "Plastic_HDPE_GDS351_BlkSheet"
DIVIDER_SPECTRUM = "Plastic_PETE_GDS382_Black"
ASSOCIATES = {
    "kaolinite": ("white_mica", "smectite"),
    "white_mica": ("kaolinite", "chlorite", "smectite"),
    "smectite": ("kaolinite", "white_mica", "calcite"),
    "chlorite": ("epidote", "calcite", "white_mica"),
    "epidote": ("chlorite", "calcite"),
    "calcite": ("chlorite", "dolomite", "epidote"),
    "dolomite": ("calcite", "talc"),
    "talc": ("serpentine", "dolomite"),
    "serpentine": ("talc", "chlorite"),
    "gypsum": ("calcite", "smectite"),
}


def tray_spectra() -> dict[str, np.ndarray]:
    """Scanner-band spectra of every tray spectrum (key: USGS name) and the two plastics."""
    lib = hsimin.load_library("usgs_splib07", wavelengths=WAVELENGTHS, fwhm=FWHM)
    out = {}
    for mineral, name, instrument, sample in TRAY_SPECTRA:
        rows = [i for i in range(len(lib)) if lib.names[i] == name and lib.attrs["instrument"][i] == instrument]
        if len(rows) != 1:
            raise SystemExit(f"{name} ({instrument}): {len(rows)} matches in usgs_splib07")
        i = rows[0]
        if lib.minerals[i] != mineral or lib.sample_ids[i] != sample:
            raise SystemExit(f"{name}: library says {lib.minerals[i]}/{lib.sample_ids[i]}, plan says "
                             f"{mineral}/{sample}")
        s = np.asarray(lib.spectra[i], dtype=np.float64)
        if not np.isfinite(s).all():
            raise SystemExit(f"{name} has NaN on the scanner bands")
        out[name] = s
    art = hsimin.load_library("usgs_artefacts")
    art = resample_library(art, WAVELENGTHS, FWHM, source_fwhm=art.fwhm)
    for name in (FLOOR_SPECTRUM, DIVIDER_SPECTRUM):
        s = art.spectra[art.names.index(name)]
        if not np.isfinite(s).all():
            raise SystemExit(f"{name} has NaN on the scanner bands")
        out[name] = np.asarray(s, dtype=np.float64)
    return out


def plan_intervals(rng: np.random.Generator) -> list[dict]:
    """Intervals and gaps of the four sticks, with their minerals and parameters."""
    by_mineral: dict[str, list[tuple[str, str]]] = {}
    for mineral, name, _, sample in TRAY_SPECTRA:
        by_mineral.setdefault(mineral, []).append((name, sample))
    queue: list[str] = []
    used = {m: 0 for m in TRAY_MINERALS}
    intervals = []
    for stick in range(len(STICK_COLS)):
        pos, end = CORE_LINES
        while pos < end:
            length = int(rng.integers(10, 41))
            if end - pos - length < 10:        # never leave a sliver too short to be an interval
                length = end - pos
            if not queue:
                queue = list(rng.permutation(TRAY_MINERALS))
            prev = intervals[-1]["mineral"] if intervals and intervals[-1]["stick"] == stick else None
            k = next((j for j, m in enumerate(queue) if m != prev), 0)
            mineral = str(queue.pop(k))
            name, sample = by_mineral[mineral][used[mineral] % len(by_mineral[mineral])]
            used[mineral] += 1
            second = str(rng.choice(ASSOCIATES[mineral]))
            second_name, _ = by_mineral[second][int(rng.integers(len(by_mineral[second])))]
            intervals.append({
                "stick": stick, "line0": pos, "line1": pos + length, "mineral": mineral, "spectrum": name,
                "sample_id": sample, "second_mineral": second, "second_spectrum": second_name,
                "fmax": round(float(rng.uniform(0.05, 0.30)), 3),
                "f_period_lines": round(float(rng.uniform(15, 60)), 1),
                "f_phase": round(float(rng.uniform(0, 2 * np.pi)), 3),
                "brightness": round(float(rng.uniform(0.8, 1.05)), 3),
                "slope": round(float(rng.uniform(-0.06, 0.06)), 4),
                "snr": round(float(rng.uniform(200, 400)), 1),
            })
            pos += length
            if pos < end - 14 and rng.random() < 0.3:
                pos += int(rng.integers(2, 7))          # broken-core gap: tray floor shows
    return intervals


def build(seed: int = SEED):
    """(reflectance (H, W, B) float64, MineralMap truth, plan dict)."""
    rng = np.random.default_rng(seed)
    spec = tray_spectra()
    H, W, B = LINES, SAMPLES, WAVELENGTHS.size
    lines = np.arange(H)[:, None]

    # --- tray: floor and walls, dividers
    floor_b = 1.0 + 0.1 * np.sin(2 * np.pi * (lines / 140.0 + rng.uniform())) * np.ones((1, W))
    floor_b = floor_b * (1 + 0.02 * rng.standard_normal((H, W)))
    tray = floor_b[..., None] * spec[FLOOR_SPECTRUM]
    for c0, c1 in DIVIDER_COLS:
        db = 1.0 + 0.08 * np.sin(2 * np.pi * (np.arange(H) / 90.0 + rng.uniform()))
        tray[:, c0:c1] = (db[:, None, None] * (1 + 0.02 * rng.standard_normal((H, c1 - c0, 1)))
                          * spec[DIVIDER_SPECTRUM])
    refl = tray.copy()
    snr = np.full((H, W), 200.0)
    labels = np.full((H, W), -1, np.int16)
    core_frac = np.zeros((H, W), np.float32)
    second_frac = np.full((H, W), np.nan, np.float32)
    second_lab = np.full((H, W), -1, np.float32)
    cls = {m: i for i, m in enumerate(TRAY_MINERALS)}

    intervals = plan_intervals(rng)
    slope_axis = (WAVELENGTHS - 1750.0) / 750.0
    along = {s: 1.0 + 0.08 * np.sin(2 * np.pi * (np.arange(H) / rng.uniform(120, 260) + rng.uniform()))
             for s in range(len(STICK_COLS))}
    for iv in intervals:
        c0, c1 = STICK_COLS[iv["stick"]]
        r0, r1 = iv["line0"], iv["line1"]
        h, w = r1 - r0, c1 - c0
        t = np.arange(h)[:, None]
        f = iv["fmax"] * (0.5 + 0.5 * np.sin(2 * np.pi * t / iv["f_period_lines"] + iv["f_phase"]))
        f = np.clip(f + 0.02 * rng.standard_normal((h, w)), 0.0, 0.30)
        x = (np.arange(w) + 0.5 - w / 2) / (w / 2)                       # -1..1 across the stick
        shade = 0.85 + 0.15 * np.sqrt(np.clip(1 - x ** 2, 0, 1))
        bright = (along[iv["stick"]][r0:r1, None] * iv["brightness"] * shade[None, :]
                  * (1 + 0.03 * rng.standard_normal((h, w))))
        bright = np.clip(bright, 0.6, 1.2)
        dom, sec = spec[iv["spectrum"]], spec[iv["second_spectrum"]]
        core = ((1 - f)[..., None] * dom + f[..., None] * sec) * bright[..., None]
        core *= 1.0 + iv["slope"] * slope_axis
        cover = np.ones((h, w))
        cover[:, 0] = rng.uniform(0.35, 0.75, h)                          # rounded stick borders
        cover[:, -1] = rng.uniform(0.35, 0.75, h)
        above_gap = r0 == CORE_LINES[0] or not any(o["stick"] == iv["stick"] and o["line1"] == r0
                                                   for o in intervals)
        below_gap = r1 == CORE_LINES[1] or not any(o["stick"] == iv["stick"] and o["line0"] == r1
                                                   for o in intervals)
        if above_gap:
            cover[0, :] = np.minimum(cover[0, :], rng.uniform(0.35, 0.75, w))
        if below_gap:
            cover[-1, :] = np.minimum(cover[-1, :], rng.uniform(0.35, 0.75, w))
        refl[r0:r1, c0:c1] = cover[..., None] * core + (1 - cover[..., None]) * tray[r0:r1, c0:c1]
        snr[r0:r1, c0:c1] = iv["snr"]
        whole = cover >= 1.0
        labels[r0:r1, c0:c1] = np.where(whole, cls[iv["mineral"]], -1)
        core_frac[r0:r1, c0:c1] = cover
        second_frac[r0:r1, c0:c1] = f
        second_lab[r0:r1, c0:c1] = cls[iv["second_mineral"]]

    sigma = np.sqrt((refl.mean(axis=-1) / snr) ** 2 + 0.001 ** 2)
    refl = refl + sigma[..., None] * rng.standard_normal(refl.shape)

    depth_to = round(DEPTH_FROM + len(STICK_COLS) * (CORE_LINES[1] - CORE_LINES[0]) * PIXEL_MM / 1000.0, 3)
    meta = ScanMeta(hole_id=HOLE_ID, tray_id=TRAY_ID, depth_from_m=DEPTH_FROM, depth_to_m=depth_to,
                    sensor="hsimin sample tray: real USGS splib07 spectra on a SWIR core-scanner band set",
                    pixel_size_mm=PIXEL_MM, source="scripts/make_sample_tray.py")
    plan = {
        "seed": seed, "shape": [H, W, B], "wavelengths_nm": "np.linspace(1000, 2500, 270)", "fwhm_nm": 10.0,
        "reflectance_scale_factor": SCALE, "pixel_size_mm": PIXEL_MM,
        "hole_id": HOLE_ID, "tray_id": TRAY_ID, "depth_from_m": DEPTH_FROM, "depth_to_m": depth_to,
        "classes": list(TRAY_MINERALS),
        "tray_spectra": [{"mineral": m, "usgs_name": n, "instrument": i, "sample_id": s} for m, n, i, s in TRAY_SPECTRA],
        "tray_sample_ids": sorted({s for _, _, _, s in TRAY_SPECTRA}),
        "background": {"floor_and_walls": FLOOR_SPECTRUM, "dividers": DIVIDER_SPECTRUM},
        "stick_columns": [list(c) for c in STICK_COLS], "divider_columns": [list(c) for c in DIVIDER_COLS],
        "core_lines": list(CORE_LINES), "intervals": intervals,
        "source_library": "usgs_splib07 (USGS splib07a chapter M, DS1035, doi:10.3133/ds1035) and usgs_artefacts",
    }
    truth = MineralMap(labels=labels, classes=list(TRAY_MINERALS), meta=meta,
                       produced_by=f"scripts/make_sample_tray.py seed {seed} (planted truth)",
                       extra={"core_fraction": core_frac, "second_fraction": second_frac,
                              "second_label": second_lab},
                       provenance={"tray_sample_ids": plan["tray_sample_ids"],
                                   "tray_spectra": plan["tray_spectra"], "seed": seed,
                                   "intervals": intervals, "background": plan["background"]})
    return refl, truth, plan


def write(out_dir: Path, seed: int = SEED) -> None:
    import spectral.io.envi as envi
    refl, truth, plan = build(seed)
    dn = np.clip(np.rint(refl * SCALE), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    md = {
        "description": ("hsimin sample tray: real USGS splib07 mineral spectra (public domain, DS1035) resampled to "
                        "a SWIR core-scanner band set and laid out as 4 core sticks in a black plastic tray; made "
                        f"by scripts/make_sample_tray.py (seed {seed}); truth in sample_tray_truth.h5"),
        "sensor type": truth.meta.sensor,
        "wavelength units": "Nanometers",
        "wavelength": [f"{w:.4f}" for w in WAVELENGTHS],
        "fwhm": [f"{w:.4f}" for w in FWHM],
        "reflectance scale factor": SCALE,
        "hole id": HOLE_ID, "tray id": TRAY_ID,
        "depth from m": f"{plan['depth_from_m']:.3f}", "depth to m": f"{plan['depth_to_m']:.3f}",
        "pixel size mm": f"{PIXEL_MM:.2f}",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".make_sample_tray.") as tmp:
        tmp = Path(tmp)
        envi.save_image(str(tmp / "sample_tray.hdr"), dn, dtype=np.uint16, interleave="bil", byteorder=0,
                        metadata=md, force=True, ext=".img")
        hsimin.save_map(truth, tmp / "sample_tray_truth.h5", overwrite=True)
        (tmp / "sample_tray.json").write_text(json.dumps(plan, indent=1) + "\n")
        # data before header, header last: the header is what makes the cube visible
        for name in ("sample_tray.img", "sample_tray_truth.h5", "sample_tray.json", "sample_tray.hdr"):
            shutil.move(str(tmp / name), str(out_dir / name))
    n_core = int((truth.labels >= 0).sum())
    print(f"wrote {out_dir / 'sample_tray.hdr'}: {dn.shape} uint16, {n_core} labelled core pixels, "
          f"{len(plan['intervals'])} intervals of {len(TRAY_MINERALS)} minerals from "
          f"{len(plan['tray_sample_ids'])} USGS samples")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "hsimin" / "samples" / "data")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args(argv)
    write(a.out, a.seed)


if __name__ == "__main__":
    main()
