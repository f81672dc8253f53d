"""Models = registered backbone(s) + a registered head, described by a plain spec dict (ARCHITECTURE §4).

* :class:`HSIModel` — one backbone and one head: ``model.backbone``, ``model.head``.
* :class:`MultiBranchModel` — several pooled backbones seeing the same input, fused by a multi-branch head
  (SSGSNet: ``resnet_casa`` + ``vit`` + ``gated_fusion``).
* :func:`create_model` builds either from a plain dict, so training, inference and checkpoint loading never
  branch on architecture names::

      {"backbone": {"name": "cnn1d", "in_bands": 270}, "head": {"name": "linear", "num_outputs": 12}}
      {"branches": {"resnet": {"name": "resnet_casa", "in_bands": 15},
                    "vit": {"name": "vit", "in_bands": 15, "img_size": 32}},
       "head": {"name": "gated_fusion", "num_outputs": 2}, "patch_size": 32}
      {"preset": "ssgsnet", "in_bands": 15, "num_outputs": 2, "window": 32}

  Shorthands: a backbone or head may be a bare name; top-level ``in_bands`` and ``num_outputs`` (or
  ``num_classes``) fill the parts that lack them; a missing head defaults to ``dense`` for dense backbones and
  ``linear`` otherwise. ``model.spec()`` returns the fully expanded form, which ``create_model`` rebuilds.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..core.errors import ModelError
from .registry import create_backbone, create_head, plain, preset_spec

__all__ = ["HSIModel", "MultiBranchModel", "create_model", "MODEL_TYPES"]


def _spec_of(module: nn.Module, what: str) -> dict:
    spec = getattr(module, "spec", None)
    if not isinstance(spec, dict):
        raise ModelError(f"the {what} was not built by hsimin.models.create_backbone/create_head, so it has no "
                         "spec to rebuild it from; build it through the registry to save it")
    return dict(spec)


def _check_patch_size(patch_size) -> int | None:
    if patch_size is None:
        return None
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ModelError(f"patch_size must be a positive int (the H = W window the model was trained on) or None, "
                         f"got {patch_size!r}")
    return patch_size


class HSIModel(nn.Module):
    """A classifier (or regressor): ``head(backbone(x))``.

    Parameters
    ----------
    backbone : a registered backbone (``create_backbone``), pooled or dense
    head : a single-branch head whose ``dense`` matches the backbone's
    patch_size : the window side the model is meant to see (1 for pixel models, e.g. 9 or 32 for patch
        models), or None for any; stored in the spec so inference needs no training config.

    ``forward``: ``(N, B, H, W)`` float32 -> logits ``(N, K)`` (pooled) or ``(N, K, H, W)`` (dense).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, *, patch_size: int | None = None):
        super().__init__()
        if getattr(head, "multi_branch", False):
            raise ModelError("a multi-branch head (e.g. 'gated_fusion') needs several backbones: use "
                             "MultiBranchModel or a spec with 'branches'")
        if bool(getattr(backbone, "dense", False)) != bool(getattr(head, "dense", False)):
            kind = "dense (N, F, H, W)" if getattr(backbone, "dense", False) else "pooled (N, F)"
            raise ModelError(f"the backbone gives {kind} features but the head expects "
                             f"{'dense' if getattr(head, 'dense', False) else 'pooled'} ones; use head "
                             f"{'dense' if getattr(backbone, 'dense', False) else 'linear'!r}")
        self.backbone = backbone
        self.head = head
        self.patch_size = _check_patch_size(patch_size)

    @property
    def in_bands(self) -> int:
        return int(self.backbone.in_bands)

    @property
    def num_outputs(self) -> int:
        return int(self.head.num_outputs)

    @property
    def dense(self) -> bool:
        """True if the output is ``(N, K, H, W)``."""
        return bool(self.head.dense)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features: ``(N, B, H, W)`` -> ``(N, F)`` or ``(N, F, H, W)``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def reset_classifier(self, num_classes: int, *, keep=None) -> "HSIModel":
        """Replace the head by one with ``num_classes`` outputs (timm's ``reset_classifier``), in place; the
        backbone is untouched. ``keep``: the new index of each old class (e.g. ``range(K_old)`` when classes are
        appended), whose head weights are carried over. Returns the model (its ``spec()`` follows)."""
        self.head = _reset_head(self.head, self.backbone.num_features, num_classes, keep)
        return self

    def spec(self) -> dict:
        """The plain dict that :func:`create_model` rebuilds this model from (weights excluded)."""
        return {"type": "single", "backbone": _spec_of(self.backbone, "backbone"),
                "head": _spec_of(self.head, "head"), "patch_size": self.patch_size}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "HSIModel":
        if not spec.get("backbone"):
            raise ModelError("model spec needs a 'backbone' (one registered backbone) or 'branches' (several, "
                             "with a fusion head)")
        backbone = create_backbone(**_backbone_part(spec["backbone"], "backbone", spec))
        hspec = _head_part(spec.get("head") or ("dense" if backbone.dense else "linear"), spec)
        head = create_head(num_features=backbone.num_features, **hspec)
        return cls(backbone, head, patch_size=spec.get("patch_size"))


