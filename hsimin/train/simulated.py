"""Simulated scanner spectra as a training source (``[[data.simulated]]`` of a training config).

A model trained on clean library spectra has never seen what a core scanner sees: molecular water, SWIR-inactive
diluents (quartz, feldspar, iron oxides) that make features shallow, low contrast, noise, and spectra with no
diagnostic feature at all. :func:`hsimin.classical.simulate.simulate_scanner_spectra` builds such spectra from
real library spectra; this module turns them into a :class:`~hsimin.data.samples.SampleSet` for ``hsimin train``:

* the spectra are drawn in ``len(fwhm)`` equal parts, each through Gaussian bands of one FWHM on the training grid
  (scanners differ in resolution: HyLogger-3 ~10-12 nm, others coarser), each part with its own seed;
* the label is the planted primary mineral, or ``aspectral`` where nothing SWIR-active was planted **or** where
  the library path's own aspectral test says no diagnostic feature is deep enough for the spectrum's noise
  (:class:`hsimin.classical.swir.SwirInterpreter`, status aspectral; ``aspectral_test = true``): a kaolinite
  diluted by 95 % quartz under noise is aspectral to an honest reader, and the model learns the same line the
  library path draws instead of one of its own;
* the group of a spectrum (what a group split keeps whole) is its primary's physical library sample;
* ``exclude_sample_tray = true`` takes the bundled sample tray's USGS samples out of the library before anything
  is drawn (as primary, second mineral or diluent), so the tray stays a test on unseen samples.

Config table (every key optional)::

    [[data.simulated]]
    library = "usgs_splib07"      # source spectra (fine grid)
    n = 60000                     # spectra in all
    seed = 1                      # added to the run's seed
    fwhm = [9.0, 11.0, 13.0]      # sensor band widths (nm), one part each; default: the grid's FWHM
    exclude_sample_tray = true
    aspectral_test = true         # relabel spectra the SWIR interpreter finds aspectral
    supplement = false            # add usgs_supplement (magnesite, which splib07a lacks), as the library path does
    params = {max_dilution = 0.9} # further keyword arguments of simulate_scanner_spectra

The classes are the config's ``data.classes``: every one but ``aspectral`` is drawn as a primary (and second)
mineral; ``aspectral`` must be among them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.vocabulary import ASPECTRAL
from ..core.errors import ConfigError

__all__ = ["ASPECTRAL_CLASS", "SimulatedSource", "parse_simulated", "simulated_samples",
           "simulated_sets", "with_supplement"]

ASPECTRAL_CLASS = ASPECTRAL
_CHUNK = 20000

_NOT_PARAMS = {"library", "n", "seed", "sensor_wavelengths", "sensor_fwhm", "active", "exclude_samples",
               "only_samples"}


@dataclass(frozen=True)
class SimulatedSource:
    """A simulated-spectra source (``[[data.simulated]]``; see the module docstring)."""

    library: str = "usgs_splib07"
    n: int = 20000
    seed: int = 1
    fwhm: tuple[float, ...] | None = None
    exclude_sample_tray: bool = True
    aspectral_test: bool = True
    supplement: bool = False
    params: dict = field(default_factory=dict)


def _simulate_signature() -> set[str]:
    from ..classical.simulate import simulate_scanner_spectra
    return set(inspect.signature(simulate_scanner_spectra).parameters) - _NOT_PARAMS


def parse_simulated(raw: Any, where: str) -> SimulatedSource:
    """A :class:`SimulatedSource` from one ``[[data.simulated]]`` table; :class:`ConfigError` names a bad key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    d = dict(raw)
    known = {"library", "n", "seed", "fwhm", "exclude_sample_tray", "aspectral_test", "supplement", "params"}
    for k in d:
        if k not in known:
            raise ConfigError(f"{where}.{k}: unknown key; known keys here: {', '.join(sorted(known))}")
    lib = d.get("library", "usgs_splib07")
    if not isinstance(lib, str):
        raise ConfigError(f"{where}.library: must be a string, got {lib!r}")
    for k, lo in (("n", 1), ("seed", 0)):
        v = d.get(k, 20000 if k == "n" else 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{where}.{k}: must be an integer >= {lo}, got {v!r}")
    fw = d.get("fwhm")
    if fw is not None:
        if isinstance(fw, (int, float)) and not isinstance(fw, bool):
            fw = [fw]
        if not isinstance(fw, (list, tuple)) or not fw or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in fw):
            raise ConfigError(f"{where}.fwhm: must be a positive number or a list of them (nm), got {fw!r}")
        fw = tuple(float(x) for x in fw)
    for k in ("exclude_sample_tray", "aspectral_test", "supplement"):
        if not isinstance(d.get(k, True), bool):
            raise ConfigError(f"{where}.{k}: must be true or false, got {d[k]!r}")
    params = d.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.params: must be a table of simulate_scanner_spectra arguments")
    allowed = _simulate_signature()
    for k in params:
        if k not in allowed:
            raise ConfigError(f"{where}.params.{k}: not a simulate_scanner_spectra parameter; known: "
                              f"{', '.join(sorted(allowed))}")
    return SimulatedSource(library=lib, n=int(d.get("n", 20000)), seed=int(d.get("seed", 1)), fwhm=fw,
                           exclude_sample_tray=bool(d.get("exclude_sample_tray", True)),
                           aspectral_test=bool(d.get("aspectral_test", True)),
                           supplement=bool(d.get("supplement", False)),
                           params={k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()})


