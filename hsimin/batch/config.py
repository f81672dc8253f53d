"""What decides a batch run's outputs: :class:`BatchConfig` (classifier, masking, features, depth options), the
recipe a run may use, and :func:`config_hash`, the hash a re-run compares to skip finished trays."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..core.errors import ConfigError, HsiminError

__all__ = ["BatchConfig", "config_hash", "recipe_from_file"]


@dataclass(frozen=True)
class BatchConfig:
    """Everything that decides a batch run's outputs, plus how to run it.

    Classifier (exactly one of ``model``/``library``): ``model`` a checkpoint path; ``library`` a library id
    or file with ``method`` (``sam``, ``sid``, ``match``, ``mixture``) and an optional ``recipe`` (a
    :class:`~hsimin.preprocess.Recipe` dict). ``artefacts``: recognise tray artefacts (plastic, wood, cardboard,
    metal) from the ``usgs_artefacts`` spectra: added to the library, or, for a model without artefact classes,
    used to screen the tray out before the model runs. ``library_gate`` (model only): for a model with an
    ``aspectral`` class, aspectral and unknown decided by the library path's SWIR answer, as ``hsimin classify``
    does by default (:func:`hsimin.predict.workflow.library_gate_map`); False leaves them to the model.
    ``top_k``: best classes kept per pixel (library). Masking: ``min_albedo``, ``min_contrast``,
    ``saturation`` (see :mod:`hsimin.preprocess.masking`; ``min_contrast`` 0 skips the flat test, which costs a
    continuum removal per pixel and which the classifier's artefact classes make redundant on black trays).
    Features: ``windows`` (``hsimin features --windows`` syntax), ``min_depth``. Depth: ``gaps``, ``order``
    (:mod:`hsimin.batch.depth`). ``block_mb``: block budget (MiB of float32 reflectance).

    ``threads`` (per tray; 0: the runner derives it from the cores and the session's size), ``interval_m``
    (down-hole log) and ``classifier_id`` (filled in by the runner: model hash, or library checksum) are not
    processing options; ``threads``, ``interval_m`` and ``block_mb`` stay out of :func:`config_hash`, so
    changing them never re-processes a tray (the block size never changes the outputs; the thread count may only
    change the last bits of model scores, which is why the runner gives every executor the same count).
    """

    model: str | None = None
    library: str | None = None
    method: str = "unmix"
    artefacts: bool = True
    library_gate: bool = True
    top_k: int = 3
    recipe: dict | None = None
    min_albedo: float = 0.03
    min_contrast: float = 0.0
    saturation: float = 1.05
    windows: str = "default"
    min_depth: float = 0.02
    gaps: str = "keep"
    order: str = "default"
    block_mb: int = 64
    threads: int = 0
    interval_m: float = 1.0
    classifier_id: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.model is None) == (self.library is None):
            raise ConfigError("give either a model (--model) or a spectral library (--library), not both")
        if self.model is not None and self.recipe is not None:
            raise ConfigError("a model carries its own preprocessing recipe; --recipe applies to --library only")
        if self.model is None and not self.library_gate:
            raise ConfigError("--no-library-gate applies to --model only (a library run's answers are the library "
                              "path's own)")
        from ..classical.defaults import METHOD_NAMES
        if self.library is not None and self.method not in METHOD_NAMES:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHOD_NAMES)}")
        if self.method == "unmix" and self.recipe is not None:
            raise ConfigError("--method unmix does its own preprocessing (common resolution, continuum removal); "
                              "--recipe applies to sam, sid, match and mixture")
        from .depth import GAP_MODES, ORDERS
        if self.gaps not in GAP_MODES:
            raise ConfigError(f"gaps must be one of {', '.join(GAP_MODES)}, got {self.gaps!r}")
        if self.order not in ORDERS:
            raise ConfigError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        for name, lo in (("top_k", 1), ("block_mb", 1), ("threads", 0)):
            if int(getattr(self, name)) < lo:
                raise ConfigError(f"{name} must be >= {lo}, got {getattr(self, name)}")
        if not (math.isfinite(self.interval_m) and self.interval_m > 0):
            raise ConfigError(f"the log interval must be a positive number of metres, got {self.interval_m}")
        for name in ("min_albedo", "min_contrast", "min_depth"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {v}")
        if not float(self.min_depth) < 1:
            raise ConfigError(f"min_depth is a depth below the continuum, below 1; got {self.min_depth}")
        if not self.saturation > 0:
            raise ConfigError(f"saturation must be > 0, got {self.saturation}")
        from ..classical.features import parse_windows
        try:
            parse_windows(self.windows)
        except HsiminError as exc:
            raise ConfigError(f"feature windows: {exc}") from None
        if self.recipe is not None:
            from ..preprocess import Recipe
            Recipe.from_dict(self.recipe)  # validates

    def processing(self) -> dict:
        """The fields that decide the outputs (what :func:`config_hash` hashes)."""
        d = dataclasses.asdict(self)
        for k in ("threads", "interval_m", "block_mb"):  # outputs do not depend on these
            d.pop(k)
        return d

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recipe_from_file(path) -> dict:
    """A preprocessing recipe file (``.toml``, or ``.json`` as written by ``Recipe.to_json``) as a recipe dict
    for :attr:`BatchConfig.recipe`. Raises :class:`ConfigError` naming the file when it cannot be used."""
    from ..io.files import read_text_file
    from ..preprocess import Recipe
    p = Path(path)
    text = read_text_file(p, what="the recipe", max_bytes=2**20, error=ConfigError)   # no FIFO, no /dev/zero
    try:
        if p.suffix.lower() == ".json":
            recipe = Recipe.from_dict(json.loads(text))
        else:
            recipe = Recipe.from_toml(text)
    except (HsiminError, ValueError) as exc:
        raise ConfigError(f"not a usable recipe: {exc}", path=p) from None
    return recipe.to_dict()


def config_hash(config: BatchConfig) -> str:
    """SHA-256 of the processing options, the classifier's identity and hsimin's version."""
    text = json.dumps({"config": config.processing(), "hsimin": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
