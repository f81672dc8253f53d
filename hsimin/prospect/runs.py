"""Prospectivity runs from files: GeoTIFF layers, point samples (gridded by IDW), site CSVs, masks and fault lines
in; :func:`run_files` (``hsimin prospect run``) and :func:`run_demo` (``hsimin prospect demo``, the bundled Li-belt
data) check and lock the output folder first, run :func:`hsimin.prospect.workflow.run_prospectivity` and write
the outputs (:mod:`hsimin.prospect.outputs`)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..core.errors import InputError
from ..core.types import Raster
from .layers import fault_buffer_score, stack_rasters
from .outputs import OUTPUT_FILES, write_outputs
from .workflow import Progress, ProspectConfig, ProspectResult, run_prospectivity

__all__ = ["PointLayers", "demo_config", "load_inputs", "run_demo", "run_files"]

@dataclass
class PointLayers:
    """Point samples to grid by IDW (``hsimin prospect run --points``): a CSV with x, y and value columns
    (``columns``: which; default all numeric ones), IDW ``power``, ``search_radius`` (CRS units; None = no
    limit), ``max_points``; on the GeoTIFF layers' grid when there are any, else on a new grid of
    ``cell_size`` covering the points, in ``crs``."""

    path: str | os.PathLike
    columns: Sequence[str] | None = None
    power: float = 2.0
    search_radius: float | None = None
    max_points: int = 12
    cell_size: float | None = None
    crs: str | None = None


def load_inputs(layer_paths: Sequence[str | os.PathLike], deposits: str | os.PathLike,
                negatives: str | os.PathLike | None = None, mask: str | os.PathLike | None = None,
                faults: str | os.PathLike | None = None, *, fault_rings: Sequence[float] | None = None,
                points: PointLayers | None = None) -> tuple:
    """Read GeoTIFF layers (one grid) and/or point samples gridded by IDW, site CSVs, an optional mask GeoTIFF
    and optional fault polylines (turned into a multi-ring buffer influence layer named ``faults``). Returns
    ``(layers, deposits_xy, negatives_xy, deposit_ids, negative_ids)``."""
    from ..io.raster import (read_fault_lines, read_geotiff_layers, read_mask_geotiff,  # noqa: PLC0415
                             read_points_csv, read_sites_csv)
    from .layers import DEFAULT_RINGS_M, idw_grid  # noqa: PLC0415

    if not layer_paths and points is None:
        raise InputError("no layers: give GeoTIFF layers (--layers A.tif ...) or point samples (--points S.csv)")
    parts = [read_geotiff_layers(layer_paths)] if layer_paths else []
    if points is not None:
        x, y, values = read_points_csv(points.path, columns=points.columns)
        if parts:
            grid = parts[0]
            built = idw_grid(x, y, values, power=points.power, search_radius=points.search_radius,
                             max_points=points.max_points, transform=grid.transform, shape=grid.shape, crs=grid.crs)
        else:
            if points.cell_size is None:
                raise InputError("point samples without GeoTIFF layers need a cell size (--cell-size) for the grid")
            built = idw_grid(x, y, values, cell_size=points.cell_size, power=points.power,
                             search_radius=points.search_radius, max_points=points.max_points, crs=points.crs)
        parts.append(Raster(built.values, built.transform, built.crs, built.layer_names,
                            mask=np.all(np.isfinite(built.values), axis=-1)))
    grid = parts[0]
    m = np.ones(grid.shape, bool)
    for part in parts:
        m &= part.mask if part.mask is not None else np.all(np.isfinite(part.values), axis=-1)
    if mask is not None:
        m &= read_mask_geotiff(mask, like=grid)
    if faults is not None:
        if any("faults" in part.layer_names for part in parts):
            raise InputError("a layer is named 'faults' and --faults was given too; rename one of them")
        lines = read_fault_lines(faults)
        parts.append(fault_buffer_score(lines, grid.transform, grid.shape,
                                        rings=tuple(fault_rings or DEFAULT_RINGS_M), crs=grid.crs, mask=m))
    stack = stack_rasters(parts, mask=m)
    dep = read_sites_csv(deposits)
    neg = read_sites_csv(negatives) if negatives is not None else None
    return (stack, (dep["x"], dep["y"]), None if neg is None else (neg["x"], neg["y"]), dep["id"],
            None if neg is None else neg["id"])


def run_files(layer_paths: Sequence[str | os.PathLike], deposits: str | os.PathLike, out_dir: str | os.PathLike,
              *, negatives=None, mask=None, faults=None, fault_rings=None, points: PointLayers | None = None,
              config: ProspectConfig | None = None, overwrite: bool = False,
              progress: Progress | None = None) -> ProspectResult:
    """``hsimin prospect run``: read the inputs, run the workflow, write the outputs (plus GeoTIFF maps)."""
    config = config or ProspectConfig()
    with _output_folder(out_dir, overwrite):
        layers, dep, neg, dep_ids, neg_ids = load_inputs(layer_paths, deposits, negatives, mask, faults,
                                                         fault_rings=fault_rings, points=points)
        if faults is not None and config.fault_layer is None:
            config.fault_layer = "faults"
        result = run_prospectivity(layers, dep, neg, config, deposit_ids=dep_ids, negative_ids=neg_ids,
                                   progress=progress)
        write_outputs(result, out_dir, overwrite=overwrite, geotiff=True)
    return result


def demo_config(**overrides) -> ProspectConfig:
    """The demo's settings on the bundled Li-belt data: 2 km grid, 16 x 16 windows (32 km), 64 km blocks,
    the source authors' negatives, fault density as a raw (untransformed) layer, 'small' networks; besides
    the best model's map, SSGSNet's map and attributions (the model the paper interprets)."""
    from .data import DEMO_WINDOW  # noqa: PLC0415

    base = dict(window=DEMO_WINDOW, block_size=2 * DEMO_WINDOW, fault_layer="faults", negative_layer="Li",
                extra_maps=("ssgsnet",))
    base.update(overrides)
    return ProspectConfig(**base)


def run_demo(out_dir: str | os.PathLike, *, config: ProspectConfig | None = None, kmeans_negatives: bool = False,
             overwrite: bool = False, progress: Progress | None = None) -> ProspectResult:
    """``hsimin prospect demo``: the workflow on the bundled real Li-belt data (see
    ``hsimin/prospect/data/README.md``)."""
    from .data import load_demo  # noqa: PLC0415

    config = config or demo_config()
    with _output_folder(out_dir, overwrite):
        layers, dep, neg = load_demo()
        result = run_prospectivity(layers, (dep["x"], dep["y"]), None if kmeans_negatives else (neg["x"], neg["y"]),
                                   config, deposit_ids=dep["id"], negative_ids=None if kmeans_negatives else neg["id"],
                                   progress=progress)
        write_outputs(result, out_dir, overwrite=overwrite)
    return result


@contextlib.contextmanager
def _output_folder(out_dir, overwrite: bool):
    """Check the output folder before the work (it can be written, a file can be created in it, it holds no
    earlier results unless ``overwrite``), create it, and lock it for the run: a read-only folder fails in a second
    instead of after the training, and a second run on the same folder fails at once instead of interleaving."""
    from ..io.atomic import check_output_folder  # noqa: PLC0415
    from ..io.locks import FolderLock  # noqa: PLC0415
    from ..io.raster import prepare_output_folder  # noqa: PLC0415

    prepare_output_folder(out_dir, OUTPUT_FILES, overwrite=overwrite, create=False)
    out = check_output_folder(out_dir, create=True)
    with FolderLock(out, "hsimin prospect"):
        yield out
