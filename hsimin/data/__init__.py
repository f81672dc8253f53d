"""hsimin.data (torch side): training samples, leak-free splits, physical augmentations and datasets.

* :mod:`~hsimin.data.samples` (numpy): :class:`SampleSet` from labelled cubes (:func:`cube_samples`), spectral
  libraries (:func:`library_samples`) and unlabelled pixels (:func:`unlabelled_samples`); recipes, caps.
* :mod:`~hsimin.data.splits` (numpy): :func:`group_split`, :func:`group_kfold`, :func:`spatial_block_split`,
  :func:`spatial_block_kfold`, and :func:`random_split` (flagged ``optimistic``).
* :mod:`~hsimin.data.augment` (torch, ``(N, C, H, W)`` batches): brightness, continuum slope, wavelength shift,
  noise at an SNR, mixing with another class, flips/rotations; :func:`build_augment` from a config;
  :class:`RecipeAfter` runs the preprocessing recipe after augmenting reflectance.
* :mod:`~hsimin.data.datasets` (torch): :class:`TensorSamples`, :func:`iter_batches`, :func:`make_loader`.
"""
from .augment import (AUGMENTATIONS, Augmentation, Brightness, Compose, ContinuumSlope, FlipRotate, Mixing, Noise,
                      RecipeAfter, WavelengthShift, build_augment)
from .datasets import TensorSamples, balanced_weights, iter_batches, make_loader
from .samples import (PAD_MODES, SampleSet, apply_recipe, cap_per_class, class_counts, concat_samples, cube_samples,
                      library_samples, unlabelled_samples)
from .splits import (OPTIMISTIC_NOTE, BlockSplit, Split, group_kfold, group_split, mask_membership, min_gap,
                     patch_overlap_count, random_split, spatial_block_kfold, spatial_block_split)

__all__ = ["AUGMENTATIONS", "Augmentation", "BlockSplit", "Brightness", "Compose", "ContinuumSlope", "FlipRotate",
           "Mixing", "Noise", "OPTIMISTIC_NOTE", "PAD_MODES", "RecipeAfter", "SampleSet", "Split", "TensorSamples",
           "WavelengthShift", "apply_recipe", "balanced_weights", "build_augment", "cap_per_class", "class_counts",
           "concat_samples", "cube_samples", "group_kfold", "group_split", "iter_batches", "library_samples",
           "make_loader", "mask_membership", "min_gap", "patch_overlap_count", "random_split",
           "spatial_block_kfold", "spatial_block_split", "unlabelled_samples"]
