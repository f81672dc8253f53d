"""Training configuration: a TOML file -> validated, frozen dataclasses -> the resolved config written to the
run folder (TOML and JSON), so a run can be repeated from its folder alone.

Sections (every key optional unless marked; see ``configs/example_train.toml``)::

    seed = 0                      # everything random derives from it
    device = "cpu"                # cpu | cuda | auto
    deterministic = true          # torch.use_deterministic_algorithms during training
    threads = 2                   # torch CPU threads (default: torch's); 1 is fastest on a busy machine

    [data]
    patch_size = 1                # 1: pixels; k: k x k patches centred on the labelled pixel
    pad_mode = "reflect"          # border padding of patches: reflect | edge | symmetric | constant
    max_per_class = 2000          # cap of samples per class and source (seeded choice); omit for all
    classes = ["kaolinite", ...]  # keep only these classes, in this order (default: all, sorted/first seen)
    min_groups_per_class = 2      # drop classes with fewer groups (physical samples / trays)
    [data.grid]                   # resample every source to these bands (nm): one of
    sample_tray = true            #   the bundled sample tray's bands, or
    cube = "path/to/cube.hdr"     #   a cube's bands, or
    start = 1000.0, stop = 2500.0, step = 6.0, fwhm = 10.0   # an even grid
    [[data.library]]              # spectral-library sources
    id = "usgs_splib07"           # bundled id or a file
    purity = "ab", instruments = ["ASD"], minerals = [...], include_mixtures = false
    wavelength_range = [1000, 2500], min_coverage = 1.0
    exclude_sample_ids = [...]    # physical samples left out (e.g. those a test tray was made of)
    exclude_sample_tray = false   # leave out the samples of the bundled sample tray
    [[data.cube]]                 # labelled cubes: a cube and its label raster (a map file hsimin.open_map reads)
    path = "tray.hdr", labels = "tray_labels.h5", group = "hole-A"   # group default: the tray id
    [[data.unlabelled]]           # unlabelled cubes for [ssl] pretraining and the [dann] target domain
    path = "other_tray.hdr", n = 5000
    [[data.simulated]]            # scanner-like spectra simulated from a library (hsimin.train.simulated)
    n = 60000, fwhm = [9.0, 11.0, 13.0], params = {max_dilution = 0.9}

    [recipe]                      # hsimin.preprocess.Recipe.from_dict(...): the same steps at inference
    [model]                       # hsimin.models.create_model spec; in_bands, num_outputs, patch_size filled in
    backbone = {name = "cnn1d", widths = [32, 64, 64]}
    head = "linear"
    init_from = "pretrained.pt"   # copy matching backbone weights from an hsimin checkpoint before training
    [split]
    kind = "group"                # group | spatial_block | random (random is reported as optimistic)
    test_fraction = 0.2, val_fraction = 0.15, seed = 0, stratify = true
    block_size = 32, gap = 4      # spatial_block: block side and gap (pixels; default gap = patch radius)
    [augment]                     # hsimin.data.build_augment: mixing, shift, slope, brightness, flip, noise
    noise = {snr = [100, 1000]}
    [optim]
    epochs = 30, batch_size = 64, lr = 1e-3, weight_decay = 1e-2, schedule = "cosine", warmup_epochs = 1
    patience = 8, min_delta = 0.0, monitor = "val_loss", balance = true, label_smoothing = 0.0
    [ssl]                         # SimCLR pretraining of the backbone before fine-tuning
    enabled = false, epochs = 20, batch_size = 128, lr = 1e-3, temperature = 0.2, proj_dim = 64
    [dann]                        # domain-adversarial training towards [[data.unlabelled]]
    enabled = false, lambda_max = 1.0, gamma = 10.0, domain_weight = 1.0, hidden = [64, 64]
    [output]
    dir = "runs/example", checkpoint = "model.pt", overwrite = false, progress = "auto"

Relative paths are relative to the config file's folder. Unknown keys and bad values raise
:class:`~hsimin.core.errors.ConfigError` naming the key (``optim.lr: must be > 0``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..core.errors import ConfigError
from ..core.toml_text import parse_toml, toml_dumps

__all__ = ["CubeSource", "DANNConfig", "DataConfig", "GridConfig", "LibrarySource", "ModelConfig", "OptimConfig",
           "OutputConfig", "SSLConfig", "SplitConfig", "TrainConfig", "UnlabelledSource", "config_to_json",
           "config_to_toml", "load_config", "parse_config", "toml_dumps"]

SPLIT_KINDS = ("group", "spatial_block", "random")


# ------------------------------------------------------------------------------------------ value checks
class _Table:
    """A config table being read: tracks the keys used so unknown keys can be reported."""

    def __init__(self, value: Any, where: str):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: must be a table ({{...}}), got {type(value).__name__}")
        self.d = dict(value)
        self.where = where
        self.used: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def get(self, k: str, default: Any = None) -> Any:
        self.used.add(k)
        return self.d.get(k, default)

    def has(self, k: str) -> bool:
        return k in self.d

    def done(self) -> None:
        extra = sorted(set(self.d) - self.used)
        if extra:
            raise ConfigError(f"{self.key(extra[0])}: unknown key; known keys here: {', '.join(sorted(self.used))}")


def _int(t: _Table, k: str, default, *, minimum: int | None = None, optional: bool = False) -> int | None:
    v = t.get(k, default)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{t.key(k)}: must be an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{t.key(k)}: must be >= {minimum}, got {v}")
    return v


def _float(t: _Table, k: str, default, *, low: float | None = None, high: float | None = None,
           open_low: bool = False, optional: bool = False) -> float | None:
    v = t.get(k, default)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{t.key(k)}: must be a number, got {v!r}")
    v = float(v)
    if low is not None and (v < low or (open_low and v == low)):
        raise ConfigError(f"{t.key(k)}: must be {'>' if open_low else '>='} {low:g}, got {v:g}")
    if high is not None and v > high:
        raise ConfigError(f"{t.key(k)}: must be <= {high:g}, got {v:g}")
    return v


def _bool(t: _Table, k: str, default: bool) -> bool:
    v = t.get(k, default)
    if not isinstance(v, bool):
        raise ConfigError(f"{t.key(k)}: must be true or false, got {v!r}")
    return v


def _str(t: _Table, k: str, default, *, choices=None, optional: bool = False) -> str | None:
    v = t.get(k, default)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise ConfigError(f"{t.key(k)}: must be a string, got {v!r}")
    if choices is not None and v not in choices:
        raise ConfigError(f"{t.key(k)}: must be one of {', '.join(choices)}, got {v!r}")
    return v


def _strs(t: _Table, k: str) -> tuple[str, ...] | None:
    v = t.get(k)
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise ConfigError(f"{t.key(k)}: must be a list of strings, got {v!r}")
    return tuple(v)


def _path(t: _Table, k: str, base: Path, *, optional: bool = False) -> str | None:
    v = _str(t, k, None, optional=True)
    if v is None:
        if optional:
            return None
        raise ConfigError(f"{t.key(k)}: required (a file path)")
    p = Path(v).expanduser()
    return os.path.normpath(p if p.is_absolute() else (base / p))


# ------------------------------------------------------------------------------------------ dataclasses
@dataclass(frozen=True)
class LibrarySource:
    """A spectral library source (``[[data.library]]``); filters as :func:`hsimin.io.libraries.load_library`."""

    id: str = "usgs_splib07"
    purity: str | None = None
    instruments: tuple[str, ...] | None = None
    minerals: tuple[str, ...] | None = None
    include_mixtures: bool = False
    wavelength_range: tuple[float, float] | None = None
    min_coverage: float = 0.0
    exclude_sample_ids: tuple[str, ...] = ()
    exclude_sample_tray: bool = False


@dataclass(frozen=True)
class CubeSource:
    """A labelled cube (``[[data.cube]]``): cube path, label map path (``hsimin.open_map``), group id."""

    path: str
    labels: str
    group: str | None = None


@dataclass(frozen=True)
class UnlabelledSource:
    """An unlabelled cube (``[[data.unlabelled]]``): ``n`` random core pixels for SSL / the DANN target."""

    path: str
    n: int = 5000


@dataclass(frozen=True)
class GridConfig:
    """The band grid every source is resampled to (``[data.grid]``): the sample tray's, a cube's, or an even
    grid ``start..stop`` by ``step`` nm with Gaussian bands of ``fwhm`` nm."""

    sample_tray: bool = False
    cube: str | None = None
    start: float | None = None
    stop: float | None = None
    step: float | None = None
    fwhm: float | None = None


@dataclass(frozen=True)
class DataConfig:
    libraries: tuple[LibrarySource, ...] = ()
    cubes: tuple[CubeSource, ...] = ()
    unlabelled: tuple[UnlabelledSource, ...] = ()
    grid: GridConfig | None = None
    simulated: tuple = ()          # hsimin.train.simulated.SimulatedSource, one per [[data.simulated]]
    patch_size: int = 1
    pad_mode: str = "reflect"
    max_per_class: int | None = None
    classes: tuple[str, ...] | None = None
    min_groups_per_class: int = 1


@dataclass(frozen=True)
class ModelConfig:
    """``spec``: the :func:`hsimin.models.create_model` spec (without in_bands/num_outputs, filled from the data);
    ``init_from``: a checkpoint whose matching backbone weights initialise the model."""

    spec: dict = field(default_factory=lambda: {"backbone": "cnn1d", "head": "linear"})
    init_from: str | None = None


@dataclass(frozen=True)
class SplitConfig:
    kind: str = "group"
    test_fraction: float = 0.2
    val_fraction: float = 0.15
    seed: int = 0
    stratify: bool = True
    block_size: int = 32
    gap: int | None = None


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    patience: int | None = 8
    min_delta: float = 0.0
    monitor: str = "val_loss"
    balance: bool = True
    label_smoothing: float = 0.0
    grad_clip: float | None = None


@dataclass(frozen=True)
class SSLConfig:
    enabled: bool = False
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    temperature: float = 0.2
    proj_dim: int = 64
    augment: dict | None = None


@dataclass(frozen=True)
class DANNConfig:
    enabled: bool = False
    lambda_max: float = 1.0
    gamma: float = 10.0
    domain_weight: float = 1.0
    hidden: tuple[int, ...] = (64, 64)


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "runs/train"
    checkpoint: str = "model.pt"
    overwrite: bool = False
    progress: str = "auto"


@dataclass(frozen=True)
class TrainConfig:
    """The whole training configuration (see the module docstring). ``source`` is the file it was read from."""

    data: DataConfig = field(default_factory=DataConfig)
    recipe: dict | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: dict = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    dann: DANNConfig = field(default_factory=DANNConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    seed: int = 0
    device: str = "cpu"
    deterministic: bool = True
    threads: int | None = None
    source: str | None = None

    def to_dict(self) -> dict:
        """Plain nested dict of the resolved config (tuples as lists; paths absolute)."""
        return _plain(dataclasses.asdict(self))

    def replace(self, **sections) -> "TrainConfig":
        return dataclasses.replace(self, **sections)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# ------------------------------------------------------------------------------------------ parsing
def _list_of_tables(t: _Table, k: str) -> list[_Table]:
    v = t.get(k)
    if v is None:
        return []
    if isinstance(v, Mapping):
        v = [v]
    if not isinstance(v, list):
        raise ConfigError(f"{t.key(k)}: must be an array of tables ([[{t.key(k)}]])")
    return [_Table(x, f"{t.key(k)}[{i}]") for i, x in enumerate(v)]


def _library(t: _Table, base: Path) -> LibrarySource:
    wr = t.get("wavelength_range")
    if wr is not None and (not isinstance(wr, (list, tuple)) or len(wr) != 2
                           or not all(isinstance(x, (int, float)) for x in wr) or not wr[0] < wr[1]):
        raise ConfigError(f"{t.key('wavelength_range')}: must be [low, high] nm with low < high, got {wr!r}")
    lib_id = _str(t, "id", "usgs_splib07")
    if ("/" in lib_id or lib_id.endswith((".h5", ".sli", ".hdr", ".csv", ".txt", ".tsv"))) \
            and not Path(lib_id).is_absolute():
        lib_id = str(base / lib_id)
    out = LibrarySource(
        id=lib_id, purity=_str(t, "purity", None, optional=True), instruments=_strs(t, "instruments"),
        minerals=_strs(t, "minerals"), include_mixtures=_bool(t, "include_mixtures", False),
        wavelength_range=None if wr is None else (float(wr[0]), float(wr[1])),
        min_coverage=_float(t, "min_coverage", 0.0, low=0.0, high=1.0),
        exclude_sample_ids=_strs(t, "exclude_sample_ids") or (),
        exclude_sample_tray=_bool(t, "exclude_sample_tray", False))
    t.done()
    return out


def _grid(t: _Table, base: Path) -> GridConfig:
    g = GridConfig(sample_tray=_bool(t, "sample_tray", False), cube=_path(t, "cube", base, optional=True),
                   start=_float(t, "start", None, optional=True), stop=_float(t, "stop", None, optional=True),
                   step=_float(t, "step", None, low=0.0, open_low=True, optional=True),
                   fwhm=_float(t, "fwhm", None, low=0.0, open_low=True, optional=True))
    t.done()
    chosen = [g.sample_tray, g.cube is not None, g.start is not None]
    if sum(chosen) != 1:
        raise ConfigError(f"{t.where}: give exactly one of sample_tray = true, cube = PATH, or start/stop/step")
    if g.start is not None and (g.stop is None or g.step is None or not g.start < g.stop):
        raise ConfigError(f"{t.where}: an even grid needs start < stop and step (nm)")
    return g


def _data(t: _Table, base: Path) -> DataConfig:
    libs = [_library(x, base) for x in _list_of_tables(t, "library")]
    cubes = []
    for x in _list_of_tables(t, "cube"):
        cubes.append(CubeSource(_path(x, "path", base), _path(x, "labels", base),
                                _str(x, "group", None, optional=True)))
        x.done()
    unl = []
    for x in _list_of_tables(t, "unlabelled"):
        unl.append(UnlabelledSource(_path(x, "path", base), _int(x, "n", 5000, minimum=1)))
        x.done()
    grid = _grid(_Table(t.get("grid"), t.key("grid")), base) if t.has("grid") else None
    from .simulated import parse_simulated
    sims = tuple(parse_simulated(x.d, x.where) for x in _list_of_tables(t, "simulated"))
    out = DataConfig(tuple(libs), tuple(cubes), tuple(unl), grid, simulated=sims,
                     patch_size=_int(t, "patch_size", 1, minimum=1),
                     pad_mode=_str(t, "pad_mode", "reflect", choices=("reflect", "edge", "symmetric", "constant")),
                     max_per_class=_int(t, "max_per_class", None, minimum=1, optional=True),
                     classes=_strs(t, "classes"),
                     min_groups_per_class=_int(t, "min_groups_per_class", 1, minimum=1))
    t.done()
    if not libs and not cubes and not sims:
        raise ConfigError(f"{t.where}: no training data; add [[data.library]], [[data.cube]] or [[data.simulated]] "
                          "sources")
    return out


def _model(t: _Table, base: Path) -> ModelConfig:
    spec = {k: v for k, v in t.d.items() if k != "init_from"}
    init = _path(t, "init_from", base, optional=True)
    for k in ("in_bands", "num_outputs", "num_classes"):
        if k in spec:
            raise ConfigError(f"model.{k}: set from the data (bands after the recipe, number of classes); remove it")
    if not any(k in spec for k in ("backbone", "branches", "preset")):
        raise ConfigError("model: give a backbone (e.g. backbone = {name = \"cnn1d\"}), branches, or a preset")
    return ModelConfig(spec=spec, init_from=init)


def _split(t: _Table) -> SplitConfig:
    out = SplitConfig(kind=_str(t, "kind", "group", choices=SPLIT_KINDS),
                      test_fraction=_float(t, "test_fraction", 0.2, low=0.0, high=0.9, open_low=True),
                      val_fraction=_float(t, "val_fraction", 0.15, low=0.0, high=0.9),
                      seed=_int(t, "seed", 0), stratify=_bool(t, "stratify", True),
                      block_size=_int(t, "block_size", 32, minimum=1),
                      gap=_int(t, "gap", None, minimum=0, optional=True))
    t.done()
    return out


def _optim(t: _Table) -> OptimConfig:
    from .loop import SCHEDULES
    out = OptimConfig(epochs=_int(t, "epochs", 30, minimum=1), batch_size=_int(t, "batch_size", 64, minimum=1),
                      lr=_float(t, "lr", 1e-3, low=0.0, open_low=True),
                      weight_decay=_float(t, "weight_decay", 1e-2, low=0.0),
                      schedule=_str(t, "schedule", "cosine", choices=SCHEDULES),
                      warmup_epochs=_float(t, "warmup_epochs", 1.0, low=0.0),
                      patience=_int(t, "patience", 8, minimum=1, optional=True),
                      min_delta=_float(t, "min_delta", 0.0, low=0.0),
                      monitor=_str(t, "monitor", "val_loss", choices=("val_loss", "val_acc")),
                      balance=_bool(t, "balance", True),
                      label_smoothing=_float(t, "label_smoothing", 0.0, low=0.0, high=0.5),
                      grad_clip=_float(t, "grad_clip", None, low=0.0, open_low=True, optional=True))
    t.done()
    return out


def _augment(value: Any, where: str) -> dict:
    t = _Table(value, where)
    from ..data.augment import build_augment
    build_augment(t.d, wavelengths=[1.0, 2.0], where=where)      # validates names and parameters
    return dict(t.d)


def _ssl(t: _Table) -> SSLConfig:
    aug = t.get("augment")
    out = SSLConfig(enabled=_bool(t, "enabled", False), epochs=_int(t, "epochs", 20, minimum=1),
                    batch_size=_int(t, "batch_size", 128, minimum=2),
                    lr=_float(t, "lr", 1e-3, low=0.0, open_low=True),
                    temperature=_float(t, "temperature", 0.2, low=0.0, open_low=True),
                    proj_dim=_int(t, "proj_dim", 64, minimum=1),
                    augment=None if aug is None else _augment(aug, "ssl.augment"))
    t.done()
    return out


def _dann(t: _Table) -> DANNConfig:
    hidden = t.get("hidden", [64, 64])
    if not isinstance(hidden, list) or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0
                                               for h in hidden):
        raise ConfigError(f"dann.hidden: must be a list of positive integers, got {hidden!r}")
    out = DANNConfig(enabled=_bool(t, "enabled", False), lambda_max=_float(t, "lambda_max", 1.0, low=0.0),
                     gamma=_float(t, "gamma", 10.0, low=0.0, open_low=True),
                     domain_weight=_float(t, "domain_weight", 1.0, low=0.0), hidden=tuple(hidden))
    t.done()
    return out


def _output(t: _Table, base: Path) -> OutputConfig:
    prog = t.get("progress", "auto")
    if prog not in ("auto", "on", "off", True, False):
        raise ConfigError(f"output.progress: must be \"auto\", true or false, got {prog!r}")
    out = OutputConfig(dir=_path(t, "dir", base, optional=True) or str(base / "runs" / "train"),
                       checkpoint=_str(t, "checkpoint", "model.pt"), overwrite=_bool(t, "overwrite", False),
                       progress=prog if isinstance(prog, str) else ("on" if prog else "off"))
    t.done()
    if Path(out.checkpoint).name != out.checkpoint:
        raise ConfigError("output.checkpoint: a file name inside the run folder, not a path")
    return out


def parse_config(raw: Mapping[str, Any], base_dir: str | os.PathLike = ".", source: str | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a plain dict (a parsed TOML file); relative paths resolve against
    ``base_dir``. Raises :class:`ConfigError` naming the first bad key."""
    base = Path(base_dir).resolve()
    top = _Table(raw, "")
    cfg = TrainConfig(
        data=_data(_Table(top.get("data"), "data"), base),
        recipe=_recipe(top.get("recipe")),
        model=_model(_Table(top.get("model"), "model"), base),
        split=_split(_Table(top.get("split"), "split")),
        augment=_augment(top.get("augment"), "augment"),
        optim=_optim(_Table(top.get("optim"), "optim")),
        ssl=_ssl(_Table(top.get("ssl"), "ssl")),
        dann=_dann(_Table(top.get("dann"), "dann")),
        output=_output(_Table(top.get("output"), "output"), base),
        seed=_int(top, "seed", 0), device=_str(top, "device", "cpu"),
        deterministic=_bool(top, "deterministic", True),
        threads=_int(top, "threads", None, minimum=1, optional=True), source=source)
    top.done()
    if cfg.dann.enabled and not cfg.data.unlabelled:
        raise ConfigError("dann.enabled: DANN needs a target domain: add [[data.unlabelled]] cubes")
    if cfg.split.kind == "spatial_block" and not cfg.data.cubes:
        raise ConfigError("split.kind: spatial_block splits label rasters; add [[data.cube]] sources or use "
                          "kind = \"group\"")
    return cfg


