"""The prospectivity models: SSGSNet and its baselines, all under one protocol (torch side).

Every model is an entry of :data:`MODELS` (name -> builder), never an ``if name == ...`` branch:

* ``ssgsnet`` — ``resnet_casa`` branch + ``vit`` branch + ``gated_fusion`` head (the registry's preset);
* ``resnet`` — ``resnet_casa`` alone + linear head;
* ``vit`` — ``vit`` alone + linear head;
* ``dualbranch`` — the paper's weak baseline: 2-layer 2-D CNN + pooled-spectrum MLP (backbone ``dualbranch``);
* ``random_forest`` — scikit-learn random forest on the centre-cell values of the window.

The networks are the same registered backbone classes the hyperspectral classifiers use; ``size`` picks their
widths: ``'paper'`` (ResNet-18 widths 64-512 with 2 blocks per stage, ViT 256-d x 4, fusion 256 -> 32 -> 256)
or ``'small'`` (widths 16-128 with 1 block, ViT 64-d x 2 on 4 x 4 patches, fusion 128 -> 32 -> 128), which trains 5-fold CV of
four networks in minutes on two CPU cores (``'tiny'`` is for tests). Each builder returns an object with ``fit(windows, labels)``,
``predict_proba(windows)`` and ``forward_fn()`` (a torch function for attributions); windows are band-last
``(N, k, k, L)`` numpy arrays, converted to ``(N, L, k, k)`` by :func:`hsimin.models.layout.to_torch` only.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from ..core.errors import InputError
from ..data import TensorSamples
from ..models import create_model, ssgsnet_spec, to_torch
from ..train import fit, pretrain_simclr, seed_everything, train_dann
from .windows import augment

SIZES: dict[str, dict] = {
    "small": {"resnet": {"widths": [16, 32, 64, 128], "blocks": 1, "reduction": 4},
              "vit": {"embed_dim": 64, "depth": 2, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.1, "patch_size": 4},
              "fusion": {"fusion_dim": 128, "gate_hidden": 32},
              "dualbranch": {"conv_widths": [16, 32], "mlp_widths": [32, 32]}},
    "paper": {"resnet": {"widths": [64, 128, 256, 512], "blocks": 2},
              "vit": {"embed_dim": 256, "depth": 4, "heads": 8, "mlp_ratio": 2.0, "dropout": 0.1},
              "fusion": {"fusion_dim": 256, "gate_hidden": 32},
              "dualbranch": {"conv_widths": [32, 64], "mlp_widths": [64, 64]}},
    "tiny": {"resnet": {"widths": [4, 8], "blocks": 1, "reduction": 2},
             "vit": {"embed_dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 1.0, "dropout": 0.0},
             "fusion": {"fusion_dim": 8, "gate_hidden": 4},
             "dualbranch": {"conv_widths": [4, 8], "mlp_widths": [8]}},
}
"""Architecture sizes: keyword arguments of each part ('tiny' is for tests and smoke runs)."""


@dataclass
class TrainSettings:
    """How networks are trained (random forest ignores what it does not use)."""

    size: str = "small"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    augment_copies: int = 8
    noise_sd: float = 0.05
    dropout: float = 0.2
    pretrain_epochs: int = 15
    pretrain_temperature: float = 0.5
    finetune_lr_scale: float = 0.5
    dann_epochs: int = 30
    dann_weight: float = 0.3
    rf_trees: int = 500
    seed: int = 0

    def __post_init__(self):
        if self.size not in SIZES:
            raise InputError(f"unknown model size {self.size!r}; use one of {', '.join(SIZES)}")
        for name in ("epochs", "batch_size", "augment_copies", "rf_trees"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


class ProspectModel(Protocol):
    """What the workflow needs from a model."""

    name: str

    def fit(self, windows: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> "ProspectModel": ...

    def predict_proba(self, windows: np.ndarray) -> np.ndarray: ...

    def forward_fn(self) -> Callable[[torch.Tensor], torch.Tensor]: ...


# ------------------------------------------------------------------------------------------ model specs
def _ssgsnet(L: int, k: int, s: TrainSettings) -> dict:
    p = SIZES[s.size]
    return ssgsnet_spec(L, 2, window=k, resnet=p["resnet"], vit=p["vit"], fusion=p["fusion"], dropout=s.dropout)


def _single(backbone: str, part: str, window_kw: str | None = None) -> Callable[[int, int, TrainSettings], dict]:
    """Spec builder of one backbone + linear head; ``window_kw`` names the backbone argument that takes the
    window size (the ViT's ``img_size``), if any."""
    def spec(L: int, k: int, s: TrainSettings) -> dict:
        kw = dict(SIZES[s.size][part])
        if window_kw:
            kw[window_kw] = k
        return {"backbone": {"name": backbone, "in_bands": L, **kw},
                "head": {"name": "linear", "num_outputs": 2, "dropout": s.dropout}, "patch_size": k}
    return spec


NETWORK_SPECS: dict[str, Callable[[int, int, TrainSettings], dict]] = {
    "ssgsnet": _ssgsnet,
    "resnet": _single("resnet_casa", "resnet"),
    "vit": _single("vit", "vit", window_kw="img_size"),
    "dualbranch": _single("dualbranch", "dualbranch"),
}
"""Network models: name -> ``spec(in_layers, window, settings)`` for :func:`hsimin.models.create_model`."""


# ---------------------------------------------------------------------------------------------- networks
def _tensor(windows: np.ndarray) -> torch.Tensor:
    """Band-last windows ``(N, k, k, L)`` as a contiguous ``(N, L, k, k)`` tensor.

    ``to_torch`` returns a channels-last view; it is made contiguous here because torch 2.13 on CPU corrupts
    the heap in the backward pass of small ``resnet_casa`` models fed channels-last inputs with one thread
    (reproduced: widths [4, 8], 16 x 4 x 6 x 6 batches, ``torch.set_num_threads(1)``; crash in backward).
    """
    return to_torch(windows).contiguous()


def contrastive_view(x: torch.Tensor, y, g: torch.Generator, noise_sd: float = 0.05, layer_drop: float = 0.15):
    """A random view of each window for contrastive pretraining, in the ``augment(x, y, g)`` form of
    :mod:`hsimin.data.augment`: one of the 8 square symmetries, Gaussian noise of ``noise_sd`` (scaled units),
    and each layer set to 0 (its study-area median) with probability ``layer_drop``."""
    n, L = x.shape[:2]
    code = torch.randint(8, (n,), generator=g)
    out = x.clone()
    for c in range(1, 8):
        idx = torch.nonzero(code == c).reshape(-1)
        if idx.numel():
            t = out[idx]
            t = t.flip(3) if c & 1 else t
            t = t.flip(2) if c & 2 else t
            out[idx] = t.transpose(2, 3) if c & 4 else t
    out = out + noise_sd * torch.randn(out.shape, generator=g)
    keep = (torch.rand(n, L, 1, 1, generator=g) >= layer_drop).to(out.dtype)
    return out * keep, y


class NetworkModel:
    """A registry network trained as a 2-class classifier (deposit / not) on augmented windows.

    ``init_state`` (from :meth:`pretrain`) starts fine-tuning from contrastively pretrained weights.
    """

    def __init__(self, name: str, spec: dict, settings: TrainSettings):
        self.name = name
        self.spec = spec
        self.settings = settings
        self.net: torch.nn.Module | None = None
        self.init_state: dict | None = None
        self.history: dict = {}

    def _build(self, seed: int) -> torch.nn.Module:
        seed_everything(seed)
        net = create_model(self.spec)
        if self.init_state is not None:
            net.load_state_dict(self.init_state)
        return net

    def _augmented(self, windows: np.ndarray, labels: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        xa, ya = augment(windows, np.asarray(labels), self.settings.augment_copies, self.settings.noise_sd,
                         np.random.default_rng(seed))
        return _tensor(xa), torch.as_tensor(ya, dtype=torch.long)

    def pretrain(self, unlabelled: np.ndarray, *, seed: int = 0) -> dict:
        """Contrastive (SimCLR, NT-Xent) pretraining of the backbone(s) on unlabelled windows
        (:func:`hsimin.train.pretrain_simclr` with :func:`contrastive_view`); the weights are kept as
        ``init_state`` for every later :meth:`fit`. Returns the loss history."""
        s = self.settings
        self.init_state = None
        net = self._build(seed)
        res = pretrain_simclr(net, _tensor(unlabelled), lambda x, y, g: contrastive_view(x, y, g, s.noise_sd),
                              epochs=s.pretrain_epochs, batch_size=128, lr=s.lr,
                              temperature=s.pretrain_temperature, seed=seed, progress=False)
        self.init_state = copy.deepcopy(net.state_dict())
        self.history["pretrain"] = [r["loss"] for r in res.history]
        return {"loss": self.history["pretrain"], "seconds": res.seconds}

    def fit(self, windows: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> "NetworkModel":
        """Train on the windows augmented by :func:`hsimin.prospect.windows.augment` (square symmetries +
        noise), with :func:`hsimin.train.fit` (AdamW, cosine schedule; no early stopping: too few sites to
        hold out a validation set)."""
        s = self.settings
        net = self._build(seed)
        x, y = self._augmented(windows, labels, seed)
        lr = s.lr * (s.finetune_lr_scale if self.init_state is not None else 1.0)
        res = fit(net, TensorSamples(x, y), None, epochs=s.epochs, batch_size=s.batch_size, lr=lr,
                  weight_decay=s.weight_decay, label_smoothing=s.label_smoothing, seed=seed, progress=False)
        self.history["train"] = [r["train_loss"] for r in res.history]
        self.net = net.eval()
        return self

    def fit_dann(self, windows: np.ndarray, labels: np.ndarray, target_windows: np.ndarray, *,
                 seed: int = 0) -> "NetworkModel":
        """Domain-adversarial training (:func:`hsimin.train.train_dann`): labelled source windows (augmented),
        unlabelled target windows, gradient reversal on the backbone features (after Ganin et al. 2016, as
        in DANN-CTA)."""
        s = self.settings
        net = self._build(seed)
        x, y = self._augmented(windows, labels, seed)
        res = train_dann(net, TensorSamples(x, y), _tensor(target_windows), epochs=s.dann_epochs,
                         batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay,
                         domain_weight=s.dann_weight, label_smoothing=s.label_smoothing, seed=seed, progress=False)
        self.history["dann"] = [{"loss": r["train_loss"], "domain_acc": r["domain_acc"]} for r in res.history]
        self.net = net.eval()
        return self

    def _require(self) -> torch.nn.Module:
        if self.net is None:
            raise InputError(f"model {self.name!r} is not fitted; call fit() first")
        return self.net

    def forward_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        net = self._require()
        return lambda x: torch.softmax(net(x), dim=1)[:, 1]

    @torch.no_grad()
    def predict_proba(self, windows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        net = self._require().eval()
        out = []
        for s in range(0, len(windows), batch_size):
            out.append(torch.softmax(net(_tensor(windows[s:s + batch_size])), dim=1)[:, 1].numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)


# --------------------------------------------------------------------------------------------- forest
class ForestModel:
    """Random forest on the centre-cell values of each window (the layers at the site itself)."""

    def __init__(self, name: str, settings: TrainSettings):
        self.name = name
        self.settings = settings
        self.rf = None
        self.spec = {"estimator": "sklearn.ensemble.RandomForestClassifier", "n_estimators": settings.rf_trees,
                     "features": "centre cell of each window"}

    @staticmethod
    def _centre(windows: np.ndarray) -> np.ndarray:
        k = windows.shape[1]
        return np.asarray(windows[:, k // 2, k // 2, :], dtype=np.float64)

    def fit(self, windows: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> "ForestModel":
        from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

        self.rf = RandomForestClassifier(n_estimators=self.settings.rf_trees, min_samples_leaf=2,
                                         class_weight="balanced", random_state=seed, n_jobs=1)
        self.rf.fit(self._centre(windows), np.asarray(labels).astype(int))
        return self

    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        if self.rf is None:
            raise InputError(f"model {self.name!r} is not fitted; call fit() first")
        return self.rf.predict_proba(self._centre(windows))[:, list(self.rf.classes_).index(1)].astype(np.float32)

    def forward_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            w = x.detach().permute(0, 2, 3, 1).numpy()   # back to band-last for the numpy estimator
            return torch.as_tensor(self.predict_proba(w), dtype=x.dtype)
        return forward


def _network(name: str) -> Callable[[int, int, TrainSettings], NetworkModel]:
    return lambda L, k, s: NetworkModel(name, NETWORK_SPECS[name](L, k, s), s)


MODELS: dict[str, Callable[[int, int, TrainSettings], ProspectModel]] = {
    **{name: _network(name) for name in NETWORK_SPECS},
    "random_forest": lambda L, k, s: ForestModel("random_forest", s),
}
"""Every model of the comparison: name -> ``builder(in_layers, window, settings)``."""

DEFAULT_MODELS = ("ssgsnet", "resnet", "vit", "dualbranch", "random_forest")


def create_prospect_model(name: str, in_layers: int, window: int, settings: TrainSettings | None = None):
    """Build the model ``name`` (one of :data:`MODELS`) for ``in_layers`` layers and ``window`` cells."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name](int(in_layers), int(window), settings or TrainSettings())


def is_network(model) -> bool:
    """True for models trained by gradient descent (they support pretraining and DANN)."""
    return isinstance(model, NetworkModel)

