"""The model path of the one interpretation workflow: a cube and a model in, a mineral map out.

``hsimin classify``, the napari map widget and the label-retrain loop all call :func:`classify_cube`, so the
masking, the tray-artefact screen and the model run the same way everywhere (``hsimin batch`` fuses the same
pieces, :class:`hsimin.classical.artefacts.ArtefactScreen` and :func:`predict_cube`, into its single streamed
pass). The library path is :func:`hsimin.classical.interpretation.map_minerals`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


from ..core.types import Cube, MineralMap
from .classify import predict_cube

__all__ = ["ClassifyResult", "classify_cube", "resolve_model"]


@dataclass
class ClassifyResult:
    """The map, and what was done on the way: ``screened`` pixels taken out as tray artefacts (None: no screen),
    ``screen_note`` why there was none, ``masked`` pixels left out as background."""

    map: MineralMap
    screened: int | None = None
    screen_note: str | None = None
    masked: int | None = None
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
                  batch_size: int | None = None, tile: int | None = None, progress=None) -> ClassifyResult:
    """Classify every pixel of ``cube`` with a model (see the module docstring).

    Parameters
    ----------
    cube : Cube in reflectance
    model : a LoadedModel, a checkpoint path or ``'default'``
    artefact_screen : for a model without tray-artefact classes, take out the pixels whose spectrum is closer to
        a tray material than to the model's minerals (:func:`hsimin.classical.artefacts.screen_cube`)
    mask_background, min_albedo : leave dark, flat and saturated pixels out (:func:`hsimin.preprocess.mask_cube`)
    threshold : top class probability below which a pixel is ``unknown`` (label -1)
    device, batch_size, tile, progress : passed to :func:`predict_cube`
    """
    from ..classical.artefacts import has_artefact_classes, screen_cube
    from ..core.errors import HsiminError
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
    out.map = mm
    return out
