"""One tray end to end (process_tray, in this process): outputs, accuracy on real spectra, streaming invariance,
raw Specim captures, failures and QA flags."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import hsimin
from hsimin import samples
from hsimin.batch.session import TrayJob
from hsimin.batch import BatchConfig, config_hash, process_tray
from hsimin.batch.tray_files import outputs_complete
from hsimin.io.hdf5 import read_arrays_hdf5

LIB = BatchConfig(library="usgs_splib07", threads=1)


def test_tray_outputs_depths_and_accuracy(tmp_path, make_tray):
    hdr = make_tray(tmp_path / "in" / "t.hdr", k=0, lines=48)  # sample lines 8-55, the first core lines
    job = TrayJob("DDH/7", "T01", str(hdr), 10.0, 10.768)
    r = process_tray(job, LIB, str(tmp_path / "out"))
    assert r["status"] == "done", r.get("error")
    json.dumps(r, allow_nan=False)  # JSON-able as it is (run.json)
    out = tmp_path / "out" / "DDH_7"
    assert sorted(p.name for p in out.iterdir()) == ["T01.h5", "T01.hdr", "T01.img", "T01.png"]
    mm = hsimin.open_map(out / "T01.h5")
    assert mm.labels.shape == (48, 64)
    assert mm.meta.hole_id == "DDH/7" and mm.meta.depth_from_m == 10.0
    # real USGS spectra of known minerals: library identification agrees with the truth on most core pixels
    truth = hsimin.open_map(samples.truth_path())
    t = truth.names()[8:56]
    has = t != ""
    agree = float(np.mean(mm.names()[has] == t[has]))
    assert agree > 0.85, agree
    # the tray floor is plastic, not a mineral, and not core
    depth = read_arrays_hdf5(out / "T01.h5", "depth")
    core = depth["core"].astype(bool)
    assert not np.any(core[:, 15:18]) and core[:, 3:15].mean() > 0.8
    d = depth["depth_m"]
    assert np.all(np.isnan(d[~core]))
    assert 10.0 < np.nanmin(d) < 10.01 and 10.758 < np.nanmax(d) < 10.768
    assert r["sticks"] == 4 and r["qa"]["flags"] == []
    feats = read_arrays_hdf5(out / "T01.h5", "features")
    wm = mm.names() == "white_mica"
    if wm.any():  # white mica's Al-OH feature sits near 2200 nm
        assert 2190 < np.nanmedian(feats["f2200_wavelength_nm"][wm & core]) < 2225
    env = hsimin.open_map(out / "T01.hdr")
    assert np.array_equal(env.labels, mm.labels)
    _, attrs = read_arrays_hdf5(out / "T01.h5", "tray", return_attrs=True)
    assert attrs["config_hash"] == config_hash(LIB) and attrs["fingerprint"] == r["fingerprint"]
    assert outputs_complete(job, tmp_path / "out", r["fingerprint"], config_hash(LIB)) is not None


def test_block_size_does_not_change_the_outputs(tmp_path, make_tray):
    hdr = make_tray(tmp_path / "t.hdr", k=2, lines=40)
    job = TrayJob("H", "T", str(hdr), 0.0, 1.0)
    a = process_tray(job, LIB, str(tmp_path / "a"))
    b = process_tray(job, dataclasses.replace(LIB, block_mb=1), str(tmp_path / "b"))  # 15-line blocks
    assert a["status"] == b["status"] == "done"
    ma, mb = hsimin.open_map(tmp_path / "a/H/T.h5"), hsimin.open_map(tmp_path / "b/H/T.h5")
    assert np.array_equal(ma.labels, mb.labels) and np.array_equal(ma.confidence, mb.confidence)
    fa, fb = (read_arrays_hdf5(tmp_path / f"{x}/H/T.h5", "features") for x in "ab")
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k])


def test_raw_specim_capture_is_calibrated(tmp_path, sample_raw, write_envi):
    raw, fields = sample_raw
    refl = raw[8:40].astype(np.float64) / 10000.0
    dark, white = 120.0, 3900.0
    dn = np.round(dark + refl * (white - dark)).astype(np.uint16)
    cap = tmp_path / "scan_T5" / "capture"
    cap.mkdir(parents=True)
    f = {k: v for k, v in fields.items() if k != "reflectance scale factor"}
    write_envi(cap / "T5.hdr", dn, fields=f, ext=".raw")
    write_envi(cap / "DARKREF_T5.hdr", np.full((4, 64, 270), dark, np.uint16), fields=f, ext=".raw")
    write_envi(cap / "WHITEREF_T5.hdr", np.full((4, 64, 270), white, np.uint16), fields=f, ext=".raw")
    hdr = tmp_path / "refl.hdr"
    write_envi(hdr, raw[8:40], fields=fields)
    r_raw = process_tray(TrayJob("H", "raw", str(tmp_path / "scan_T5")), LIB, str(tmp_path / "out"))
    r_ref = process_tray(TrayJob("H", "ref", str(hdr)), LIB, str(tmp_path / "out"))
    assert r_raw["status"] == "done", r_raw.get("error")
    assert r_raw["qa"]["calibrated_from_raw"] is True and r_ref["qa"]["calibrated_from_raw"] is False
    a, b = hsimin.open_map(tmp_path / "out/H/raw.h5"), hsimin.open_map(tmp_path / "out/H/ref.h5")
    assert np.mean(a.labels == b.labels) > 0.97  # calibration rounding aside, the same minerals
    assert "no-depth" in r_raw["qa"]["flags"]


def test_corrupt_and_missing_trays_fail_cleanly(tmp_path, make_tray):
    hdr = make_tray(tmp_path / "bad.hdr", lines=32)
    data = tmp_path / "bad.img"
    data.write_bytes(data.read_bytes()[:1000])
    r = process_tray(TrayJob("H", "bad", str(hdr)), LIB, str(tmp_path / "out"))
    assert r["status"] == "failed" and "bad.img" in r["error"] and "\n" not in r["error"]
    r2 = process_tray(TrayJob("H", "gone", str(tmp_path / "gone.hdr")), LIB, str(tmp_path / "out"))
    assert r2["status"] == "failed" and "no such file" in r2["error"]
    assert not (tmp_path / "out" / "H").exists() or not any((tmp_path / "out" / "H").iterdir())


def test_qa_flags_low_signal_and_saturated(tmp_path, sample_raw, write_envi):
    raw, fields = sample_raw
    dim = (raw[8:40].astype(np.float64) * 0.06).astype(np.uint16)  # a dark scan: core at ~4 %
    write_envi(tmp_path / "dim.hdr", dim, fields=fields)
    hot = raw[8:40].copy()
    hot[:, 3:15] = 11000  # one stick over-exposed: reflectance 1.1
    write_envi(tmp_path / "hot.hdr", hot, fields=fields)
    r_dim = process_tray(TrayJob("H", "dim", str(tmp_path / "dim.hdr"), 0, 1), LIB, str(tmp_path / "out"))
    r_hot = process_tray(TrayJob("H", "hot", str(tmp_path / "hot.hdr"), 0, 1), LIB, str(tmp_path / "out"))
    assert "low-signal" in r_dim["qa"]["flags"], r_dim["qa"]
    assert "saturated" in r_hot["qa"]["flags"] and r_hot["qa"]["saturated_fraction"] > 0.15
    assert r_hot["sticks"] == 3  # the saturated stick is not core


def test_config_rejects_bad_combinations():
    from hsimin.core.errors import ConfigError
    with pytest.raises(ConfigError, match="either a model"):
        BatchConfig()
    with pytest.raises(ConfigError, match="either a model"):
        BatchConfig(model="m.pt", library="usgs_splib07")
    with pytest.raises(ConfigError, match="its own preprocessing"):
        BatchConfig(model="m.pt", recipe={"steps": []})
    with pytest.raises(ConfigError, match="unknown method"):
        BatchConfig(library="usgs_splib07", method="magic")
    with pytest.raises(ConfigError, match="interval"):
        BatchConfig(library="usgs_splib07", interval_m=0)
    assert config_hash(LIB) == config_hash(BatchConfig(library="usgs_splib07", threads=2, interval_m=5))
    assert config_hash(LIB) != config_hash(BatchConfig(library="usgs_splib07", method="sid"))
    with pytest.raises(ConfigError, match="--model only"):
        BatchConfig(library="usgs_splib07", library_gate=False)
    assert config_hash(BatchConfig(model="m.pt")) != config_hash(BatchConfig(model="m.pt", library_gate=False))


# --------------------------------------------------------------------------------------------- models

def _save_model(path, backbone, patch_size, wavelengths):
    torch = pytest.importorskip("torch")
    from hsimin.models import create_model, save_model
    torch.manual_seed(3)
    model = create_model({"backbone": backbone, "in_bands": len(wavelengths), "num_outputs": 3,
                          "patch_size": patch_size})
    save_model(model, path, wavelengths=wavelengths, class_names=["kaolinite", "white_mica", "plastic"])
    return path


def test_pixel_model_runs_fused_and_blocks_do_not_matter(tmp_path, make_tray, sample_raw):
    wl = sample_raw[1]["wavelength"]
    ckpt = _save_model(tmp_path / "pix.pt", {"name": "cnn1d", "widths": [4, 8], "kernel_size": 3}, 1, wl)
    hdr = make_tray(tmp_path / "t.hdr", k=1, lines=40)
    cfg = BatchConfig(model=str(ckpt), threads=1)
    job = TrayJob("H", "T", str(hdr), 5.0, 5.6)
    a = process_tray(job, cfg, str(tmp_path / "a"))
    b = process_tray(job, dataclasses.replace(cfg, block_mb=1), str(tmp_path / "b"))
    assert a["status"] == b["status"] == "done", (a.get("error"), b.get("error"))
    ma, mb = hsimin.open_map(tmp_path / "a/H/T.h5"), hsimin.open_map(tmp_path / "b/H/T.h5")
    assert ma.classes == ("kaolinite", "white_mica", "plastic") and ma.scores.shape == (40, 64, 3)
    assert np.array_equal(ma.labels, mb.labels)
    np.testing.assert_array_equal(ma.scores, mb.scores)
    assert (tmp_path / "a/H/T.h5").read_bytes() == (tmp_path / "b/H/T.h5").read_bytes()
    assert "seconds" not in ma.provenance  # nothing volatile in the file


def test_patch_model_sees_the_whole_cube(tmp_path, make_tray, sample_raw):
    from hsimin.predict import predict_cube
    wl = sample_raw[1]["wavelength"]
    ckpt = _save_model(tmp_path / "patch.pt", {"name": "cnn2d", "reduce_to": 4, "widths": [8, 8]}, 5, wl)
    hdr = make_tray(tmp_path / "t.hdr", k=2, lines=40)
    r = process_tray(TrayJob("H", "P", str(hdr)), BatchConfig(model=str(ckpt), threads=1, block_mb=1),
                     str(tmp_path / "out"))
    assert r["status"] == "done", r.get("error")
    got = hsimin.open_map(tmp_path / "out/H/P.h5")
    # what `hsimin classify` gives on the same cube and mask: block edges leave no seams
    cube = hsimin.open_cube(hdr)
    valid = ~np.isnan(got.scores[..., 0])
    want = predict_cube(dataclasses.replace(cube, mask=valid), str(ckpt))
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.scores, want.scores)


def test_one_pass_background_codes_equal_classify_background(rng):
    """The batch's fused mask kernel gives exactly hsimin.preprocess.classify_background's codes."""
    from hsimin.batch.tray_pass import valid_codes
    from hsimin.preprocess.masking import classify_background
    cube = hsimin.open_cube(samples.tray_path())
    X = np.asarray(cube.data[:60]).copy()
    X[rng.random(X.shape[:2]) < 0.05] *= 0.04                    # dark
    X[rng.random(X.shape[:2]) < 0.03, 5] = 1.2                    # saturated
    X[rng.random(X.shape[:2]) < 0.03, :200] = np.nan              # invalid
    X[rng.random(X.shape[:2]) < 0.03, 7] = np.nan                 # one missing band: still valid
    X[rng.random(X.shape[:2]) < 0.03] = 0.5                       # flat: only with a contrast test
    for cfg in (LIB, dataclasses.replace(LIB, min_contrast=0.01, min_albedo=0.05, saturation=0.9)):
        codes, albedo = valid_codes(X, cube.wavelengths, cfg)
        want = classify_background(X, cube.wavelengths, min_albedo=cfg.min_albedo, min_contrast=cfg.min_contrast,
                                   saturation=cfg.saturation)
        np.testing.assert_array_equal(codes, want)
        assert len(np.unique(codes)) >= 4
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(albedo, np.nanmean(X, axis=-1), rtol=1e-6)


def test_models_without_tray_classes_get_the_tray_screened_out(tmp_path, make_tray, sample_raw):
    from hsimin.models import create_model, save_model
    torch = pytest.importorskip("torch")
    torch.manual_seed(5)
    wl = sample_raw[1]["wavelength"]
    model = create_model({"backbone": {"name": "fastspec", "widths": [8, 4]}, "in_bands": len(wl),
                          "num_outputs": 3, "patch_size": 1})
    save_model(model, tmp_path / "m.pt", wavelengths=wl, class_names=["kaolinite", "white_mica", "calcite"])
    hdr = make_tray(tmp_path / "t.hdr", k=0, lines=32)
    job = TrayJob("H", "T", str(hdr), 0.0, 1.0)
    r = process_tray(job, BatchConfig(model=str(tmp_path / "m.pt"), threads=1), str(tmp_path / "a"))
    assert r["status"] == "done", r.get("error")
    codes = read_arrays_hdf5(tmp_path / "a/H/T.h5", "mask")["codes"]
    mm = hsimin.open_map(tmp_path / "a/H/T.h5")
    core = read_arrays_hdf5(tmp_path / "a/H/T.h5", "depth")["core"].astype(bool)
    assert np.all(codes[:, 15:18] == 5) and np.all(mm.labels[:, 15:18] == -1)  # divider: plastic, not rock
    assert not core[:, 15:18].any() and core[:, 4:14].mean() > 0.9
    assert 0.25 < r["qa"]["artefact_fraction"] < 0.4 and r["sticks"] == 4
    off = process_tray(job, BatchConfig(model=str(tmp_path / "m.pt"), threads=1, artefacts=False),
                       str(tmp_path / "b"))
    assert off["qa"]["artefact_fraction"] == 0.0
    assert np.all(hsimin.open_map(tmp_path / "b/H/T.h5").labels[:, 15:18] >= 0)  # the model names the plastic


def test_shipped_model_in_batch_answers_as_classify_does(tmp_path, sample_raw, write_envi):
    """The batch's fused pass with a model that has an 'aspectral' class (the shipped one) applies classify's
    library gate: on the core pixels the batch kept, its labels are exactly hsimin.predict.classify_cube's with
    the same mask. Planted: 70 core pixels diluted to 10 % of their contrast on a flat 0.45 with noise
    (sigma 0.0025, seed 7), weak features the model calls aspectral for about half of them and the library path
    finds significant; so the gate changes answers there, in the batch as in classify."""
    from hsimin.models import default_model_path
    from hsimin.predict.workflow import classify_cube
    raw, fields = sample_raw
    X = raw[8:48].astype(np.float64) / 10000.0
    src = X[10:20, 5:12]
    rng = np.random.default_rng(7)
    X[10:20, 5:12] = 0.9 * 0.45 + 0.1 * 0.45 * src / src.mean(axis=-1, keepdims=True) + rng.normal(0, 0.0025, src.shape)
    hdr = tmp_path / "t.hdr"
    write_envi(hdr, np.ascontiguousarray(np.round(X * 10000).astype(raw.dtype)), interleave="bil", fields=fields)
    r = process_tray(TrayJob("H", "T", str(hdr), 0.0, 1.0), BatchConfig(model=str(default_model_path()), threads=1),
                     str(tmp_path / "a"))
    assert r["status"] == "done", r.get("error")
    mm = hsimin.open_map(tmp_path / "a/H/T.h5")
    codes = read_arrays_hdf5(tmp_path / "a/H/T.h5", "mask")["codes"]
    kept = codes == 0
    assert kept[10:20, 5:12].all() and kept.mean() > 0.5
    cube = hsimin.open_cube(hdr)
    cube = dataclasses.replace(cube, data=np.asarray(cube.data), mask=kept)
    gated = classify_cube(cube, "default", artefact_screen=False)
    plain = classify_cube(cube, "default", artefact_screen=False, library_gate=False)
    assert list(mm.classes) == list(gated.map.classes)
    np.testing.assert_array_equal(mm.labels[kept], gated.map.labels[kept])
    changed = plain.map.labels != gated.map.labels
    assert changed[10:20, 5:12].sum() >= 10
    assert mm.provenance["library_gate"]["answer"].endswith("swir_status")
    # --no-library-gate: the model's own aspectral, as classify's library_gate=False on the same pixels
    r = process_tray(TrayJob("H", "T", str(hdr), 0.0, 1.0),
                     BatchConfig(model=str(default_model_path()), threads=1, library_gate=False), str(tmp_path / "b"))
    assert r["status"] == "done", r.get("error")
    ungated = hsimin.open_map(tmp_path / "b/H/T.h5")
    np.testing.assert_array_equal(ungated.labels[kept], plain.map.labels[kept])
    assert (ungated.labels[kept] != mm.labels[kept]).sum() >= 10
    assert "turned off" in ungated.provenance["library_gate"]


def test_a_tray_maps_the_same_on_one_and_on_two_threads(tmp_path):
    """The shipped model with the artefact screen and the library gate: the tray's map, confidence and mask codes
    are the same whether the tray's chunked stages run on one thread or on two (two chunks in flight), and the
    lines per block do not change them either."""
    from hsimin.models import default_model_path
    job = TrayJob("H", "T", str(samples.tray_path()), 0.0, 1.0)
    outs = {}
    for name, threads, block_mb in (("one", 1, 64), ("two", 2, 64), ("two_small_blocks", 2, 1)):
        r = process_tray(job, BatchConfig(model=str(default_model_path()), threads=threads, block_mb=block_mb),
                         str(tmp_path / name))
        assert r["status"] == "done", r.get("error")
        mm = hsimin.open_map(tmp_path / name / "H/T.h5")
        outs[name] = (mm.labels, mm.confidence, read_arrays_hdf5(tmp_path / name / "H/T.h5", "mask")["codes"])
    for name in ("two", "two_small_blocks"):
        for a, b in zip(outs["one"], outs[name]):
            np.testing.assert_array_equal(a, b)
    labels, _, codes = outs["one"]
    assert (codes == 0).mean() > 0.5 and (labels >= 0).any()


def test_other_fit_floors_make_a_session_redo_its_trays(tmp_path, monkeypatch):
    """The SWIR interpretation's per-mineral fit floors decide answers (unknown), for the library method and for a
    model's library gate alike: a different floors file gives a different config hash, so a resumed session
    does its trays again rather than mixing answers made with two sets of floors."""
    import hsimin.classical.calibration as cal
    from hsimin.batch.runner import resolve_classifier
    before = {kind: config_hash(resolve_classifier(BatchConfig(**kw)))
              for kind, kw in (("model", {"model": "default"}), ("library", {"library": "usgs_splib07"}))}
    text = cal.FLOORS_PATH.read_text(encoding="utf-8")
    other = tmp_path / "floors.json"
    other.write_text(text.replace('"kaolinite": 0.', '"kaolinite": 0.1'), encoding="utf-8")
    assert other.read_text(encoding="utf-8") != text
    monkeypatch.setattr(cal, "FLOORS_PATH", other)
    for kind, kw in (("model", {"model": "default"}), ("library", {"library": "usgs_splib07"})):
        assert config_hash(resolve_classifier(BatchConfig(**kw))) != before[kind], kind
