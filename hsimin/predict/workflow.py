"""The model path of the one interpretation workflow: a cube and a model in, a mineral map out.

``hsimin classify``, the napari map widget and the label-retrain loop all call :func:`classify_cube`, so the
masking, the tray-artefact screen, the model and the library gate run the same way everywhere (``hsimin batch`` fuses the same
pieces, :class:`hsimin.classical.artefacts.ArtefactScreen`, :func:`predict_cube` and :func:`library_gate_map`,
into its single streamed pass). The library path is :func:`hsimin.classical.interpretation.map_minerals`.

**Library gate.** For a model with an ``aspectral`` class (the shipped default), whether a pixel has a SWIR
mineral the library knows is decided as ``hsimin identify`` decides it, by the library path's SWIR answer
(:func:`hsimin.classical.interpretation.swir_status_cube`), and the model names the mineral:

* no diagnostic feature over 2080-2460 nm deep enough for the pixel's noise (read off each spectrum): ``aspectral``;
* features there that no library mineral explains (the library path's ``unknown``: a mineral or material outside
  the references, which the model, trained on the same library minerals, does not know either): unclassified
  (label -1, the ``unknown`` of a map, as below a ``threshold``);
* a library mineral explains a significant feature: the model's most probable mineral (not ``aspectral``).

It costs one library fit per pixel (~120 k pixels/s on 2 cores); ``library_gate=False`` leaves the model's answers
as they are.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


from ..core.errors import HsiminError
from ..core.types import Cube, MineralMap
from ..core.vocabulary import ASPECTRAL
from .classify import predict_cube

__all__ = ["ASPECTRAL_CLASS", "ClassifyResult", "classify_cube", "library_gate_map", "resolve_model"]

ASPECTRAL_CLASS = ASPECTRAL
"""The vocabulary's no-SWIR-mineral answer (:data:`hsimin.core.vocabulary.ASPECTRAL`)."""


@dataclass
class ClassifyResult:
    """The map, and what was done on the way: ``screened`` pixels taken out as tray artefacts (None: no screen),
    ``screen_note`` why there was none, ``masked`` pixels left out as background."""

    map: MineralMap
    screened: int | None = None
    screen_note: str | None = None
    masked: int | None = None
    gated: dict | None = None
    notes: list = field(default_factory=list)


def resolve_model(model):
    """A :class:`hsimin.models.LoadedModel` from one, a checkpoint path, or ``'default'`` (the shipped model)."""
    from ..models import LoadedModel, load_model
    from ..models.default import model_path
    if isinstance(model, LoadedModel):
        return model
    return load_model(model_path(model))


def classify_cube(cube: Cube, model="default", *, artefact_screen: bool = True, mask_background: bool = False,
                  min_albedo: float | None = None, threshold: float | None = None, device: str = "cpu",
                  batch_size: int | None = None, tile: int | None = None, progress=None,
                  library_gate: bool = True) -> ClassifyResult:
    """Classify every pixel of ``cube`` with a model (see the module docstring).

    Parameters
    ----------
    cube : Cube in reflectance
    model : a LoadedModel, a checkpoint path or ``'default'``
    artefact_screen : for a model without tray-artefact classes, take out the pixels whose spectrum is closer to
        a tray material than to rock (:func:`hsimin.classical.artefacts.screen_cube`)
    mask_background, min_albedo : leave dark, flat and saturated pixels out (:func:`hsimin.preprocess.mask_cube`)
    threshold : top class probability below which a pixel is ``unknown`` (label -1)
    device, batch_size, tile, progress : passed to :func:`predict_cube`
    library_gate : for a model with an ``aspectral`` class, decide aspectral and unknown by the library path's
        SWIR answer (see the module docstring)
    """
    from ..classical.artefacts import has_artefact_classes, screen_cube
    loaded = resolve_model(model)
    out = ClassifyResult(map=None)  # type: ignore[arg-type]
    if mask_background:
        from ..preprocess import mask_cube
        core = mask_cube(cube, **({} if min_albedo is None else {"min_albedo": min_albedo}))
        out.masked = int((~core).sum())
        cube = dataclasses.replace(cube, mask=core if cube.mask is None else (cube.mask & core))
    if artefact_screen and not has_artefact_classes(loaded.class_names):
        try:
            tray = screen_cube(cube, loaded.class_names)
        except HsiminError as exc:  # bands outside the SWIR identification range: map without the screen
            out.screen_note = str(exc)
        else:
            out.screened = int(tray.sum())
            cube = dataclasses.replace(cube, mask=~tray if cube.mask is None else (cube.mask & ~tray))
    options = {} if tile is None else {"tile": tile}
    mm = predict_cube(cube, loaded, batch_size=batch_size, device=device, threshold=threshold, progress=progress,
                      **options)
    if out.screened is not None:
        mm = dataclasses.replace(mm, provenance={**mm.provenance, "artefact_screen": {
            "library": "usgs_artefacts", "pixels_screened_out": out.screened}})
    if library_gate and ASPECTRAL_CLASS in list(mm.classes):
        try:
            mm, out.gated = library_gate_map(mm, cube)
        except HsiminError as exc:   # no SWIR diagnostic bands: the model's own answers stand
            out.notes.append(f"no library gate: {exc}")
    out.map = mm
    return out


def library_gate_map(mm: MineralMap, cube: Cube) -> tuple[MineralMap, dict]:
    """``mm`` (a model's map of ``cube``, with an ``aspectral`` class) with aspectral and unknown decided by the
    library path's SWIR answer (see the module docstring): ``(map, counts)``. Pixels without a label stay so;
    ``confidence`` becomes the probability of the label given (0 where unknown)."""
    import numpy as np

    from ..classical.interpretation import swir_status_cube
    from ..classical.swir import STATUS_ASPECTRAL, STATUS_OK, STATUS_UNKNOWN
    from ..core.types import UNCLASSIFIED
    classes = list(mm.classes)
    k = classes.index(ASPECTRAL_CLASS)
    status = swir_status_cube(cube)
    lab = np.asarray(mm.labels).copy()
    has = lab >= 0
    flat = has & (status == STATUS_ASPECTRAL)
    unknown = has & (status == STATUS_UNKNOWN)
    to_asp = flat & (lab != k)
    to_min = has & (status == STATUS_OK) & (lab == k)
    lab[flat] = k
    if to_min.any():
        if mm.scores is None:
            raise ValueError("the library gate needs the model's class scores")
        sc = np.asarray(mm.scores, np.float32)[to_min].copy()
        sc[:, k] = -np.inf
        lab[to_min] = sc.argmax(axis=1).astype(lab.dtype)
    lab[unknown] = UNCLASSIFIED
    conf = None if mm.confidence is None else np.asarray(mm.confidence, np.float32).copy()
    changed = to_asp | to_min
    if conf is not None and mm.scores is not None and changed.any():
        conf[changed] = np.take_along_axis(np.asarray(mm.scores, np.float32)[changed],
                                           lab[changed][:, None].astype(np.int64), axis=1)[:, 0]
    if conf is not None:
        conf[unknown] = 0.0
    counts = {"answer": "hsimin.classical.interpretation.swir_status", "to_aspectral": int(to_asp.sum()),
              "to_mineral": int(to_min.sum()), "to_unknown": int(unknown.sum()), "aspectral": int(flat.sum())}
    return dataclasses.replace(mm, labels=lab, confidence=conf,
                               provenance={**mm.provenance, "library_gate": counts}), counts