def simulated_samples(src: SimulatedSource, wavelengths, fwhm, class_names: Sequence[str], *, seed: int = 0):
    """The :class:`~hsimin.data.samples.SampleSet` of a simulated source on the training grid.

    Parameters
    ----------
    src : the source
    wavelengths, fwhm : the training grid (nm); ``fwhm`` (B,) or None: the sensor widths default to it
    class_names : the model's classes (must include ``'aspectral'``)
    seed : the run's seed (each part draws with ``seed + src.seed + part``)
    """
    from ..classical.simulate import simulate_scanner_spectra
    from ..data.samples import SampleSet
    from ..io.libraries import load_library

    names = tuple(str(c) for c in class_names)
    if ASPECTRAL_CLASS not in names:
        raise ConfigError(f"data.simulated: the classes must include {ASPECTRAL_CLASS!r} (simulated spectra with no "
                          "SWIR-active mineral, or none deep enough for the noise, are labelled so)")
    wl = np.asarray(wavelengths, np.float64)
    lib = load_library(src.library)
    if src.supplement:
        lib = with_supplement(lib)
    excluded: list[str] = []
    if src.exclude_sample_tray and lib.sample_ids is not None:
        from ..samples import TRAY_SAMPLE_IDS
        sid = np.asarray(lib.sample_ids, dtype=object).astype(str)
        out = np.isin(sid, list(TRAY_SAMPLE_IDS))
        excluded = sorted(str(v) for v in set(sid[out]))
        lib = lib.subset(~out)
    active = [c for c in names if c != ASPECTRAL_CLASS]
    widths = src.fwhm
    if widths is None and fwhm is not None:
        widths = (float(np.median(fwhm)),)
    if not widths:
        raise ConfigError("data.simulated.fwhm: give the sensor band widths (the grid has no FWHM)")
    parts = np.array_split(np.arange(src.n), len(widths))
    xs, primary, groups = [], [], []
    for p, (w, idx) in enumerate(zip(widths, parts)):
        # chunks of at most _CHUNK spectra (the simulation holds them on the library's 1 nm grid), each seeded
        for c, sub in enumerate(np.array_split(idx, max(1, -(-idx.size // _CHUNK)))):
            if not sub.size:
                continue
            sim = simulate_scanner_spectra(lib, int(sub.size), seed=int(seed) + src.seed + 1000 * p + c,
                                           sensor_wavelengths=wl, sensor_fwhm=np.full(wl.size, float(w)),
                                           active=active, **src.params)
            xs.append(sim.spectra)
            primary.append(sim.primary)
            groups.append(sim.sample)
    x = np.concatenate(xs).astype(np.float32)
    prim = np.concatenate(primary).astype(object)
    grp = np.concatenate(groups).astype(str)
    planted_aspectral = prim == ASPECTRAL_CLASS
    relabelled = np.zeros(len(x), bool)
    if src.aspectral_test:
        from ..classical.interpretation import swir_aspectral
        relabelled = swir_aspectral(x, wl, fwhm, exclude_samples=excluded) & ~planted_aspectral
    label = np.where(planted_aspectral | relabelled, ASPECTRAL_CLASS, prim)
    index = {c: i for i, c in enumerate(names)}
    keep = np.array([lab in index for lab in label])
    y = np.array([index.get(lab, -1) for lab in label], np.int64)
    info = {"simulated": {"library": src.library, "n": int(len(x)), "fwhm_nm": list(widths),
                          "planted_aspectral": int(planted_aspectral.sum()),
                          "aspectral_by_noise_test": int(relabelled.sum()), "excluded_samples": excluded,
                          "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in src.params.items()}}}
    return SampleSet(x[keep], y[keep], names, wl, grp[keep], None, (f"simulated:{src.library}",), info)


def with_supplement(lib):
    """``lib`` (a fine-grid library) plus the ``usgs_supplement`` spectra interpolated onto its grid, as the library
    path's reference library adds them (:func:`hsimin.classical.references.reference_library`: magnesite, which
    splib07a's mineral chapter lacks; its USGS name "Magnesite+Hydromag" flags it as a mixture, but its SWIR
    spectrum is magnesite's, so it is taken as a pure spectrum)."""
    from ..classical.references import _on_grid
    from ..core.types import SpectralLibrary
    from ..io.libraries import load_library
    sup = load_library("usgs_supplement", include_mixtures=True)
    wl = np.asarray(lib.wavelengths, np.float64)
    S = np.vstack([np.asarray(lib.spectra, np.float64), _on_grid(sup, wl)])
    ids = list(lib.sample_ids or lib.names) + list(sup.sample_ids or sup.names)
    return SpectralLibrary(S, wl, list(lib.names) + list(sup.names), list(lib.minerals) + list(sup.minerals),
                           source=f"{lib.source} + usgs_supplement", sample_ids=ids,
                           attrs={"is_mixture": [False] * len(S)})


def simulated_sets(cfg, wavelengths, fwhm) -> list:
    """The SampleSets of a :class:`~hsimin.train.config.TrainConfig`'s ``[[data.simulated]]`` sources on its grid
    (what ``hsimin train`` adds to its library and cube sources)."""
    if wavelengths is None:
        raise ConfigError("data.simulated: needs a [data.grid] (the bands the spectra are simulated on)")
    if not cfg.data.classes:
        raise ConfigError("data.simulated: needs data.classes (the minerals to draw, and 'aspectral')")
    if cfg.data.patch_size != 1:
        raise ConfigError("data.simulated: simulated spectra are pixels; set data.patch_size = 1")
    return [simulated_samples(src, wavelengths, fwhm, cfg.data.classes, seed=cfg.seed + 1000 * i)
            for i, src in enumerate(cfg.data.simulated)]