def _reset_head(old: nn.Module, num_features, num_outputs: int, keep) -> nn.Module:
    """A new head like ``old`` with ``num_outputs`` outputs. ``keep``: for each old output ``i``, the new index it
    moves to (or None); those outputs' weights (every head parameter whose first axis is the old output count)
    are copied over, the rest are freshly initialised."""
    spec = {k: v for k, v in dict(old.spec).items() if k != "num_outputs"}
    name = spec.pop("name")
    new = create_head(name, num_features, int(num_outputs), **spec)
    if keep is not None:
        k_old = int(old.num_outputs)
        keep = list(keep)
        if len(keep) != k_old:
            raise ModelError(f"keep= gives {len(keep)} positions for the head's {k_old} outputs")
        src, dst = old.state_dict(), new.state_dict()
        for key, v in src.items():
            if key in dst and v.ndim >= 1 and v.shape[0] == k_old and dst[key].shape[1:] == v.shape[1:]:
                w = dst[key].clone()
                for i, j in enumerate(keep):
                    if j is not None:
                        if not 0 <= int(j) < int(num_outputs):
                            raise ModelError(f"keep= moves output {i} to {j}, outside 0..{num_outputs - 1}")
                        w[int(j)] = v[i]
                dst[key] = w
            elif key in dst and dst[key].shape == v.shape:
                dst[key] = v.clone()   # layers before the last (a fusion head's gates) carry over whole
        new.load_state_dict(dst)
    return new.to(next(old.parameters()).device) if any(True for _ in old.parameters()) else new


