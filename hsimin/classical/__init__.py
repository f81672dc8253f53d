"""hsimin.classical: library matching, mixture fits and absorption-feature scalars (numpy side).

The matchers are scikit-learn classifiers fitted on reference spectra and mineral names
(``SpectralAngleMapper().fit(library.spectra, library.minerals)``); :func:`identify_cube` and :func:`map_features`
stream a cube through them block by block. Nothing here reads or writes files: :mod:`hsimin.io` does.
"""
import importlib

# name -> submodule; resolved on first use (PEP 562) so that importing hsimin.classical.features, or building
# the CLI's help, does not pay for scikit-learn.
_WHERE = {
    **dict.fromkeys(["DEFAULT_WINDOWS", "FEATURE_QUANTITIES", "FeatureWindow", "extract_features", "feature_names",
                     "parse_windows", "windows_to_spec"], "features"),
    **dict.fromkeys(["IDENTIFY_METHODS", "identify_cube", "make_identifier"], "mapping"),
    **dict.fromkeys(["features_provenance", "map_cube", "map_features", "prepare_library", "select_bands"],
                    "streaming"),
    **dict.fromkeys(["DEFAULT_FIT_RANGE_NM"], "defaults"),
    **dict.fromkeys(["DEFAULT_MATCH_WINDOWS", "FeatureMatcher", "Identification", "SpectralAngleMapper",
                     "SpectralInformationDivergence"], "matching"),
    "MixtureFitter": "mixture",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_FIT_RANGE_NM", "DEFAULT_MATCH_WINDOWS", "DEFAULT_WINDOWS", "FEATURE_QUANTITIES", "FeatureMatcher",
    "FeatureWindow", "IDENTIFY_METHODS", "Identification", "MixtureFitter", "SpectralAngleMapper",
    "SpectralInformationDivergence", "extract_features", "feature_names", "features_provenance", "identify_cube", "make_identifier",
    "map_cube", "map_features", "parse_windows", "prepare_library", "select_bands", "windows_to_spec",
]
