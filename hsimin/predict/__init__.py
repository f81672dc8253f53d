"""hsimin.predict (torch side): apply a model checkpoint to whole cubes.

* :func:`predict_cube` — a cube + a checkpoint -> a :class:`~hsimin.core.MineralMap` (class probabilities,
  confidence, 'unknown' below a threshold), streamed in line blocks; pixel models in large batches, patch
  models with a line halo, dense models in tiles stitched without seams.
* :func:`predict_spectra` — class probabilities of spectra (N, B) with a pixel model.
* :func:`input_plan` — how a cube's bands reach a model (as they are, or resampled to its grid; refused when
  not covered).
* :mod:`hsimin.predict.tiling` — receptive radius and translation period measured on the model, tile plans,
  halo blocks.
"""
from .classify import (DEFAULT_BATCH_SIZE, DEFAULT_TILE, InputPlan, input_plan, predict_cube, predict_spectra,
                       resolve_device)
from .tiling import iter_halo_blocks, plan_tiles, receptive_radius, translation_period

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_TILE", "InputPlan", "input_plan", "iter_halo_blocks", "plan_tiles",
           "predict_cube", "predict_spectra", "receptive_radius", "resolve_device", "translation_period"]
