"""napari sample data: hsimin's bundled real-spectra sample tray (a SWIR core-tray scan built from USGS
splib07 spectra) and its per-pixel truth map."""
from __future__ import annotations

__all__ = ["sample_tray", "sample_tray_truth", "sample_tray_with_truth"]


def sample_tray():
    """The sample tray cube (320 lines x 64 samples x 270 bands, 1000-2500 nm) as an Image layer."""
    from hsimin.io import open_cube
    from hsimin.samples import tray_path

    from ._convert import cube_to_layer_data
    from ._dims import watch_current_viewer

    data = [cube_to_layer_data(open_cube(tray_path()), name="sample tray")]
    watch_current_viewer()
    return data


def sample_tray_truth():
    """The sample tray's truth: the dominant mineral of every core pixel, as a Labels layer."""
    from hsimin.io import open_map
    from hsimin.samples import truth_path

    from ._convert import map_to_layer_data

    return map_to_layer_data(open_map(truth_path()), name="sample tray truth")


def sample_tray_with_truth():
    """The sample tray and its truth map together."""
    return sample_tray() + sample_tray_truth()