class MultiBranchModel(nn.Module):
    """Several pooled backbones applied to the same input, fused by a multi-branch head:
    ``head({name: branch(x)})``.

    Parameters
    ----------
    branches : ``{name: backbone}``, all pooled and all built for the same ``in_bands``; order is kept
    head : a multi-branch head (e.g. ``gated_fusion``) built for ``{name: num_features}``
    patch_size : as for :class:`HSIModel`

    ``forward``: ``(N, B, H, W)`` -> ``(N, K)``.
    """

    def __init__(self, branches: Mapping[str, nn.Module], head: nn.Module, *, patch_size: int | None = None):
        super().__init__()
        if not branches:
            raise ModelError("a multi-branch model needs at least one branch")
        if not getattr(head, "multi_branch", False):
            raise ModelError("a MultiBranchModel needs a multi-branch head such as 'gated_fusion'")
        bad = [n for n in branches if not (isinstance(n, str) and n.isidentifier())]
        if bad:
            raise ModelError(f"branch names must be identifiers (letters, digits, _), got {bad}")
        dense = [n for n, b in branches.items() if getattr(b, "dense", False)]
        if dense:
            raise ModelError(f"branches {dense} are dense; multi-branch fusion takes pooled backbones only")
        bands = {n: getattr(b, "in_bands", None) for n, b in branches.items()}
        if len(set(bands.values())) != 1:
            raise ModelError(f"all branches must take the same number of bands, got {bands}")
        self.branches = nn.ModuleDict(dict(branches))
        self.head = head
        self.patch_size = _check_patch_size(patch_size)

    @property
    def in_bands(self) -> int:
        return int(next(iter(self.branches.values())).in_bands)

    @property
    def num_outputs(self) -> int:
        return int(self.head.num_outputs)

    @property
    def dense(self) -> bool:
        return False

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each branch's pooled features: ``(N, B, H, W)`` -> ``{name: (N, F_name)}``."""
        return {name: branch(x) for name, branch in self.branches.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reset_classifier(self, num_classes: int, *, keep=None) -> "MultiBranchModel":
        """As :meth:`HSIModel.reset_classifier`: a fusion head with ``num_classes`` outputs, in place."""
        self.head = _reset_head(self.head, {n: b.num_features for n, b in self.branches.items()}, num_classes,
                                keep)
        return self

    def spec(self) -> dict:
        """The plain dict that :func:`create_model` rebuilds this model from (weights excluded)."""
        return {"type": "multi_branch",
                "branches": {n: _spec_of(b, f"branch {n!r}") for n, b in self.branches.items()},
                "head": _spec_of(self.head, "head"), "patch_size": self.patch_size}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "MultiBranchModel":
        raw = spec.get("branches")
        if not isinstance(raw, Mapping) or not raw:
            raise ModelError("a multi-branch spec needs 'branches': a non-empty {name: backbone spec} dict")
        branches = {str(n): create_backbone(**_backbone_part(b, f"branch {n!r}", spec)) for n, b in raw.items()}
        if not spec.get("head"):
            raise ModelError("a multi-branch spec needs a 'head' (e.g. 'gated_fusion')")
        hspec = _head_part(spec["head"], spec)
        head = create_head(num_features={n: b.num_features for n, b in branches.items()}, **hspec)
        return cls(branches, head, patch_size=spec.get("patch_size"))


def _named(value, what: str) -> dict:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise ModelError(f"model spec: the {what} must be a registered name or a dict with a 'name', got "
                         f"{value!r}")
    return dict(value)


def _backbone_part(value, what: str, spec: Mapping[str, Any]) -> dict:
    """A backbone sub-spec as a dict, with the top-level ``in_bands`` filled in."""
    out = _named(value, what)
    if "in_bands" not in out and spec.get("in_bands") is not None:
        out["in_bands"] = spec["in_bands"]
    if "in_bands" not in out:
        raise ModelError(f"model spec: the {what} needs in_bands (the number of bands); give it there or as "
                         "top-level 'in_bands'")
    return out


def _head_part(value, spec: Mapping[str, Any]) -> dict:
    """A head sub-spec as a dict, with the top-level ``num_outputs`` (or ``num_classes``) filled in."""
    out = _named(value, "head")
    n = spec.get("num_outputs", spec.get("num_classes"))
    if "num_outputs" not in out and n is not None:
        out["num_outputs"] = n
    if "num_outputs" not in out:
        raise ModelError("model spec: the head needs num_outputs (the number of classes); give it in the head "
                         "or as top-level 'num_outputs'")
    return out


def _from_preset(spec: Mapping[str, Any]) -> nn.Module:
    kw = {k: v for k, v in spec.items() if k not in ("type", "preset", "in_bands", "num_outputs", "num_classes")}
    n = spec.get("num_outputs", spec.get("num_classes"))
    if spec.get("in_bands") is None or n is None:
        raise ModelError(f"preset {spec['preset']!r} needs in_bands and num_outputs in the spec")
    return create_model(preset_spec(spec["preset"], spec["in_bands"], n, **kw))


MODEL_TYPES: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "single": HSIModel.from_spec,
    "multi_branch": MultiBranchModel.from_spec,
    "preset": _from_preset,
}
"""Model kinds :func:`create_model` builds, by the spec's ``type``. Register a new kind by adding a
``from_spec(spec) -> nn.Module`` here; the built module must offer ``spec()``."""


_INFERRED_TYPES = (("preset", "preset"), ("branches", "multi_branch"))
"""(key, type): a spec without ``type`` that has ``key`` is of that type; otherwise it is ``single``."""


def create_model(spec: Mapping[str, Any]) -> nn.Module:
    """Build a model from a plain spec dict (see the module docstring for its forms).

    ``type`` picks the kind (:data:`MODEL_TYPES`); without it, a spec with ``preset`` is a preset, one with
    ``branches`` is multi-branch, otherwise single. Returns a freshly initialised model in train mode.
    Raises :class:`ModelError` for an unusable spec (unknown names, missing parts).
    """
    if not isinstance(spec, Mapping):
        raise ModelError(f"a model spec is a dict (e.g. {{'backbone': 'cnn1d', 'in_bands': 270, "
                         f"'num_outputs': 5}}), got {type(spec).__name__}")
    spec = plain(spec, "model spec")
    kind = spec.get("type") or next((t for key, t in _INFERRED_TYPES if key in spec), "single")
    if kind not in MODEL_TYPES:
        raise ModelError(f"model spec type {kind!r} is unknown; known types: {', '.join(MODEL_TYPES)}")
    return MODEL_TYPES[kind](spec)