def _recipe(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"recipe: must be a table (Recipe.to_dict() form), got {type(value).__name__}")
    from ..preprocess import Recipe
    try:
        return Recipe.from_dict(dict(value)).to_dict()
    except ConfigError as exc:
        raise ConfigError(f"recipe: {exc.message}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"recipe: {exc}") from None


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read and validate a training config TOML file (relative paths resolve against its folder)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("no such config file", path=p)
    from ..io.files import read_text_file
    text = read_text_file(p, what="the config", max_bytes=4 * 2**20, error=ConfigError)   # no FIFO, no device
    try:
        raw = parse_toml(text, "the config")
    except ConfigError as exc:
        raise ConfigError(exc.message, path=p) from None
    try:
        return parse_config(raw, p.parent, source=str(p.resolve()))
    except ConfigError as exc:
        raise ConfigError(exc.message, path=p) from None


# ------------------------------------------------------------------------------------------ writing
def config_to_toml(cfg: TrainConfig) -> str:
    """The resolved config as TOML (a header comment, then every section)."""
    d = cfg.to_dict()
    src = d.pop("source", None)
    d["model"] = {**d["model"]["spec"], **({"init_from": d["model"]["init_from"]} if d["model"]["init_from"] else {})}
    data = d["data"]
    data["library"] = data.pop("libraries")
    data["cube"] = data.pop("cubes")
    head = "# hsimin train: resolved configuration" + (f" (from {src})" if src else "") + "\n"
    return head + toml_dumps(d)


def config_to_json(cfg: TrainConfig) -> str:
    """The resolved config as JSON (dataclass field names; None kept as null)."""
    return json.dumps(cfg.to_dict(), indent=2)
