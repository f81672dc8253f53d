"""Registries of backbones, heads and model presets (ARCHITECTURE §4).

A **backbone** turns a batch ``(N, B, H, W)`` float32 (bands as channels) into features: pooled ``(N, F)``
or dense ``(N, F, H, W)``. It is registered with a decorator on its builder (usually the class itself)::

    @register_backbone("cnn1d")
    class Cnn1d(Backbone):
        def __init__(self, in_bands: int, widths=(32, 64, 64)): ...

``create_backbone(name, in_bands=B, **kw)`` builds it and records ``module.spec = {"name", "in_bands", **kw}``
(plain JSON-able values) so a checkpoint can rebuild it. Every registered backbone validates its input
(4-D, ``in_bands`` channels) through a forward pre-hook, so a new backbone gets clear input errors for free.

A **head** maps backbone features to outputs; builders take ``(num_features, num_outputs, **kw)``, where
``num_features`` is an int (one backbone) or a ``{branch: int}`` dict (fusion heads). A **preset** is a
named function returning a plain model spec (see :func:`hsimin.models.create_model`), e.g. ``"ssgsnet"``.

Code never branches on these names: it looks them up here.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Mapping

import numpy as np
from torch import nn

from ..core.errors import InputError, ModelError
from ..core.plain import to_plain

__all__ = ["Backbone", "Head", "register_backbone", "list_backbones", "create_backbone", "backbone_builder",
           "register_head", "list_heads", "create_head", "register_preset", "list_presets", "preset_spec",
           "plain"]


class Backbone(nn.Module):
    """Optional base class of backbones: declares the contract.

    Attributes
    ----------
    num_features : int
        F, the feature count of the output.
    dense : bool
        True: output ``(N, F, H, W)`` on the input grid; False: pooled output ``(N, F)``.
    tiny_kwargs : dict (class attribute)
        Keyword arguments giving a tiny instance, used by the shared parametrized tests and smoke runs.
    """

    num_features: int = 0
    dense: bool = False
    tiny_kwargs: dict = {}


class Head(nn.Module):
    """Optional base class of heads.

    Attributes
    ----------
    num_outputs : int
        K, classes (or regression targets).
    dense : bool
        True if the head takes dense features ``(N, F, H, W)`` and returns ``(N, K, H, W)``; False if it
        takes pooled ``(N, F)`` (or a ``{branch: (N, F_b)}`` dict for fusion heads) and returns ``(N, K)``.
    multi_branch : bool
        True if the head takes a ``{branch: features}`` dict (fusion heads).
    """

    num_outputs: int = 0
    dense: bool = False
    multi_branch: bool = False


def plain(value: Any, where: str = "value") -> Any:
    """``value`` as plain, checkpoint-safe Python: str, int, float, bool, None, list, and dicts with str keys.

    Tuples become lists, numpy scalars/arrays become Python numbers/lists. Anything else raises
    :class:`InputError` naming ``where`` (:func:`hsimin.core.plain.to_plain` with ``strict=True``).
    """
    return to_plain(value, where=where, strict=True)


class _Registry:
    """name -> builder, filled by a decorator; the built-in entries are imported on first look-up."""

    def __init__(self, kind: str, builtin_modules: tuple[str, ...]):
        self.kind = kind
        self._builtin = builtin_modules
        self._entries: dict[str, Callable] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable], Callable]:
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelError(f"{self.kind} names must be identifiers (letters, digits, _), got {name!r}")

        def decorator(builder: Callable) -> Callable:
            old = self._entries.get(name)
            if old is not None and _qualname(old) != _qualname(builder):
                raise ModelError(f"{self.kind} {name!r} is registered already (by {_qualname(old)}); "
                                 "pick another name")
            self._entries[name] = builder
            return builder

        return decorator

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._builtin:
                importlib.import_module(mod)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable:
        self._load()
        if name not in self._entries:
            raise ModelError(f"no {self.kind} named {name!r}; registered {self.kind}s: "
                             f"{', '.join(sorted(self._entries)) or '(none)'}")
        return self._entries[name]

    def call(self, name: str, *args, **kw):
        builder = self.get(name)
        try:
            inspect.signature(builder).bind(*args, **kw)
        except TypeError as exc:
            params = [p for p in inspect.signature(builder).parameters if p != "self"]
            raise ModelError(f"{self.kind} {name!r} cannot take these arguments ({exc}); it accepts: "
                             f"{', '.join(params)}") from None
        return builder(*args, **kw)


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


_BACKBONES = _Registry("backbone", ("hsimin.models.backbones",))
_HEADS = _Registry("head", ("hsimin.models.heads", "hsimin.models.ssgsnet"))
_PRESETS = _Registry("preset", ("hsimin.models.ssgsnet",))


# --------------------------------------------------------------------------------------------- backbones
def register_backbone(name: str) -> Callable[[Callable], Callable]:
    """Decorator registering a backbone builder ``fn(in_bands: int, **kw) -> nn.Module`` under ``name``.

    The module must set ``num_features`` (int) and ``dense`` (bool). Registering another builder under a
    taken name raises :class:`ModelError`.
    """
    return _BACKBONES.register(name)


def list_backbones() -> list[str]:
    """Names of all registered backbones, sorted."""
    return _BACKBONES.names()


def backbone_builder(name: str) -> Callable:
    """The builder registered under ``name`` (e.g. to read its ``tiny_kwargs``); ModelError if unknown."""
    return _BACKBONES.get(name)


def _check_backbone_input(module: nn.Module, args) -> None:
    x = args[0] if args else None
    spec = module.spec
    if not hasattr(x, "ndim") or x.ndim != 4:
        raise InputError(f"backbone {spec['name']!r} takes a (N, B, H, W) tensor, got "
                         f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}; convert band-last "
                         "numpy arrays with hsimin.models.layout.to_torch")
    if x.shape[1] != spec["in_bands"]:
        raise InputError(f"backbone {spec['name']!r} was built for {spec['in_bands']} bands, got "
                         f"{x.shape[1]} (input shape {tuple(x.shape)}); resample the cube to the model's "
                         "wavelengths first")
    if not x.is_floating_point():
        raise InputError(f"backbone {spec['name']!r} takes float reflectance, got dtype {x.dtype}")


def create_backbone(name: str, in_bands: int, **kw) -> nn.Module:
    """Build the backbone registered as ``name`` for ``in_bands`` input bands.

    Returns an ``nn.Module`` taking ``(N, in_bands, H, W)`` float32 and returning ``(N, F)`` (pooled) or
    ``(N, F, H, W)`` (dense), with attributes ``num_features`` (F), ``dense`` and ``spec`` (the plain dict that
    rebuilds it: ``create_backbone(**spec)``).

    Raises :class:`ModelError` for an unknown name (listing the registered ones) or arguments the builder
    does not take; :class:`InputError` for a non-positive ``in_bands`` or non-plain keyword values.
    """
    if isinstance(in_bands, bool) or not isinstance(in_bands, (int, np.integer)) or int(in_bands) < 1:
        raise InputError(f"in_bands must be a positive integer (the number of bands), got {in_bands!r}")
    in_bands = int(in_bands)
    spec = {"name": name, "in_bands": in_bands, **plain(kw, f"arguments of backbone {name!r}")}
    module = _BACKBONES.call(name, in_bands, **kw)
    if not isinstance(module, nn.Module):
        raise ModelError(f"backbone builder {name!r} returned {type(module).__name__}, not an nn.Module")
    nf, dense = getattr(module, "num_features", None), getattr(module, "dense", None)
    if isinstance(nf, bool) or not isinstance(nf, int) or nf < 1 or not isinstance(dense, bool):
        raise ModelError(f"backbone {name!r} must set num_features (a positive int, got {nf!r}) and dense "
                         f"(a bool, got {dense!r}) on the module it builds")
    module.spec = spec
    module.in_bands = in_bands
    module.register_forward_pre_hook(_check_backbone_input)
    return module


# ------------------------------------------------------------------------------------------------- heads
def register_head(name: str) -> Callable[[Callable], Callable]:
    """Decorator registering a head builder ``fn(num_features, num_outputs, **kw) -> nn.Module``.

    ``num_features`` is an int for single-backbone heads and a ``{branch: int}`` dict for fusion heads. The
    module must set ``num_outputs`` (int), ``dense`` (bool) and ``multi_branch`` (bool).
    """
    return _HEADS.register(name)


def list_heads() -> list[str]:
    """Names of all registered heads, sorted."""
    return _HEADS.names()


def create_head(name: str, num_features: int | Mapping[str, int], num_outputs: int, **kw) -> nn.Module:
    """Build the head ``name`` for ``num_features`` input features and ``num_outputs`` outputs.

    The module gets ``spec = {"name", "num_outputs", **kw}`` (``num_features`` is not stored: it follows from
    the backbone when a model is rebuilt). Unknown names raise :class:`ModelError` listing the heads.
    """
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, (int, np.integer)) or int(num_outputs) < 1:
        raise InputError(f"num_outputs must be a positive integer (classes or targets), got {num_outputs!r}")
    num_outputs = int(num_outputs)
    spec = {"name": name, "num_outputs": num_outputs, **plain(kw, f"arguments of head {name!r}")}
    module = _HEADS.call(name, num_features, num_outputs, **kw)
    for attr, typ in (("num_outputs", int), ("dense", bool), ("multi_branch", bool)):
        if not isinstance(getattr(module, attr, None), typ):
            raise ModelError(f"head {name!r} must set {attr} ({typ.__name__}) on the module it builds")
    module.spec = spec
    return module


# ----------------------------------------------------------------------------------------------- presets
def register_preset(name: str) -> Callable[[Callable], Callable]:
    """Decorator registering a model preset: ``fn(in_bands, num_outputs, **kw) -> dict`` (a model spec for
    :func:`hsimin.models.create_model`)."""
    return _PRESETS.register(name)


def list_presets() -> list[str]:
    """Names of all registered model presets (e.g. ``ssgsnet``), sorted."""
    return _PRESETS.names()


def preset_spec(name: str, in_bands: int, num_outputs: int, **kw) -> dict:
    """The plain model spec of preset ``name``; build it with :func:`hsimin.models.create_model`."""
    return plain(_PRESETS.call(name, in_bands, num_outputs, **kw), f"spec of preset {name!r}")
