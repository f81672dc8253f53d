"""Self-describing, safe model checkpoints (ARCHITECTURE §4).

A checkpoint is one ``torch.save`` file holding a plain dict of tensors and plain Python values::

    {"format": "hsimin-model", "format_version": 1,
     "spec": {...},                  # create_model(spec) rebuilds the architecture
     "wavelengths": [nm, ...],       # the band centres the model was trained on
     "class_names": [...],           # output index -> name
     "recipe": {...} | None,         # the preprocessing recipe (Recipe.to_dict())
     "extra": {...},                 # anything else plain (metrics, split, training config summary)
     "hsimin_version": "...", "torch_version": "...",
     "state_dict": {name: tensor}, "sha256": "..."}   # sha256 = model_hash(state_dict)

It is read with ``torch.load(path, weights_only=True)`` only: a file holding pickled Python objects is refused
(:class:`UnsafeCheckpointError`) before anything in it runs. Inference needs nothing but this file.

A checkpoint is input like any other, so :func:`load_model` also refuses, with a :class:`ModelError` naming the
file, before it costs memory or gives a wrong map: an archive whose entries expand far beyond the file's size (a
small deflated file can carry gigabytes in its unhashed ``extra``); a spec whose parameters do not have the
stored weights' shapes (checked on torch's ``meta`` device, so ``widths=20000`` allocates nothing); weights that
are NaN or infinite (they map every pixel to class 0 with NaN confidence); a recipe that is not a recipe; and
class names that are not plain, printable text.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .. import __version__ as HSIMIN_VERSION
from ..core.errors import HsiminError, InputError, ModelError, UnsafeCheckpointError
from ..core.text import printable
from ..core.units import check_wavelengths
from ..io.atomic import atomic_output
from .hsimodel import create_model
from .registry import plain

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedModel", "save_model", "load_model", "model_hash"]

FORMAT = "hsimin-model"
FORMAT_VERSION = 1
_REQUIRED = ("format", "format_version", "spec", "wavelengths", "class_names", "state_dict", "sha256")


def model_hash(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of a state dict: every entry's name, dtype, shape and bytes, in name order.

    Equal weights give equal hashes whatever the device or memory layout; any changed value changes it.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            raise InputError(f"state_dict[{name!r}] is a {type(t).__name__}, not a tensor")
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model loaded by :func:`load_model`.

    Attributes
    ----------
    model : the ``nn.Module`` in eval mode; ``model(x)`` with ``x (N, B, H, W)`` gives logits
    wavelengths : ``(B,)`` float64 nm the model was trained on (resample cubes to this grid)
    class_names : K names, output index -> class
    recipe : the preprocessing recipe dict (``Recipe.from_dict``) or None
    spec : the model spec (``create_model(spec)`` rebuilds the architecture)
    version : hsimin version that wrote the checkpoint
    model_hash : sha256 of the weights (provenance: ``MineralMap.produced_by``)
    extra : further plain metadata stored at save time
    path : the file it was loaded from
    torch_version : torch version that wrote it
    """

    model: nn.Module
    wavelengths: np.ndarray
    class_names: tuple[str, ...]
    recipe: dict | None
    spec: dict
    version: str
    model_hash: str
    extra: dict = field(default_factory=dict)
    path: str = ""
    torch_version: str = ""

    @property
    def patch_size(self) -> int | None:
        """The window side the model expects (1 for pixel models), or None if it takes any."""
        return self.spec.get("patch_size")


