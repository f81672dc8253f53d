"""hsimin.models (torch side): the backbone registry, heads, models, SSGSNet, checkpoints and the numpy <-> torch
layout conversion.

* ``list_backbones()``, ``create_backbone(name, in_bands=B, **kw)``, ``@register_backbone(name)``: backbones take
  ``(N, B, H, W)`` float32 and return ``(N, F)`` (pooled) or ``(N, F, H, W)`` (dense).
* ``create_model(spec)`` builds ``HSIModel(backbone, head)`` or ``MultiBranchModel(branches, head)`` from a plain
  dict; ``preset_spec("ssgsnet", in_bands, num_outputs)`` / ``ssgsnet_spec`` give SSGSNet's.
* ``save_model`` / ``load_model``: self-describing checkpoints read with ``torch.load(weights_only=True)`` only.
* ``to_torch`` / ``to_numpy`` / ``extract_patches``: the one place band-last arrays become tensors.
"""
from . import backbones as _backbones  # noqa: F401  (registers the built-in backbones)
from . import heads as _heads  # noqa: F401  (registers the built-in heads)
from .default import DEFAULT_MODEL_NAME, default_model_path, model_path  # noqa: F401  (the shipped model, hsimin/models/weights/)
from .device import resolve_device
from .checkpoint import FORMAT, FORMAT_VERSION, LoadedModel, load_model, model_hash, save_model
from .heads import DenseHead, LinearHead, RegressionHead
from .hsimodel import MODEL_TYPES, HSIModel, MultiBranchModel, create_model
from .layout import extract_patches, to_numpy, to_torch
from .registry import (Backbone, Head, backbone_builder, create_backbone, create_head, list_backbones, list_heads,
                       list_presets, preset_spec, register_backbone, register_head, register_preset)
from .ssgsnet import GatedFusionHead, ssgsnet_spec

__all__ = ["Backbone", "DenseHead", "FORMAT", "FORMAT_VERSION", "GatedFusionHead", "HSIModel", "Head",
           "LinearHead", "LoadedModel", "MODEL_TYPES", "MultiBranchModel", "RegressionHead", "backbone_builder",
           "create_backbone", "create_head", "create_model", "extract_patches", "list_backbones", "list_heads",
           "list_presets", "load_model", "model_hash", "preset_spec", "register_backbone", "register_head",
           "register_preset", "resolve_device", "save_model", "ssgsnet_spec", "to_numpy", "to_torch"]
