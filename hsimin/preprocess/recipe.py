"""Preprocessing as data: a :class:`Recipe` is an ordered list of steps that can be saved, compared and replayed.

The same recipe runs at training and at inference (it is stored in every checkpoint and every output's
provenance), on a library, on spectra, or on a cube block by block without materialising a processed copy::

    recipe = Recipe([BandWindow(1000, 2500), Savgol(11, 2), ContinuumRemoval()])
    X2, wl2 = recipe.apply(X, wl)                     # (..., B) -> (..., B')
    for block in recipe.apply_cube(cube):             # streamed, bounded memory
        ...
    Recipe.from_toml(recipe.to_toml()) == recipe      # exact round trip (also to_dict/from_dict, JSON-able)

Each step is a small frozen dataclass registered under a name (:data:`STEPS`, :func:`register_step`). A step
knows how it changes the band set (:meth:`Step.bands`: wavelengths, FWHM and bad-band flags) and how it changes
the spectra (:meth:`Step.apply`). Parameters are validated when a step is made; a bad one raises
:class:`~hsimin.core.errors.ConfigError` naming the step and the parameter.

Serialised form (``to_dict``)::

    {"hsimin_recipe": 1, "steps": [{"step": "band_window", "lo_nm": 1000.0, "hi_nm": 2500.0},
                                   {"step": "savgol", "window_length": 11, "polyorder": 2, ...}]}

Every parameter is written, defaults included, so a recipe means the same thing when defaults change later.
In TOML a parameter whose value is None is left out (TOML has no null) and read back as its default, None.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from ..core.errors import ConfigError, InputError
from ..core.toml_text import parse_toml, toml_dumps
from ..core.units import check_wavelengths
from .bands import WATER_WINDOWS_NM, bad_band_keep, window_keep, windows_mask
from .continuum import CONTINUUM_MODES, remove_continuum
from .normalise import NORMALISE_METHODS, normalise_brightness
from .savgol import NAN_POLICIES, SAVGOL_MODES, savgol_operator, smooth_savgol
from .steps import (STEPS, Bands, Step, param_bool, param_choice, param_error, param_float, param_grid, param_int,
                    param_windows, register_step)

__all__ = ["BandWindow", "Bands", "ContinuumRemoval", "DropBadBands", "Normalise", "RECIPE_FORMAT_VERSION",
           "Recipe", "RemoveBands", "RemoveWaterBands", "Resample", "STEPS", "Savgol", "Step", "register_step"]

RECIPE_FORMAT_VERSION = 1
"""Version of the serialised form; bumped only if an old file would be read differently."""


@register_step("band_window")
@dataclass(frozen=True)
class BandWindow(Step):
    """Keep the bands with ``lo_nm <= wavelength <= hi_nm``."""

    lo_nm: float
    hi_nm: float

    def __post_init__(self):
        lo = param_float(self.name, "lo_nm", self.lo_nm)
        hi = param_float(self.name, "hi_nm", self.hi_nm)
        if not lo < hi:
            raise param_error(self.name, "hi_nm", f"must be above lo_nm ({lo:g}), got {hi:g}")
        object.__setattr__(self, "lo_nm", lo)
        object.__setattr__(self, "hi_nm", hi)

    def _keep(self, b: Bands):
        try:
            return window_keep(b.wavelengths, self.lo_nm, self.hi_nm)
        except InputError as exc:
            raise ConfigError(f"recipe step {self.name!r}: {exc.message}") from None

    def bands(self, b):
        return b.take(self._keep(b))

    def apply(self, spectra, b):
        return spectra[..., self._keep(b)]


@register_step("drop_bad_bands")
@dataclass(frozen=True)
class DropBadBands(Step):
    """Drop the bands flagged bad (``Cube.bad_bands``, ENVI ``bbl``); nothing when no flags are given."""

    def _keep(self, b: Bands):
        if b.bad_bands is None:
            return slice(None)
        keep = bad_band_keep(np.asarray(b.bad_bands, dtype=bool), b.wavelengths.size)
        if keep.size == 0:
            raise ConfigError(f"recipe step {self.name!r}: every band is flagged bad; nothing would be left")
        return keep

    def bands(self, b):
        out = b.take(self._keep(b))
        return out._replace(bad_bands=None if out.bad_bands is None else np.zeros(out.wavelengths.size, bool))

    def apply(self, spectra, b):
        return spectra[..., self._keep(b)]


@register_step("remove_bands")
@dataclass(frozen=True)
class RemoveBands(Step):
    """Drop the bands inside any of ``windows`` (``[[lo_nm, hi_nm], ...]``, inclusive)."""

    windows: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "windows", param_windows(self.name, "windows", self.windows))

    def _keep(self, b: Bands):
        keep = np.flatnonzero(~windows_mask(b.wavelengths, self.windows)) if self.windows else slice(None)
        if not isinstance(keep, slice) and keep.size == 0:
            raise ConfigError(f"recipe step {self.name!r}: the windows cover every band; nothing would be left")
        return keep

    def bands(self, b):
        return b.take(self._keep(b))

    def apply(self, spectra, b):
        return spectra[..., self._keep(b)]


@register_step("remove_water_bands")
@dataclass(frozen=True)
class RemoveWaterBands(RemoveBands):
    """Drop the atmospheric water bands (default windows 1340-1460 and 1790-1960 nm; for field and airborne
    data, not lab core scans)."""

    windows: tuple = WATER_WINDOWS_NM


@register_step("savgol")
@dataclass(frozen=True)
class Savgol(Step):
    """Savitzky–Golay smoothing or derivative (:func:`~hsimin.preprocess.savgol.smooth_savgol`).

    ``per_nm``: derivatives per nm (band spacing from the wavelengths, which must be even) instead of per band.
    """

    window_length: int
    polyorder: int
    deriv: int = 0
    mode: str = "interp"
    nan_policy: str = "propagate"
    per_nm: bool = False

    def __post_init__(self):
        n = self.name
        w = param_int(n, "window_length", self.window_length, 1)
        p = param_int(n, "polyorder", self.polyorder, 0)
        d = param_int(n, "deriv", self.deriv, 0)
        mode = param_choice(n, "mode", self.mode, SAVGOL_MODES)
        pol = param_choice(n, "nan_policy", self.nan_policy, tuple(NAN_POLICIES))
        per_nm = param_bool(n, "per_nm", self.per_nm)
        if p >= w:
            raise param_error(n, "polyorder", f"must be less than window_length ({w}), got {p}")
        if d > p:
            raise param_error(n, "deriv", f"must be <= polyorder ({p}), got {d}")
        savgol_operator(w, p, d, 1.0, mode)  # any other problem scipy would find, now rather than later
        for k, v in (("window_length", w), ("polyorder", p), ("deriv", d), ("mode", mode), ("nan_policy", pol),
                     ("per_nm", per_nm)):
            object.__setattr__(self, k, v)

    def apply(self, spectra, b):
        try:
            return smooth_savgol(spectra, self.window_length, self.polyorder, self.deriv,
                                 wavelengths=b.wavelengths if self.per_nm else None, mode=self.mode,
                                 nan_policy=self.nan_policy)
        except InputError as exc:
            raise ConfigError(f"recipe step {self.name!r}: {exc.message}") from None


@register_step("continuum_removal")
@dataclass(frozen=True)
class ContinuumRemoval(Step):
    """Upper-convex-hull continuum removal (:func:`~hsimin.preprocess.continuum.remove_continuum`);
    ``window = [lo_nm, hi_nm]`` builds the hull inside that window only (NaN outside)."""

    mode: str = "quotient"
    window: tuple | None = None

    def __post_init__(self):
        object.__setattr__(self, "mode", param_choice(self.name, "mode", self.mode, tuple(CONTINUUM_MODES)))
        if self.window is not None:
            (lo, hi), = param_windows(self.name, "window", [self.window])
            object.__setattr__(self, "window", (lo, hi))

    def params(self):
        return {"mode": self.mode, "window": None if self.window is None else list(self.window)}

    def apply(self, spectra, b):
        try:
            return remove_continuum(spectra, b.wavelengths, self.mode, window=self.window)
        except InputError as exc:
            raise ConfigError(f"recipe step {self.name!r}: {exc.message}") from None


@register_step("resample")
@dataclass(frozen=True)
class Resample(Step):
    """Resample to ``target_wavelengths`` (nm), Gaussian responses of ``target_fwhm`` (nm) when given, else
    linear interpolation (:func:`~hsimin.preprocess.resample.resample`). ``use_source_fwhm``: pass the input's
    own FWHM (when known) so the effective width sqrt(target² − source²) is applied. Bad-band flags do not
    survive resampling (drop bad bands first)."""

    target_wavelengths: tuple
    target_fwhm: tuple | None = None
    use_source_fwhm: bool = False

    def __post_init__(self):
        n = self.name
        wl = param_grid(n, "target_wavelengths", self.target_wavelengths)
        try:
            check_wavelengths(wl, what="target_wavelengths")
        except Exception as exc:  # WavelengthError
            raise param_error(n, "target_wavelengths", str(exc)) from None
        object.__setattr__(self, "target_wavelengths", wl)
        if self.target_fwhm is not None:
            fw = self.target_fwhm
            if np.ndim(fw) == 0:
                fw = [fw] * len(wl)
            fw = param_grid(n, "target_fwhm", fw, len(wl))
            if min(fw) <= 0:
                raise param_error(n, "target_fwhm", "must be positive (nm)")
            object.__setattr__(self, "target_fwhm", fw)
        object.__setattr__(self, "use_source_fwhm", param_bool(n, "use_source_fwhm", self.use_source_fwhm))

    def bands(self, b):
        wl = np.array(self.target_wavelengths)
        return Bands(wl, None if self.target_fwhm is None else np.array(self.target_fwhm), None)

    def apply(self, spectra, b):
        from .resample import resample

        src_fwhm = b.fwhm if (self.use_source_fwhm and self.target_fwhm is not None) else None
        try:
            return resample(spectra, b.wavelengths, np.array(self.target_wavelengths),
                            None if self.target_fwhm is None else np.array(self.target_fwhm), source_fwhm=src_fwhm)
        except InputError as exc:
            raise ConfigError(f"recipe step {self.name!r}: {exc.message}") from None


@register_step("normalise")
@dataclass(frozen=True)
class Normalise(Step):
    """Brightness normalisation (:func:`~hsimin.preprocess.normalise.normalise_brightness`):
    ``method`` max, mean, l2 or area."""

    method: str = "max"

    def __post_init__(self):
        object.__setattr__(self, "method", param_choice(self.name, "method", self.method, tuple(NORMALISE_METHODS)))

    def apply(self, spectra, b):
        return normalise_brightness(spectra, self.method, b.wavelengths)


# --------------------------------------------------------------------------- recipe

def _step_from_dict(i: int, d: Mapping[str, Any]) -> Step:
    if not isinstance(d, Mapping):
        raise ConfigError(f"recipe step {i + 1}: must be a table/dict with a 'step' name, got {d!r}")
    d = dict(d)
    name = d.pop("step", None)
    if name not in STEPS:
        known = ", ".join(sorted(STEPS))
        raise ConfigError(f"recipe step {i + 1}: unknown step {name!r}; known steps: {known}")
    cls = STEPS[name]
    allowed = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise ConfigError(f"recipe step {i + 1} ({name}): unknown parameter(s) {', '.join(extra)}; "
                          f"{name} takes {', '.join(allowed) or 'no parameters'}")
    try:
        return cls(**d)
    except ConfigError as exc:
        raise ConfigError(f"recipe step {i + 1} ({name}): {exc.message.split(': ', 1)[-1]}") from None
    except TypeError as exc:  # a required parameter is missing
        raise ConfigError(f"recipe step {i + 1} ({name}): {exc}; {name} takes {', '.join(allowed)}") from None


@dataclass(frozen=True)
class Recipe:
    """An ordered list of preprocessing steps (see the module docstring).

    Parameters
    ----------
    steps : sequence of :class:`Step` instances, applied in order
    """

    steps: tuple = field(default_factory=tuple)

    def __post_init__(self):
        steps = tuple(self.steps)
        for i, s in enumerate(steps):
            if not isinstance(s, Step) or not s.name:
                raise ConfigError(f"recipe step {i + 1}: {s!r} is not a registered recipe step")
        object.__setattr__(self, "steps", steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    # ------------------------------------------------------------------ bands and spectra
    def output_bands(self, wavelengths, fwhm=None, bad_bands=None) -> Bands:
        """Band set after every step, for input bands ``wavelengths`` (B,) nm, ``fwhm`` and ``bad_bands``."""
        b = self._bands_in(wavelengths, fwhm, bad_bands)
        for s in self.steps:
            b = s.bands(b)
        return b

    def output_wavelengths(self, wavelengths) -> np.ndarray:
        """Wavelengths (nm) of the output bands for input wavelengths (B,) nm (bad-band steps see no flags)."""
        return self.output_bands(wavelengths).wavelengths

    @staticmethod
    def _bands_in(wavelengths, fwhm, bad_bands) -> Bands:
        wl = check_wavelengths(wavelengths)
        fw = None if fwhm is None else np.broadcast_to(np.asarray(fwhm, dtype=np.float64), wl.shape).copy()
        if bad_bands is None:
            bb = None
        else:
            bb = np.asarray(bad_bands)
            if bb.dtype != bool:
                m = np.ones(wl.size, dtype=bool)
                m[bad_band_keep(bb, wl.size)] = False
                bb = m
            elif bb.shape != wl.shape:
                raise InputError(f"bad_bands has shape {bb.shape}, want {wl.shape}")
        return Bands(wl, fw, bb)

    def transform(self, spectra, wavelengths, fwhm=None, bad_bands=None) -> tuple[np.ndarray, Bands]:
        """Apply every step to ``spectra`` (..., B); returns (spectra (..., B'), output :class:`Bands`)."""
        X = np.asarray(spectra)
        if X.ndim == 0:
            raise InputError("spectra must have a band axis (the last axis); got a scalar")
        b = self._bands_in(wavelengths, fwhm, bad_bands)
        if X.shape[-1] != b.wavelengths.size:
            raise InputError(f"spectra have {X.shape[-1]} bands but {b.wavelengths.size} wavelengths were given")
        for s in self.steps:
            X = s.apply(X, b)
            b = s.bands(b)
        return X, b

    def apply(self, spectra, wavelengths, fwhm=None, bad_bands=None) -> tuple[np.ndarray, np.ndarray]:
        """Apply every step to ``spectra`` (..., B) with wavelengths (B,) nm (and optional ``fwhm`` (B,) nm,
        ``bad_bands`` (B,) bool). Returns (spectra (..., B'), wavelengths (B',) nm)."""
        X, b = self.transform(spectra, wavelengths, fwhm, bad_bands)
        return X, b.wavelengths

    def apply_cube(self, cube, lines: int | None = None, *, max_bytes: int | None = None,
                   masked_only: bool = False):
        """Apply the recipe to a cube block by block; yields :class:`hsimin.core.blocks.Block` (rows, data
        (h, W, B') float32, mask). The cube is never loaded or copied whole (a memmap or lazy cube stays on disk).

        Parameters
        ----------
        cube : :class:`~hsimin.core.Cube`; its wavelengths, fwhm and bad_bands are the input bands
        lines, max_bytes : block size, as in :func:`hsimin.core.blocks.iter_blocks`
        masked_only : process only pixels where ``cube.mask`` is True (the rest are NaN); saves the time spent
            on tray pixels
        """
        from ..core.blocks import Block, iter_blocks

        b_in = self._bands_in(cube.wavelengths, cube.fwhm, cube.bad_bands)
        n_out = self.output_bands(cube.wavelengths, cube.fwhm, cube.bad_bands).wavelengths.size
        for block in iter_blocks(cube, lines, max_bytes=max_bytes):
            data = block.data
            if masked_only and block.mask is not None:
                out = np.full(data.shape[:2] + (n_out,), np.nan, dtype=np.float32)
                if block.mask.any():
                    X, _ = self.transform(data[block.mask], b_in.wavelengths, b_in.fwhm, b_in.bad_bands)
                    out[block.mask] = X
            else:
                X, _ = self.transform(data, b_in.wavelengths, b_in.fwhm, b_in.bad_bands)
                out = np.asarray(X, dtype=np.float32)
            yield Block(block.rows, out, block.mask)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: ``{"hsimin_recipe": 1, "steps": [{"step": name, **params}, ...]}``."""
        return {"hsimin_recipe": RECIPE_FORMAT_VERSION, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Recipe":
        """A recipe from :meth:`to_dict`'s form (a bare list of step dicts is accepted too)."""
        if isinstance(d, (list, tuple)):
            d = {"steps": list(d)}
        if not isinstance(d, Mapping):
            raise ConfigError(f"a recipe must be a dict with a 'steps' list, got {type(d).__name__}")
        version = d.get("hsimin_recipe", RECIPE_FORMAT_VERSION)
        if version != RECIPE_FORMAT_VERSION:
            raise ConfigError(f"recipe format version {version!r} is not supported (this hsimin reads version "
                              f"{RECIPE_FORMAT_VERSION}); upgrade hsimin")
        extra = sorted(set(d) - {"hsimin_recipe", "steps"})
        if extra:
            raise ConfigError(f"unknown recipe key(s) {', '.join(extra)}; a recipe has 'hsimin_recipe' and 'steps'")
        steps = d.get("steps", [])
        if not isinstance(steps, (list, tuple)):
            raise ConfigError(f"recipe 'steps' must be a list, got {type(steps).__name__}")
        return cls(tuple(_step_from_dict(i, s) for i, s in enumerate(steps)))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the same recipe always gives the same text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of :meth:`to_json`: equal recipes, equal fingerprints."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def to_toml(self) -> str:
        """TOML text (``hsimin_recipe = 1`` and one ``[[steps]]`` table per step; None values are left out), written
        by :func:`hsimin.core.toml_text.toml_dumps`."""
        return toml_dumps({"hsimin_recipe": RECIPE_FORMAT_VERSION, "steps": [s.to_dict() for s in self.steps]})

    @classmethod
    def from_toml(cls, text: str) -> "Recipe":
        """A recipe from TOML text (as written by :meth:`to_toml`)."""
        return cls.from_dict(parse_toml(text, "recipe"))

    def __repr__(self) -> str:
        return "Recipe([" + ", ".join(repr(s) for s in self.steps) + "])"

