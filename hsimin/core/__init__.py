"""hsimin.core: types, wavelength units and errors (numpy only)."""
from .errors import (CalibrationError, ConfigError, FormatError, HeaderError, HsiminError, InputError,
                     LibraryError, ModelError, OutputError, OutputExistsError, TruncatedDataError,
                     UnknownFormatError, UnsafeCheckpointError, WavelengthError)
from .types import UNCLASSIFIED, ArrayLike3D, Cube, MineralMap, Raster, ScanMeta, SpectralLibrary, SpectrumTable
from .units import check_wavelengths, normalise_unit, sort_order, to_nanometers

__all__ = [
    "ArrayLike3D", "CalibrationError", "ConfigError", "Cube", "FormatError", "HeaderError", "HsiminError",
    "InputError", "LibraryError", "MineralMap", "ModelError", "OutputError", "OutputExistsError", "Raster",
    "ScanMeta", "SpectralLibrary", "SpectrumTable", "TruncatedDataError", "UNCLASSIFIED", "UnknownFormatError",
    "UnsafeCheckpointError", "WavelengthError", "check_wavelengths", "normalise_unit", "sort_order",
    "to_nanometers",
]
