"""The hsimin error hierarchy.

Every error hsimin raises on purpose is an :class:`HsiminError`. Its message says what is wrong
and, where there is something to do, what to do about it. When the problem is tied to a file,
``path`` names it and ``str(err)`` starts with it, so the CLI can print one line:
``hsimin: error: <path>: <what is wrong>``.
"""
from __future__ import annotations

import os


class HsiminError(Exception):
    """Base class of every error hsimin raises on purpose.

    Parameters
    ----------
    message:
        What is wrong, and what to do about it.
    path:
        The file or folder the problem is about, if any.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.message = str(message)
        self.path = None if path is None else os.fspath(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(HsiminError, ValueError):
    """An argument or array given to a function is not usable (wrong shape, units, values)."""


class FormatError(HsiminError):
    """A file cannot be read as the format it claims to be."""


class HeaderError(FormatError):
    """A header (ENVI .hdr, HDF5 attributes) is missing a key or holds a value that cannot be used."""


class TruncatedDataError(FormatError):
    """A data file is shorter than its header says."""


class UnknownFormatError(FormatError):
    """No reader recognised a path."""


class WavelengthError(HsiminError, ValueError):
    """Wavelengths are missing, in an unknown unit, the wrong count, or not orderable."""


class CalibrationError(HsiminError):
    """Raw data cannot be turned into reflectance (missing or unusable white/dark references)."""


class OutputError(HsiminError):
    """An output cannot be written where it was asked for (missing or read-only folder)."""


class OutputExistsError(OutputError):
    """An output exists already and ``overwrite`` was not given."""


class DiskFullError(OutputError):
    """An output does not fit: the filesystem is full or the user's quota is spent (ENOSPC, EDQUOT).

    Unlike other write errors it is not a problem of one input, so a session stops at it rather than trying
    the next tray on the same full disk."""


class OutputInUseError(OutputError):
    """An output folder is locked by another running hsimin process (two runs would interleave their files)."""


class LibraryError(HsiminError):
    """A spectral library cannot be found or read."""


class ModelError(HsiminError):
    """A model file cannot be used (unknown architecture, wrong wavelengths, corrupt weights)."""


class UnsafeCheckpointError(ModelError):
    """A checkpoint holds pickled Python objects; hsimin refuses to unpickle them."""


class ConfigError(HsiminError, ValueError):
    """A configuration (TOML recipe, training config, manifest) is invalid."""


class MissingDependencyError(HsiminError, ImportError):
    """An optional dependency (an extra of hsimin) is not installed; the message says what needs it and how to
    install it. Raised by :func:`import_optional`."""


def import_optional(module: str, *, extra: str, needed_for: str, package: str | None = None):
    """Import ``module`` (an optional dependency) or raise :class:`MissingDependencyError` naming what needs it
    and the install command: ``pip install 'hsimin[<extra>]'`` (or ``pip install <package>``).

    Every optional import in hsimin goes through here, so the error a user sees is the same kind and the same
    sentence whichever feature asked (GeoTIFF, Dask, Captum)."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        alt = f" (or pip install {package})" if package else ""
        raise MissingDependencyError(f"{needed_for} needs {package or module.split('.')[0]}, which is not installed "
                                     f"({exc}); install the extra: pip install 'hsimin[{extra}]'{alt}") from None
