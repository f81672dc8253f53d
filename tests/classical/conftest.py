"""Fixtures of the classical tests: the bundled USGS library (repo copy, spectral_libs/usgs_splib07) on a SWIR
core-scanner band set, loaded once per session."""
import numpy as np
import pytest

SCANNER = np.linspace(1000.0, 2500.0, 270)
SCANNER_FWHM = np.full(270, 10.0)


@pytest.fixture(scope="session")
def usgs_scanner():
    """``load_library("usgs_splib07")`` resampled to 270 bands, 1000-2500 nm, FWHM 10 nm (mixtures excluded)."""
    import hsimin
    return hsimin.load_library("usgs_splib07", wavelengths=SCANNER, fwhm=SCANNER_FWHM)


@pytest.fixture(scope="session")
def usgs_fit(usgs_scanner):
    """(spectra, minerals, wavelengths) of the library on the identification fit range, complete spectra only."""
    from hsimin.classical import DEFAULT_FIT_RANGE_NM
    sel = (SCANNER >= DEFAULT_FIT_RANGE_NM[0]) & (SCANNER <= DEFAULT_FIT_RANGE_NM[1])
    S = np.asarray(usgs_scanner.spectra)[:, sel]
    ok = np.isfinite(S).all(axis=1) & (S > 0).all(axis=1)
    return S[ok], np.asarray(usgs_scanner.minerals, dtype=object)[ok], SCANNER[sel], np.asarray(usgs_scanner.names)[ok]
