"""hsimin.prospect: mineral prospectivity from geochemical grids and faults — SSGSNet and its baselines.

The package sits on the torch side, but its numpy half loads without torch: building layers
(:mod:`~hsimin.prospect.layers`: IDW, fault buffers, resampling, log/CLR, robust scaling), choosing sites
(:mod:`~hsimin.prospect.sites`), cutting windows (:mod:`~hsimin.prospect.windows`) and mapping with any
``predict`` function (:mod:`~hsimin.prospect.mapping`). Names are resolved lazily (PEP 562), so
``from hsimin.prospect import idw_grid`` does not import torch, while ``run_prospectivity`` or ``MODELS``
bring it in.

Entry points: :func:`run_prospectivity` (in memory), :func:`run_files` (``hsimin prospect run``),
:func:`run_demo` (``hsimin prospect demo``, bundled real data).
"""
from __future__ import annotations

import importlib

_LAZY = {
    # numpy side
    "idw_grid": "layers", "fault_distance": "layers", "fault_buffer_score": "layers", "ring_score": "layers",
    "resample_raster": "layers", "stack_rasters": "layers", "select_layers": "layers",
    "transform_layers": "layers", "robust_scale": "layers", "prepare_layers": "layers",
    "grid_for_extent": "layers", "PreparedLayers": "layers", "Scaling": "layers", "DEFAULT_RINGS_M": "layers",
    "Sites": "sites", "make_sites": "sites", "kmeans_negatives": "sites", "sites_to_cells": "sites",
    "extract_windows": "windows", "augment": "windows", "blocked_folds": "windows", "Fold": "windows",
    "predict_map": "mapping", "classify": "mapping", "histogram_thresholds": "mapping",
    "success_rate_curve": "mapping", "DEFAULT_THRESHOLDS": "mapping",
    "ProspectConfig": "workflow", "ProspectResult": "workflow", "MapResult": "workflow", "PointLayers": "runs",
    "write_outputs": "outputs", "demo_config": "runs", "load_demo": "data",
    # torch side
    "run_prospectivity": "workflow", "run_files": "runs", "run_demo": "runs",
    "cross_validate": "workflow", "map_with": "workflow", "transfer_dann": "workflow",
    "MODELS": "models", "NETWORK_SPECS": "models", "TrainSettings": "models", "create_prospect_model": "models",
    "layer_attributions": "attribution",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hsimin.prospect' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
