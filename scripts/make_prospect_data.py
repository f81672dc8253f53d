"""Make the trimmed copy of the South China Li-belt data bundled in ``hsimin/prospect/data/``.

Source: ``../shared/data/geochem/`` (see its README.md and PROVENANCE.md). What this script keeps:

* ``geochem_4km.h5`` — the 14 SSGSNet elements (Au As Sb Hg Cu Pb Zn Bi Sn Mo W Co Li Ag) of
  ``geochem_grid_4km.npz``, cropped to the bounding box of ``in_area`` (rows 4-157, columns 8-138 of the
  163 x 141 grid), with cells outside ``in_area`` set to NaN (outside the belt the source IDW grids are
  extrapolation artefacts) and ``in_area`` stored as the mask. Values, units and cell size unchanged.
* ``faults_1km.h5`` — the ``faults`` evidence layer of ``geology_1km.npz`` (1 km cells, 645 x 556), values
  unchanged, with ``study_area`` as the mask (cells outside it, where the source holds 0, become NaN).
* ``sites.csv`` — ``sites.csv`` unchanged in content (23 Li deposits, label 1; the source authors' 23
  negative cells, label 0), columns ``id, x, y, label, lon, lat, row_1km, col_1km``.

Run from the project root::

    .venv/bin/python scripts/make_prospect_data.py [--source ../shared/data/geochem] [--overwrite]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hsimin.core import Raster
from hsimin.io.raster import read_sites_csv, write_raster_h5, write_sites_csv

SSGSNET_ELEMENTS = ["Au", "As", "Sb", "Hg", "Cu", "Pb", "Zn", "Bi", "Sn", "Mo", "W", "Co", "Li", "Ag"]
OUT = Path(__file__).resolve().parents[1] / "hsimin" / "prospect" / "data"


def _affine(t4) -> tuple:
    """The source's [x0, dx, y0, dy] as an affine (a, b, c, d, e, f)."""
    x0, dx, y0, dy = (float(v) for v in t4)
    return (dx, 0.0, x0, 0.0, dy, y0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "geochem"))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    src, out = Path(a.source), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    g = np.load(src / "geochem_grid_4km.npz")
    names = [str(n) for n in g["names"]]
    units = [str(u) for u in g["units"]]
    in_area = g["in_area"].astype(bool)
    r, c = np.nonzero(in_area)
    r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
    idx = [names.index(e) for e in SSGSNET_ELEMENTS]
    data = np.moveaxis(g["data"][idx, r0:r1, c0:c1], 0, -1).astype(np.float32)
    m = in_area[r0:r1, c0:c1]
    data[~m] = np.nan
    a_, b_, x0, d_, e_, y0 = _affine(g["transform"])
    transform = (a_, 0.0, x0 + c0 * a_, 0.0, e_, y0 + r0 * e_)
    crs = f"EPSG:{int(g['crs_epsg'])}"
    geochem = Raster(data, transform, crs, SSGSNET_ELEMENTS, mask=m)
    write_raster_h5(geochem, out / "geochem_4km.h5", overwrite=a.overwrite, attrs={
        "units": {e: units[names.index(e)] for e in SSGSNET_ELEMENTS},
        "source": "geochem_grid_4km.npz (see PROVENANCE.md)",
        "crop_rows_cols": [int(r0), int(r1), int(c0), int(c1)]})

    geo = np.load(src / "geology_1km.npz")
    sa = geo["study_area"].astype(bool)
    faults = np.where(sa, geo["faults"], np.nan).astype(np.float32)
    fr = Raster(faults, _affine(geo["transform"]), f"EPSG:{int(geo['crs_epsg'])}", ["faults"], mask=sa)
    write_raster_h5(fr, out / "faults_1km.h5", overwrite=a.overwrite, attrs={
        "source": "geology_1km.npz 'faults' (fault-density evidence; see PROVENANCE.md)"})

    s = read_sites_csv(src / "sites.csv")
    import csv  # the extra columns (lon, lat, label-grid row/col) are carried as text

    with open(src / "sites.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    write_sites_csv(out / "sites.csv", s["x"], s["y"], s["label"], s["id"],
                    extra={k: [row[k] for row in rows] for k in ("lon", "lat", "row_1km", "col_1km")},
                    overwrite=a.overwrite)
    for p in sorted(out.glob("*")):
        print(f"{p.name:20s} {p.stat().st_size / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
