"""Session products: the down-hole log (exact abundances and feature means), strip log, mosaic, report."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from hsimin.batch.products import (TrayData, hole_log, write_hole_log_csv, write_mosaic_png, write_report_html,
                                   write_strip_log_png)
from hsimin.batch.session import Session, TrayJob


def _tray(tray_id, d0, d1, labels, classes=("kaolinite", "white_mica", "plastic"), f2200=None):
    labels = np.asarray(labels, np.int16)
    H, W = labels.shape
    core = labels >= 0
    core &= np.array([c != "plastic" for c in classes] + [False])[np.where(labels >= 0, labels, len(classes))]
    if d0 is None:
        depth = np.full((H, W), np.nan)
    else:
        depth = np.where(core, d0 + (np.arange(H)[:, None] + 0.5) / H * (d1 - d0), np.nan)
    feats = {}
    if f2200 is not None:
        feats["f2200_wavelength_nm"] = np.where(core, np.asarray(f2200, np.float32), np.nan).astype(np.float32)
    return TrayData("DDH1", tray_id, d0, d1, tuple(classes), labels, core, depth.astype(np.float32), feats,
                    rgb=np.full((H, W, 3), 128, np.uint8), thumb_step=1)


def test_log_abundances_and_feature_means_are_exact():
    # 10 lines over 100.0-101.0 m; interval 0.5 m -> lines 0-4 and 5-9
    lab = np.zeros((10, 4), int)
    lab[:5, :1] = 1          # top half: 1 of 4 columns white mica
    lab[5:, :] = 1           # bottom half: all white mica
    lab[:, 3] = 2            # one column of plastic (not core) everywhere
    f = np.full((10, 4), 2200.0)
    f[5:] = 2210.0
    log = hole_log([_tray("T1", 100.0, 101.0, lab, f2200=f)], interval_m=0.5)
    assert log.edges.tolist() == [100.0, 100.5, 101.0]
    assert log.core_pixels.tolist() == [15, 15]
    assert log.minerals == ["white_mica", "kaolinite"]  # most abundant first; plastic is not core
    np.testing.assert_allclose(log.abundance, [[5 / 15, 10 / 15], [1.0, 0.0]])
    np.testing.assert_allclose(log.features["mean_f2200_wavelength_nm"], [2200.0, 2210.0])
    np.testing.assert_allclose(log.features["mean_f2200_wavelength_nm_white_mica"], [2200.0, 2210.0])


def test_log_spans_all_trays_and_leaves_missing_intervals_empty(tmp_path):
    a = _tray("T1", 100.0, 101.5, np.zeros((6, 2), int))
    b = _tray("T3", 103.0, 104.5, np.ones((6, 2), int))
    log = hole_log([a, b], interval_m=0.5)
    assert log.edges[0] == 100.0 and log.edges[-1] == 104.5 and len(log.edges) == 10
    assert log.core_pixels[3:6].tolist() == [0, 0, 0]
    p = write_hole_log_csv(log, tmp_path / "log.csv")
    rows = list(csv.DictReader(open(p)))
    assert list(rows[0])[:3] == ["depth_from_m", "depth_to_m", "core_pixels"]
    assert {"kaolinite", "white_mica"} <= set(rows[0])
    assert rows[3]["kaolinite"] == "" and rows[0]["kaolinite"] == "1.0000"
    assert [float(r["depth_from_m"]) for r in rows][:3] == [100.0, 100.5, 101.0]


def test_log_intervals_align_on_multiples_and_trays_without_depth_are_ignored():
    a = _tray("T1", 20.3, 21.4, np.zeros((4, 2), int))
    nod = _tray("T2", None, None, np.zeros((4, 2), int))
    log = hole_log([a, nod], interval_m=1.0)
    assert log.edges.tolist() == [20.0, 21.0, 22.0]
    assert hole_log([nod], 1.0) is None


def test_pngs_are_written(tmp_path):
    lab = np.zeros((30, 8), int)
    lab[10:, :4] = 1
    trays = [_tray("T1", 1.0, 2.0, lab, f2200=np.full((30, 8), 2205.0)), _tray("T2", 2.0, 3.0, lab[::-1])]
    log = hole_log(trays, 0.25)
    from PIL import Image
    for p in (write_strip_log_png(log, tmp_path / "strip.png", title="DDH1"),
              write_mosaic_png(trays, tmp_path / "mosaic.png", title="DDH1")):
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
    assert not list(tmp_path.glob(".*part"))


def test_report_escapes_ids_and_links_outputs(tmp_path):
    evil = "<script>alert(1)</script>"
    job = TrayJob("DDH1", evil, "/data/x.hdr")
    s = Session("/data/m.csv", "manifest", (job, TrayJob("DDH2", "T9", "/data/y.hdr")))
    (tmp_path / "DDH1").mkdir()
    run = {"trays": [
        {"key": job.key, "hole_id": "DDH1", "tray_id": evil, "status": "done", "seconds": 1.0,
         "outputs": {"png": str(tmp_path / "DDH1" / f"{job.stem}.png")}, "qa": {"flags": ["saturated"]}},
        {"key": "DDH2/T9", "hole_id": "DDH2", "tray_id": "T9", "status": "failed", "error": "truncated <file>"}],
        "summary": {"done": 1, "failed": 1}, "classifier": {"kind": "library", "library": "usgs_splib07",
                                                             "method": "sam"}}
    p = write_report_html(tmp_path, s, run, {})
    text = p.read_text()
    assert text.lower().startswith("<!doctype html")
    assert evil not in text and "&lt;script&gt;" in text
    assert "truncated &lt;file&gt;" in text and "DDH2" in text and "T9" in text
    assert "saturated" in text
    assert "href='DDH1/" in text


def test_bad_interval_is_refused():
    with pytest.raises(ValueError):
        hole_log([_tray("T1", 0.0, 1.0, np.zeros((2, 2), int))], interval_m=0)
