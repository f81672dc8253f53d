"""Session products: what a geologist reads in the morning (the logs and mosaics are drawn by
:mod:`hsimin.batch.logs`; this module writes them per hole, the comparisons with TSA and the HTML report).

Per hole, in ``OUT/<hole>/``:

* ``downhole_log.csv``: one row per depth interval (``interval_m``, default 1 m, aligned on multiples of it):
  ``depth_from_m``, ``depth_to_m``, ``core_pixels`` (registered core pixels in the interval), then one column per
  mineral present in the hole (abundance: the fraction of the interval's core pixels classified as that
  mineral; minerals in order of abundance over the hole), then feature means: ``mean_<scalar>`` over the core
  pixels where the feature exists (e.g. ``mean_f2200_wavelength_nm``, the Al-OH position), and composition
  scalars of one mineral, ``mean_f2200_wavelength_nm_white_mica`` (white-mica composition: ~2195 nm
  paragonitic/muscovitic, ~2215 nm phengitic) and ``mean_f2250_wavelength_nm_chlorite`` /
  ``mean_f2330_wavelength_nm_chlorite`` (Fe-Mg chlorite). Empty cells: no core in the interval;
* ``downhole_log.png``: the strip log: depth down, a dominant-mineral column, one abundance track per mineral
  (the twelve most abundant) and the composition tracks, like the log screens of core-logging software;
* ``mosaic.png``: every tray of the hole in depth order, false colour beside the mineral map, with the legend.

Per TSG package whose table holds TSA's answers, in ``OUT/<hole>/<tray>_vs_tsa/``: the side-by-side comparison
with TSA (:func:`hsimin.io.comparison.write_comparison`: ``agreement.json``, ``spectra.csv``, ``confusion.png``,
``strip_log.png`` with hsimin's and TSA's columns down the hole).

For the session, ``OUT/report.html``: the run (classifier, config hash, versions, times), a summary table of
every tray (status, depths, core fraction, main minerals, QA flags, links to its files), failed trays with their
errors, and per hole the mosaic, the strip log, the CSV and, for TSG packages, the agreement with TSA.

Products are computed from the trays' HDF5 outputs (labels, core mask, pixel depths, feature scalars and
thumbnails), never from the cubes, so they are rewritten on every run in seconds, for skipped trays too, and a
new ``--interval-m`` needs no re-processing. All files are written atomically.
"""
from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..io.writers import write_text
from .logs import (COMPOSITION_SCALARS, HoleLog, LogAccumulator, TrayData, hole_log, log_edges, read_tray_data,
                   write_hole_log_csv, write_mosaic_png, write_strip_log_png)
from .session import Session, output_dir_for

# the logs' names are re-exported: products is where a user looks for everything a session writes
__all__ = ["COMPOSITION_SCALARS", "HoleLog", "TrayData", "compare_with_tsa", "hole_log", "read_tray_data",
           "write_hole_log_csv", "write_mosaic_png", "write_report_html", "write_session_products",
           "write_strip_log_png"]


