"""The public numpy-side API states its array arguments' types (numpy.typing), and the packages say they are typed
(``py.typed``), so a user's type checker and IDE see what a function takes."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

ARRAY_PARAMETERS = {"spectra", "wavelengths", "data", "values", "bad_bands", "fwhm", "target_wavelengths",
                    "target_fwhm", "source_fwhm", "wavelengths_nm", "spectrum"}
PACKAGES = ("hsimin.preprocess", "hsimin.classical", "hsimin.core", "hsimin.io")


def _public_functions():
    for name in PACKAGES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if inspect.isfunction(obj):
                yield f"{name}.{attr}", obj


@pytest.mark.parametrize("qualname,fn", list(_public_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_array_arguments_are_annotated(qualname, fn):
    missing = [p.name for p in inspect.signature(fn).parameters.values()
               if p.name in ARRAY_PARAMETERS and p.annotation is inspect.Parameter.empty]
    assert not missing, f"{qualname}: annotate {missing} (numpy.typing.ArrayLike, or a core type)"


def test_packages_carry_py_typed():
    for package in ("hsimin", "napari_hsimin"):
        root = Path(importlib.import_module(package).__file__).parent
        assert (root / "py.typed").is_file(), package