def _plain_extra(value: Any, where: str) -> Any:
    """Like :func:`plain` but also keeps tensors (and turns numpy arrays into tensors)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise InputError(f"{where} has non-string keys {bad[:3]!r}; use string keys")
        return {k: _plain_extra(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_extra(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return plain(value, where)


def save_model(model: nn.Module, path: str | os.PathLike, *, wavelengths: Sequence[float],
               class_names: Sequence[str], recipe: Mapping | None = None, extra: Mapping | None = None,
               overwrite: bool = False) -> str:
    """Write ``model`` with everything inference needs to ``path`` (``.pt``), atomically.

    Parameters
    ----------
    model : a model built by :func:`hsimin.models.create_model` (or ``HSIModel``/``MultiBranchModel`` of
        registered parts): it must offer ``spec()``
    wavelengths : ``(B,)`` band centres in nm the model was trained on, one per input band
    class_names : K names, one per output
    recipe : the preprocessing recipe as a plain dict (``Recipe.to_dict()``), or None
    extra : further metadata: plain values, tensors or numpy arrays
    overwrite : replace an existing file (else :class:`OutputExistsError`)

    Returns the model hash (sha256 of the weights). Raises :class:`WavelengthError` for wavelengths that are not
    one increasing value per input band, :class:`InputError` for a class count that does not match the outputs
    or metadata that are not plain values, :class:`OutputError` when the path is unusable.
    """
    spec_fn = getattr(model, "spec", None)
    if not callable(spec_fn):
        raise ModelError("save_model needs a model built by hsimin.models.create_model (HSIModel or "
                         f"MultiBranchModel), got {type(model).__name__} without spec()")
    spec = plain(spec_fn(), "model spec")
    in_bands = getattr(model, "in_bands", None)
    wl = check_wavelengths(wavelengths, None if in_bands is None else int(in_bands),
                           "the wavelengths of the bands the model was trained on")
    names = [str(c) for c in class_names]
    n_out = getattr(model, "num_outputs", None)
    if n_out is not None and len(names) != int(n_out):
        raise InputError(f"{len(names)} class names for a model with {n_out} outputs; give one name per output")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    digest = model_hash(state)
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "spec": spec,
        "wavelengths": [float(w) for w in wl], "class_names": names,
        "recipe": None if recipe is None else plain(recipe, "recipe"),
        "extra": _plain_extra(dict(extra or {}), "extra"),
        "hsimin_version": str(HSIMIN_VERSION), "torch_version": str(torch.__version__),
        "state_dict": state, "sha256": digest,
    }
    with atomic_output(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return digest


def _unsafe_reason(exc: BaseException) -> str:
    m = re.search(r"Unsupported global: GLOBAL ([^\s]+)", str(exc))
    return f" (it references {m.group(1)})" if m else ""


def _builds_objects(path: Path) -> bool:
    """True if the file is a pickle (bare, or a torch zip's ``data.pkl``) that imports or calls Python objects.

    Only parses the opcodes with :mod:`pickletools`; nothing is unpickled."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(name) if name else b""
        else:
            data = path.read_bytes()
        return any(op.name in _OBJECT_OPCODES for op, _, _ in pickletools.genops(data))
    except Exception:  # noqa: BLE001 - not parseable as a pickle: not one that builds objects
        return False


_OBJECT_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE", "BUILD"}

ARCHIVE_SLACK_BYTES = 16 * 2**20
"""How much more than its own size a checkpoint archive may expand to. ``torch.save`` stores entries uncompressed,
so a genuine checkpoint expands to about its file size; a deflated one that unpacks to more was altered."""


def _check_archive(path: Path) -> None:
    """Refuse a zip checkpoint whose entries unpack to much more than the file holds (a decompression bomb), before
    torch reads any of it."""
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(max(0, i.file_size) for i in zf.infolist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return   # torch.load reports an unreadable file itself
    size = path.stat().st_size
    if unpacked > 2 * size + ARCHIVE_SLACK_BYTES:
        raise ModelError(f"the checkpoint's entries unpack to {unpacked} bytes from a {size}-byte file; "
                         "hsimin.models.save_model writes them uncompressed, so this file was altered (it could "
                         "fill memory): refused", path=path)


def _read(path: Path, map_location) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, weights_only=True, map_location=map_location)
    except pickle.UnpicklingError as exc:
        # torch's weights-only unpickler says "Unsupported operand" for bytes it cannot parse (a corrupt file, or
        # a pickle protocol it does not read); any other refusal means the file asks to build Python objects.
        msg = str(exc)
        unsafe = "Weights only load failed" in msg and ("Unsupported operand" not in msg or _builds_objects(path))
        if unsafe:
            raise UnsafeCheckpointError(
                f"the checkpoint holds pickled Python objects{_unsafe_reason(exc)}, which could run code when "
                "loaded; hsimin refuses to unpickle them. Use a checkpoint written by hsimin.models.save_model, "
                "or re-save a trusted one as plain tensors and values", path=path) from None
        raise ModelError("not a readable checkpoint (the bytes are not a torch checkpoint: corrupt or another "
                         "format); give a .pt file written by hsimin.models.save_model", path=path) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, AttributeError, IndexError) as exc:
        reason = str(exc)[:200] or "empty or truncated file"
        raise ModelError(f"not a readable checkpoint ({type(exc).__name__}: {reason}); give a .pt file written by "
                         "hsimin.models.save_model", path=path) from None


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint written by :func:`save_model`, safely.

    Reads with ``torch.load(path, weights_only=True)`` only, rebuilds the architecture from its spec through
    the registry, loads the weights strictly and checks their hash. Returns a :class:`LoadedModel` whose
    ``model`` is in eval mode on ``map_location``.

    Raises
    ------
    UnsafeCheckpointError : the file holds pickled Python objects (nothing in it was run)
    ModelError : missing file, not an hsimin checkpoint, newer format, unknown architecture, weights that do
        not fit the architecture or fail the hash check (the message names the file)
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError("no checkpoint file here; give the path of a .pt file written by "
                         "hsimin.models.save_model", path=p)
    _check_archive(p)
    ckpt = _read(p, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        what = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else f"keys {sorted(map(str, ckpt))[:8]}"
        raise ModelError(f"not an hsimin model checkpoint (it holds {what}, no format={FORMAT!r}); a bare "
                         "state_dict cannot be used: save models with hsimin.models.save_model", path=p)
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise ModelError(f"the checkpoint lacks {missing}; it is incomplete or was not written by "
                         "hsimin.models.save_model", path=p)
    version = ckpt["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"checkpoint format version {version!r} is newer than this hsimin reads "
                         f"({FORMAT_VERSION}); upgrade hsimin (written by hsimin {ckpt.get('hsimin_version')})",
                         path=p)
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("the checkpoint's state_dict is not a dict of tensors", path=p)
    if model_hash(state) != ckpt["sha256"]:
        raise ModelError("the weights do not match their sha256: the file is corrupt or was edited; use an "
                         "intact copy", path=p)
    _check_finite(state, p)
    names = _class_names(ckpt["class_names"], p)
    recipe = _recipe(ckpt.get("recipe"), p)
    _check_shapes(ckpt["spec"], state, p)
    model = _build(ckpt["spec"], p)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the weights do not fit the architecture in the spec: {str(exc)[:500]}", path=p) from None
    model.to(map_location).eval()
    in_bands = getattr(model, "in_bands", None)
    try:
        wl = check_wavelengths(ckpt["wavelengths"], None if in_bands is None else int(in_bands),
                               "the checkpoint's wavelengths")
    except (HsiminError, TypeError, ValueError) as exc:
        raise ModelError(f"{exc}; the checkpoint is inconsistent, re-save it with save_model", path=p) from None
    n_out = getattr(model, "num_outputs", None)
    if n_out is not None and len(names) != int(n_out):
        raise ModelError(f"the checkpoint lists {len(names)} class names for a model with {n_out} outputs", path=p)
    return LoadedModel(model=model, wavelengths=wl, class_names=names,
                       recipe=recipe, spec=dict(ckpt["spec"]),
                       version=str(ckpt.get("hsimin_version", "")), model_hash=str(ckpt["sha256"]),
                       extra=dict(ckpt.get("extra") or {}), path=str(p),
                       torch_version=str(ckpt.get("torch_version", "")))


# --------------------------------------------------------------------------- checks of a loaded checkpoint

def _build(spec, p: Path) -> nn.Module:
    try:
        return create_model(spec)
    except HsiminError as exc:
        raise ModelError(f"cannot rebuild the model from its spec: {exc.message}", path=p) from None
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as exc:  # a builder choking on a value
        raise ModelError(f"cannot rebuild the model from its spec ({type(exc).__name__}: {exc})", path=p) from None


def _check_shapes(spec, state: Mapping[str, torch.Tensor], p: Path) -> None:
    """Build the spec on torch's ``meta`` device (shapes, no memory) and compare its parameters with the stored
    weights, so a spec that asks for huge layers is refused before anything is allocated. The stored tensors are
    bounded by the file's size, so a spec that matches them is too."""
    try:
        with torch.device("meta"):
            ghost = create_model(spec)
    except HsiminError as exc:
        raise ModelError(f"cannot rebuild the model from its spec: {exc.message}", path=p) from None
    except Exception:  # noqa: BLE001 - a builder that needs real tensors: the real build below decides
        return
    want = {k: tuple(v.shape) for k, v in ghost.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or extra or wrong:
        parts = ([f"missing {missing[:3]}"] if missing else []) + ([f"unexpected {extra[:3]}"] if extra else []) + \
                [f"{k} is {have[k]} in the file but {want[k]} in the spec" for k in wrong[:2]]
        raise ModelError("the weights do not fit the architecture in the spec: " + "; ".join(parts), path=p)


def _check_finite(state: Mapping[str, torch.Tensor], p: Path) -> None:
    """Refuse NaN or infinite weights: such a model gives NaN outputs, which argmax turns into class 0 for every
    pixel."""
    for name, t in state.items():
        if t.is_floating_point() or t.is_complex():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ModelError(f"{bad} of the {t.numel()} weights of {name!r} are NaN or infinite; the model "
                                 "would map every pixel to its first class. Use an intact checkpoint (retrain if "
                                 "training diverged)", path=p)


def _class_names(value, p: Path) -> tuple[str, ...]:
    """The class names as plain, printable, non-empty strings (they become HDF5 strings, ENVI headers, legends)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ModelError(f"the checkpoint's class_names is {type(value).__name__}, want a non-empty list of names",
                         path=p)
    names = []
    for i, c in enumerate(value):
        if not isinstance(c, str) or not c.strip():
            raise ModelError(f"class name {i} is {printable(repr(c))[:40]}; want non-empty text", path=p)
        if printable(c) != c:
            raise ModelError(f"class name {i} ({printable(c)[:40]}) holds control or bidi-override characters; "
                             "re-save the model with plain names", path=p)
        names.append(c)
    return tuple(names)


def _recipe(value, p: Path) -> dict | None:
    """The checkpoint's preprocessing recipe dict (or None). Its steps are checked where they run
    (:func:`hsimin.predict.input_plan`), which names the step that cannot."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ModelError(f"the checkpoint's recipe is a {type(value).__name__}, not a recipe (a dict written by "
                         "Recipe.to_dict); re-save the model", path=p)
    return dict(value)
