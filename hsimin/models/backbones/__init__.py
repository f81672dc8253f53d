"""Built-in backbones: one module per backbone, each registering itself with ``@register_backbone``.

Importing this package imports every module in this folder (files starting with ``_`` hold shared layers
and register nothing), so adding a backbone is adding one file. See ``docs/howto_add_backbone.md``.
"""
from __future__ import annotations

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
