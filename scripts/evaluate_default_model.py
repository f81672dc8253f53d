"""Accuracy of a SWIR pixel model (default: the shipped one) on data it never saw in training, no real scanner data:

1. the bundled sample tray (real USGS spectra of the 16 samples the default model's training leaves out);
2. scanner-like spectra simulated (hsimin.classical.simulate) with those 16 held-out samples as the only primaries
   (second minerals and diluents from the whole library), labelled as the training labels are (the primary, or
   'aspectral' when nothing SWIR-active was planted or the library path's aspectral test finds no feature above the
   noise), on the HyLogger band grid; a fixed seed other than the training's.

Both for the model alone and with the library gate of ``hsimin classify`` (hsimin.predict.workflow: aspectral
where the library path's test finds no feature above the noise, unknown where its fit does not explain the
features, else the model's best mineral). The gate's test also labels the simulated spectra, so
the gated aspectral recall is high by construction, except planted aspectral spectra whose diluent has a band of
its own above the noise.

    python scripts/evaluate_default_model.py [MODEL.pt] [--n 6000] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import collections
import json

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="default")
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    import hsimin
    from hsimin import load_library
    from hsimin.classical.simulate import simulate_scanner_spectra
    from hsimin.models import load_model, model_path
    from hsimin.predict import predict_cube, predict_spectra
    from hsimin.samples import TRAY_SAMPLE_IDS, tray_path, truth_path
    from hsimin.classical.interpretation import swir_aspectral
    from hsimin.train.simulated import with_supplement

    lm = load_model(model_path(a.model))
    classes = np.asarray(lm.class_names, dtype=object)
    out: dict = {"model": str(model_path(a.model)), "model_hash": lm.model_hash}

    cube, truth = hsimin.open_cube(tray_path()), hsimin.open_map(truth_path())
    mm = predict_cube(cube, lm)
    sel = truth.labels >= 0
    want = np.asarray(truth.classes, dtype=object)[truth.labels[sel]]
    got = np.asarray(mm.classes, dtype=object)[mm.labels[sel]]
    out["tray"] = {"oa": float(np.mean(got == want)), "n": int(sel.sum()),
                   "recall": {m: float(np.mean(got[want == m] == m)) for m in sorted(set(want))},
                   "confused": {m: collections.Counter(got[(want == m) & (got != m)]).most_common(2)
                                for m in sorted(set(want))}}
    if "aspectral" in classes:
        from hsimin.predict.workflow import library_gate_map
        gm, counts = library_gate_map(mm, cube)
        gg = np.asarray(gm.classes, dtype=object)[gm.labels[sel]]
        out["tray_gated"] = {"oa": float(np.mean(gg == want)), **counts,
                             "recall": {m: float(np.mean(gg[want == m] == m)) for m in sorted(set(want))}}

    wl = np.arange(1300.0, 2501.0, 4.0)    # the HyLogger grid over the SWIR (the old model needs 2500 nm)
    fwhm = np.full(wl.size, 11.0)
    lib = with_supplement(load_library("usgs_splib07"))
    active = [c for c in classes if c != "aspectral"]
    sim = simulate_scanner_spectra(lib, a.n, seed=a.seed, sensor_wavelengths=wl, sensor_fwhm=fwhm, active=active,
                                   only_samples=list(TRAY_SAMPLE_IDS), max_dilution=0.9, max_water=0.8)
    asp = (sim.primary == "aspectral") | swir_aspectral(sim.spectra, wl, fwhm)
    label = np.where(asp, "aspectral", sim.primary).astype(object)
    P = predict_spectra(sim.spectra, lm, wavelengths=wl, fwhm=fwhm)
    variants = {"simulated_heldout": classes[P.argmax(axis=1)]}
    if "aspectral" in classes:
        k = list(classes).index("aspectral")
        Pm = P.copy()
        Pm[:, k] = -1
        from hsimin.classical.interpretation import swir_status
        st = swir_status(sim.spectra, wl, fwhm)
        model = classes[P.argmax(axis=1)]
        variants["simulated_heldout_gated"] = np.where(st == 2, "aspectral", np.where(st == 1, "unknown", np.where(
            model == "aspectral", classes[Pm.argmax(axis=1)], model)))
    for key, pred in variants.items():
        ok = pred == label
        out[key] = {
            "n": int(a.n), "seed": a.seed, "oa": float(ok.mean()),
            "mineral_spectra_oa": float(ok[~asp].mean()), "aspectral_recall": float(ok[asp].mean()),
            "minerals_called_aspectral": float(np.mean(pred[~asp] == "aspectral")),
            "recall": {m: float(ok[label == m].mean()) for m in sorted(set(label))}}
    print(json.dumps(out, indent=1, default=str))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
