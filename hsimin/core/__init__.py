"""hsimin.core: types, wavelength units and errors (numpy only)."""
from .errors import (CalibrationError, ConfigError, DiskFullError, FormatError, HeaderError, HsiminError, InputError,
                     LibraryError, MissingDependencyError, ModelError, OutputError, OutputExistsError,
                     OutputInUseError, TruncatedDataError, UnknownFormatError, UnsafeCheckpointError, WavelengthError,
                     import_optional)
from .types import UNCLASSIFIED, ArrayLike3D, Cube, MineralMap, Raster, ScanMeta, SpectralLibrary, SpectrumTable
from .text import printable
from .units import check_wavelengths, normalise_unit, sort_order, to_nanometers

__all__ = [
    "ArrayLike3D", "CalibrationError", "ConfigError", "Cube", "DiskFullError", "FormatError", "HeaderError",
    "HsiminError", "InputError", "LibraryError", "MineralMap", "MissingDependencyError", "ModelError", "OutputError", "OutputExistsError",
    "OutputInUseError", "Raster", "ScanMeta", "SpectralLibrary", "SpectrumTable", "TruncatedDataError",
    "UNCLASSIFIED", "UnknownFormatError", "UnsafeCheckpointError", "WavelengthError", "check_wavelengths",
    "import_optional",
    "normalise_unit", "printable", "sort_order", "to_nanometers",
]
