"""One kind of error for a missing optional dependency, whichever feature asks (GeoTIFF, Dask, Captum)."""
from __future__ import annotations

import sys

import pytest

from hsimin.core.errors import HsiminError, MissingDependencyError, import_optional


def test_missing_module_names_the_feature_and_the_extra():
    with pytest.raises(MissingDependencyError) as e:
        import_optional("hsimin_no_such_module.sub", extra="geo", needed_for="reading GeoTIFF")
    msg = str(e.value)
    assert "reading GeoTIFF" in msg and "pip install 'hsimin[geo]'" in msg
    assert isinstance(e.value, HsiminError) and isinstance(e.value, ImportError)  # the CLI's one line; except ImportError


def test_present_module_is_returned():
    assert import_optional("json", extra="x", needed_for="y") is sys.modules["json"]


def test_each_optional_feature_raises_the_same_kind(monkeypatch):
    """rasterio (io.raster), distributed (batch --scheduler) and captum (explain) hidden: the same error class."""
    from hsimin.batch.executors import scheduler_client as _connect
    from hsimin.explain.inputs import import_captum
    from hsimin.io.raster import _rasterio
    for name in ("rasterio", "distributed", "captum", "captum.attr"):
        monkeypatch.setitem(sys.modules, name, None)   # a None entry makes ``import name`` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"hsimin\[geo\]"):
        _rasterio()
    with pytest.raises(MissingDependencyError, match=r"hsimin\[explain\]"):
        import_captum()
    with pytest.raises(MissingDependencyError, match=r"hsimin\[dask\]"):
        _connect("tcp://127.0.0.1:8786")