# --------------------------------------------------------------------------------------------- report

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.85em;margin:0.6em 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
.done{color:#176a1f}.skipped{color:#3d5a80}.failed{color:#b00020;font-weight:bold}
.pending,.interrupted{color:#a0522d}.flag{background:#fff3cd;border-radius:3px;padding:0 4px;margin-right:3px}
img{max-width:100%;border:1px solid #ddd}.meta td:first-child{font-weight:bold}
.logs{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _href(out: Path, path) -> str:
    try:
        rel = Path(path).resolve().relative_to(out.resolve())
    except (ValueError, OSError, TypeError):
        return ""
    return quote(rel.as_posix())


def _fmt_depth(a, b) -> str:
    return f"{a:.2f}-{b:.2f}" if a is not None and b is not None else "-"


def write_report_html(out, session: Session, run: dict, holes: dict[str, dict]) -> Path:
    """``OUT/report.html`` from run.json's content and the per-hole products (see the module docstring)."""
    out = Path(out)
    trays = run.get("trays", [])
    summary = run.get("summary", {})
    clf = run.get("classifier") or {}
    if clf.get("kind") == "model":
        clf_text = f"model {Path(str(clf.get('path', ''))).name} (weights sha256 {str(clf.get('model_hash'))[:16]}...)"
    else:
        clf_text = f"library {clf.get('library')} ({clf.get('method')}" + \
            (", with tray artefact spectra" if clf.get("artefacts") else "") + ")"
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>hsimin batch report: {_e(Path(session.source).name)}</title><style>{_CSS}</style></head><body>",
             "<h1>hsimin batch report</h1>",
             "<table class='meta'>",
             f"<tr><td>session</td><td>{_e(session.source)} ({_e(session.kind)}, {len(trays)} trays, "
             f"{len(session.holes())} holes)</td></tr>",
             f"<tr><td>classifier</td><td>{_e(clf_text)}</td></tr>",
             f"<tr><td>config hash</td><td><code>{_e(run.get('config_hash'))}</code></td></tr>",
             f"<tr><td>hsimin</td><td>{_e((run.get('versions') or {}).get('hsimin'))}</td></tr>",
             f"<tr><td>started</td><td>{_e(run.get('started'))}</td></tr>",
             "<tr><td>trays</td><td>" + ", ".join(f"{_e(v)} {_e(k)}" for k, v in sorted(summary.items()))
             + "</td></tr>",
             "<tr><td>run file</td><td><a href='run.json'>run.json</a></td></tr>", "</table>"]
    failed = [t for t in trays if t.get("status") == "failed"]
    if failed:
        parts.append("<h2>Failed trays</h2><table><tr><th>hole</th><th>tray</th><th>source</th><th>error</th></tr>")
        for t in failed:
            parts.append(f"<tr><td>{_e(t.get('hole_id'))}</td><td>{_e(t.get('tray_id'))}</td>"
                         f"<td>{_e(t.get('source'))}</td><td>{_e(t.get('error'))}</td></tr>")
        parts.append("</table>")
    flagged = [t for t in trays if (t.get("qa") or {}).get("flags")]
    if flagged:
        parts.append("<h2>QA flags</h2><ul>")
        for t in flagged:
            parts.append(f"<li>{_e(t.get('hole_id'))} / {_e(t.get('tray_id'))}: "
                         + " ".join(f"<span class='flag'>{_e(f)}</span>" for f in t['qa']['flags']) + "</li>")
        parts.append("</ul><p>low-signal: little core or a dark scan (lamps, exposure, lid); saturated: "
                     "over-exposed pixels; invalid-pixels: pixels without data; low-confidence: the classifier is "
                     "unsure of much of the core; no-core: no core stick found; no-depth: no depth range.</p>")
    by_hole: dict[str, list[dict]] = {}
    for t in trays:
        by_hole.setdefault(str(t.get("hole_id")), []).append(t)
    for hole, items in by_hole.items():
        info = holes.get(hole, {})
        parts.append(f"<h2 id='{_e(quote(hole))}'>Hole {_e(hole)}</h2>")
        parts.append("<table><tr><th>tray</th><th>depth (m)</th><th>status</th><th class='num'>s</th>"
                     "<th class='num'>core %</th><th>main minerals</th><th>QA</th><th>files</th></tr>")
        for t in sorted(items, key=lambda t: (t.get("depth_from_m") is None, t.get("depth_from_m") or 0.0)):
            qa = t.get("qa") or {}
            cp = t.get("class_pixels") or info.get("class_pixels", {}).get(t.get("tray_id")) or {}
            tot = sum(cp.values()) or 1
            top = ", ".join(f"{_e(k)} {100 * v / tot:.0f}%" for k, v in sorted(cp.items(), key=lambda kv: -kv[1])[:4])
            links = []
            outs = t.get("outputs") or info.get("outputs", {}).get(t.get("tray_id")) or {}
            for label, key in (("map", "png"), ("h5", "h5"), ("ENVI", "envi")):
                if outs.get(key) and t.get("status") in ("done", "skipped"):
                    href = _href(out, outs[key])
                    if href:
                        links.append(f"<a href='{_e(href)}'>{label}</a>")
            core = qa.get("core_fraction")
            secs = t.get("seconds")
            parts.append(
                f"<tr><td>{_e(t.get('tray_id'))}</td><td>{_fmt_depth(t.get('depth_from_m'), t.get('depth_to_m'))}</td>"
                f"<td class='{_e(t.get('status'))}'>{_e(t.get('status'))}</td>"
                f"<td class='num'>{'' if secs is None else f'{secs:.1f}'}</td>"
                f"<td class='num'>{'' if core is None else f'{100 * core:.0f}'}</td><td>{top}</td>"
                f"<td>{' '.join(f'<span class=flag>{_e(f)}</span>' for f in qa.get('flags', []))}</td>"
                f"<td>{' '.join(links)}</td></tr>")
        parts.append("</table>")
        if info.get("log_csv"):
            parts.append(f"<p>Down-hole log ({_e(info.get('interval_m'))} m intervals): "
                         f"<a href='{_e(_href(out, info['log_csv']))}'>CSV</a></p>")
        parts.append("<div class='logs'>")
        if info.get("log_png"):
            parts.append(f"<div><img src='{_e(_href(out, info['log_png']))}' alt='strip log of {_e(hole)}'></div>")
        if info.get("mosaic_png"):
            parts.append(f"<div><img src='{_e(_href(out, info['mosaic_png']))}' alt='tray mosaic of {_e(hole)}'>"
                         "</div>")
        parts.append("</div>")
        for tray_id, cmp in (info.get("tsa") or {}).items():
            parts.append(f"<h3>{_e(tray_id)} beside TSA</h3><p>{_e(cmp['line'])} "
                         f"(<a href='{_e(_href(out, cmp['json']))}'>figures</a>, "
                         f"<a href='{_e(_href(out, cmp['csv']))}'>per spectrum</a>)</p><div class='logs'>"
                         f"<div><img src='{_e(_href(out, cmp['strip_log']))}' alt='hsimin beside TSA'></div>"
                         f"<div><img src='{_e(_href(out, cmp['confusion']))}' alt='confusion matrix'></div></div>")
        if info.get("note"):
            parts.append(f"<p>{_e(info['note'])}</p>")
    parts.append("<p style='color:#777;font-size:0.8em'>Written by hsimin. Abundance = fraction of the registered "
                 "core pixels of an interval; tray artefacts (plastic, wood...), aspectral and unknown pixels are not "
                 "core.</p></body></html>")
    return write_text(out / "report.html", "\n".join(parts), overwrite=True)


def write_session_products(out, session: Session, run: dict, *, interval_m: float = 1.0) -> Path:
    """Per-hole log CSV, strip log and mosaic for the trays that are done or skipped, then the report.
    Returns the report's path.

    Trays are read one at a time; a hole costs its interval sums and the trays' thumbnails in memory."""
    from .tray_files import read_tray_record

    out = Path(out)
    status = {t.get("key"): t for t in run.get("trays", [])}
    holes: dict[str, dict] = {}
    for hole, jobs in session.holes().items():
        info: dict = {"interval_m": interval_m}
        holes[hole] = info
        ok = [j for j in jobs if status.get(j.key, {}).get("status") in ("done", "skipped")]
        if not ok:
            info["note"] = "No tray of this hole was processed successfully."
            continue
        paths = [output_dir_for(out, j.hole_id) / f"{j.stem}.h5" for j in ok]
        records = [read_tray_record(p) or {} for p in paths]
        order = sorted(range(len(ok)), key=lambda i: (records[i].get("depth_from_m") is None,
                                                      records[i].get("depth_from_m") or 0.0, ok[i].index))
        edges = log_edges(((r.get("depth_from_m"), r.get("depth_to_m")) for r in records), interval_m)
        acc = LogAccumulator(hole, edges, interval_m) if edges is not None else None
        thumbs = []
        for i in order:
            j, h5 = ok[i], paths[i]
            t = read_tray_data(h5, features=acc is not None)
            if acc is not None:
                acc.add(t)
            info.setdefault("class_pixels", {})[j.tray_id] = _class_pixels(t)
            cmp = compare_with_tsa(h5, output_dir_for(out, j.hole_id) / f"{j.stem}_vs_tsa", title=f"{hole} {j.tray_id}")
            if cmp is not None:
                info.setdefault("tsa", {})[j.tray_id] = cmp
            info.setdefault("outputs", {})[j.tray_id] = {"png": str(h5.with_suffix(".png")), "h5": str(h5),
                                                          "envi": str(h5.with_suffix(".hdr"))}
            s = max(1, t.thumb_step)
            thumbs.append(TrayData(t.hole_id, t.tray_id, t.depth_from_m, t.depth_to_m, t.classes,
                                   t.labels[::s, ::s].copy(), t.core[::s, ::s].copy(), t.depth[::s, ::s].copy(),
                                   rgb=t.rgb, thumb_step=1, qa=t.qa))
            del t
        folder = output_dir_for(out, hole)
        if acc is not None:
            log = acc.result()
            info["log_csv"] = str(write_hole_log_csv(log, folder / "downhole_log.csv"))
            info["log_png"] = str(write_strip_log_png(log, folder / "downhole_log.png", title=f"{hole}"))
        else:
            info["note"] = "No depths for this hole's trays (give depth_from_m/depth_to_m in a manifest): no log."
        info["mosaic_png"] = str(write_mosaic_png(thumbs, folder / "mosaic.png", title=f"{hole}"))
    for t in run.get("trays", []):
        if not t.get("class_pixels"):
            cp = holes.get(str(t.get("hole_id")), {}).get("class_pixels", {}).get(t.get("tray_id"))
            if cp:
                t["class_pixels"] = cp
    return write_report_html(out, session, run, holes)


def compare_with_tsa(h5_path, folder, *, title: str | None = None) -> dict | None:
    """The side-by-side comparison of a tray's map with the TSA answers its table carries (a TSG package), written
    into ``folder``; None when the map has no TSA answers. Returns the agreement line and the products' paths."""
    from ..classical.agreement import compare_map
    from ..core.errors import HsiminError
    from ..io import open_map
    from ..io.comparison import write_comparison
    from ..io.tsg import tsa_results
    mm = open_map(h5_path)
    if mm.table is None or tsa_results(mm.table, "swir") is None:
        return None
    try:
        agreement = compare_map(mm, mm.table, run="swir")
    except HsiminError:
        return None
    paths = write_comparison(agreement, folder, title=f"{title}: {agreement.line()}" if title else None,
                             extra={"map": str(h5_path), "produced_by": mm.produced_by})
    return {"line": agreement.line(), "summary": agreement.summary(), "json": str(paths["agreement.json"]),
            "csv": str(paths["spectra.csv"]), "strip_log": str(paths["strip_log.png"]),
            "confusion": str(paths["confusion.png"])}


def _class_pixels(t: TrayData) -> dict[str, int]:
    lab = t.labels[t.core]
    cnt = np.bincount(lab[lab >= 0].astype(np.int64), minlength=len(t.classes))
    return {t.classes[i]: int(c) for i, c in enumerate(cnt) if c}
