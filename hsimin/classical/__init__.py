"""hsimin.classical: library matching, mixture fits and absorption-feature scalars (numpy side).

The matchers are scikit-learn classifiers fitted on reference spectra and mineral names
(``SpectralAngleMapper().fit(library.spectra, library.minerals)``); :func:`identify_cube` and :func:`map_features`
stream a cube through them block by block. Nothing here reads or writes files: :mod:`hsimin.io` does.
"""
from .features import (DEFAULT_WINDOWS, FEATURE_QUANTITIES, FeatureWindow, extract_features, feature_names,
                       parse_windows, windows_to_spec)
from .mapping import (DEFAULT_FIT_RANGE_NM, IDENTIFY_METHODS, features_provenance, identify_cube,
                      make_identifier, map_cube, map_features, prepare_library, select_bands)
from .matching import (DEFAULT_MATCH_WINDOWS, FeatureMatcher, Identification, SpectralAngleMapper,
                       SpectralInformationDivergence)
from .mixture import MixtureFitter

__all__ = [
    "DEFAULT_FIT_RANGE_NM", "DEFAULT_MATCH_WINDOWS", "DEFAULT_WINDOWS", "FEATURE_QUANTITIES", "FeatureMatcher",
    "FeatureWindow", "IDENTIFY_METHODS", "Identification", "MixtureFitter", "SpectralAngleMapper",
    "SpectralInformationDivergence", "extract_features", "feature_names", "features_provenance", "identify_cube", "make_identifier",
    "map_cube", "map_features", "parse_windows", "prepare_library", "select_bands", "windows_to_spec",
]
