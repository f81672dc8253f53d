"""Build ``usgs_splib07b_av95_supplement.h5``: minerals a core-logging SWIR library needs that splib07a's mineral
chapter (``usgs_splib07``) lacks, taken from USGS's AVIRIS-1995-convolved splib07b (all chapters).

Usage (from the repository root)::

    python spectral_libs/usgs_supplement/build_supplement.py ../shared/data/spectral/usgs_splib07b_cvAVIRIS1995.h5 \
        spectral_libs/usgs_supplement/usgs_splib07b_av95_supplement.h5

It copies, unchanged, every row whose title starts with one of ``TITLE_PREFIXES``:

- ``Magnesite+Hydromag HS47``: magnesite (with some hydromagnesite), the Mg carbonate of talc-carbonate and
  ultramafic-hosted alteration (CO3 feature near 2300 nm, the shortest of the common carbonates). splib07a's
  chapter M has no magnesite spectrum, so without it a magnesite-bearing rock could only be called its nearest
  other carbonate, or something else.

Values and metadata are copied as they are (float32 reflectance, NaN where USGS deleted a channel); all 224
AVIRIS-95 channels are kept in order, as in ``usgs_artefacts`` (``hsimin.io.libraries`` drops the overlapping
channels at the spectrometer joins when it loads the file).
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import h5py
import numpy as np

TITLE_PREFIXES = ("Magnesite+Hydromag HS47",)


def main(src: str, dst: str) -> None:
    src_p, dst_p = Path(src), Path(dst)
    digest = hashlib.sha256(src_p.read_bytes()).hexdigest()
    with h5py.File(src_p, "r") as f:
        titles = f["title"].asstr()[:]
        rows = np.array([i for i, t in enumerate(titles) if t.startswith(TITLE_PREFIXES)], np.int64)
        tmp = dst_p.with_name(dst_p.name + ".part")
        with h5py.File(tmp, "w") as g:
            for k in ("wavelength_nm", "fwhm_nm"):
                g.create_dataset(k, data=f[k][:])
            for k in ("reflectance", "errorbar"):
                g.create_dataset(k, data=f[k][:][rows], compression="gzip", compression_opts=6, shuffle=True)
            for k in ("has_errorbar", "envi_record_index"):
                g.create_dataset(k, data=f[k][:][rows])
            str_t = h5py.string_dtype()
            for k in ("title", "first_word", "instrument"):
                g.create_dataset(k, data=np.asarray(f[k].asstr()[:][rows], dtype=object), dtype=str_t)
            g.create_dataset("source_row", data=rows.astype(np.int32))
            for k, v in f.attrs.items():
                g.attrs[f"source_{k}"] = v
            g.attrs["title"] = ("USGS splib07b convolved to AVIRIS-1995 (s07_AV95): minerals splib07a's chapter M "
                                "lacks")
            g.attrs["license"] = "Public domain (U.S. Government work, USGS)"
            g.attrs["citation"] = ("Kokaly, R.F., et al., 2017, USGS Spectral Library Version 7: U.S. Geological "
                                   "Survey Data Series 1035, https://doi.org/10.3133/ds1035 ; data release "
                                   "https://doi.org/10.5066/F7RR1WDJ")
            g.attrs["derived_from"] = f"usgs_splib07b_cvAVIRIS1995.h5 sha256 {digest}"
            g.attrs["selection"] = "rows whose title starts with: " + ", ".join(TITLE_PREFIXES)
        tmp.replace(dst_p)
    print(f"{dst_p}: {rows.size} spectra from {src_p.name}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
