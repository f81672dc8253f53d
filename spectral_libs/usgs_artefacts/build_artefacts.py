"""Build ``usgs_splib07b_av95_artefacts.h5``: the tray-artefact rows of USGS's AVIRIS-1995-convolved splib07b.

Usage (from the repository root)::

    python spectral_libs/usgs_artefacts/build_artefacts.py ../shared/data/spectral/usgs_splib07b_cvAVIRIS1995.h5 \
        spectral_libs/usgs_artefacts/usgs_splib07b_av95_artefacts.h5

It copies, unchanged, every row whose ``first_word`` names a material a core scanner sees around the core
(see ``ARTEFACT_WORDS``): plastics (tray bodies, core bags, pipe), wood (core blocks, wooden trays), cardboard
(core boxes) and metals (galvanised and aluminium trays). All 224 AVIRIS-95 channels are kept in their original
order, including the overlapping channels at the spectrometer joins; ``hsimin.io.libraries`` drops those when
it loads the file. Values are copied as they are (float32 reflectance, NaN where USGS deleted a channel).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import h5py
import numpy as np

ARTEFACT_WORDS = (
    # plastics
    "Plastic", "Plastic_ABS", "Plastic_HDPE", "Plastic_LDPE", "Plastic_PETE", "Plastic_PVC", "Plastic_Pipe",
    "Plastic_Tarp", "Plastic_Tyvek", "Plastic_Vinyl", "Plastic_Visqueen", "Polystyrene",
    # wood and paper
    "Plywood", "Wood_Beam", "Particle_Board", "Strand_Board", "Cardboard",
    # metals
    "GalvanizedSheetMetal", "Sheet_Metal", "Aluminum", "Painted_Aluminum", "Coated_Steel_Girder",
)


def main(src: str, dst: str) -> None:
    src_p, dst_p = Path(src), Path(dst)
    digest = hashlib.sha256(src_p.read_bytes()).hexdigest()
    with h5py.File(src_p, "r") as f:
        first = f["first_word"].asstr()[:]
        rows = np.flatnonzero(np.isin(first, ARTEFACT_WORDS))
        tmp = dst_p.with_name(dst_p.name + ".part")
        with h5py.File(tmp, "w") as g:
            for k in ("wavelength_nm", "fwhm_nm"):
                g.create_dataset(k, data=f[k][:])
            g.create_dataset("reflectance", data=f["reflectance"][:][rows], compression="gzip", compression_opts=6,
                             shuffle=True)
            g.create_dataset("errorbar", data=f["errorbar"][:][rows], compression="gzip", compression_opts=6,
                             shuffle=True)
            for k in ("has_errorbar", "envi_record_index"):
                g.create_dataset(k, data=f[k][:][rows])
            str_t = h5py.string_dtype()
            for k in ("title", "first_word", "instrument"):
                g.create_dataset(k, data=np.asarray(f[k].asstr()[:][rows], dtype=object), dtype=str_t)
            g.create_dataset("source_row", data=rows.astype(np.int32))
            for k, v in f.attrs.items():
                g.attrs[f"source_{k}"] = v
            g.attrs["title"] = "USGS splib07b convolved to AVIRIS-1995 (s07_AV95): tray-artefact materials subset"
            g.attrs["license"] = "Public domain (U.S. Government work, USGS)"
            g.attrs["citation"] = ("Kokaly, R.F., et al., 2017, USGS Spectral Library Version 7: U.S. Geological "
                                   "Survey Data Series 1035, https://doi.org/10.3133/ds1035 ; data release "
                                   "https://doi.org/10.5066/F7RR1WDJ")
            g.attrs["derived_from"] = f"usgs_splib07b_cvAVIRIS1995.h5 sha256 {digest}"
            g.attrs["selection"] = "rows whose first_word is one of: " + ", ".join(ARTEFACT_WORDS)
            g.attrs["wavelength_note"] = ("AVIRIS-95 channels overlap at the spectrometer joins (687.0 -> 664.3 nm, "
                                          "1269.0 -> 1252.4 nm); all 224 are kept in the original order")
        tmp.replace(dst_p)
    print(f"{dst_p}: {rows.size} spectra from {src_p.name}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
