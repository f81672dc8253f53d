"""hsimin.train (torch side): the training loop, metrics and plots, SimCLR pretraining, DANN, and the
config-driven run behind ``hsimin train CONFIG.toml``.

* :func:`fit` — any ``nn.Module`` on ``(N, C, H, W)`` samples: AdamW, cosine/OneCycle schedule, early stopping
  with best-weight restore, seeded and deterministic; :func:`evaluate`, :func:`predict_samples`.
* :func:`pretrain_simclr` (NT-Xent, projection head) and :func:`train_dann` (gradient reversal + domain
  discriminator) for scarce labels; both generic over ``(N, C, H, W)`` inputs and models.
* :func:`classification_metrics` — OA, AA, kappa, per-class precision/recall/F1, confusion matrix.
* :func:`load_config` / :func:`run_training` — a TOML config to a run folder (see :mod:`hsimin.train.run`).
* :func:`retrain_from_labels` — painted labels on a cube -> a fine-tuned model -> the cube re-mapped, with the
  next pixels to label (the napari label-retrain loop).
"""
from .config import TrainConfig, load_config, parse_config
from .dann import DomainDiscriminator, GradientReversal, dann_lambda, grad_reverse, train_dann
from .loop import FitResult, evaluate, fit, predict_samples, seed_everything
from .metrics import classification_metrics, confusion_matrix
from .retrain import RetrainResult, export_training_set, retrain_from_labels
from .run import RunResult, init_backbone_from, run_training
from .ssl import NTXentLoss, ProjectionHead, SSLResult, encode, nt_xent, pretrain_simclr

__all__ = ["DomainDiscriminator", "FitResult", "GradientReversal", "NTXentLoss", "ProjectionHead", "RunResult",
           "SSLResult", "TrainConfig", "classification_metrics", "confusion_matrix", "dann_lambda", "encode",
           "evaluate", "fit", "grad_reverse", "init_backbone_from", "load_config", "nt_xent", "parse_config",
           "predict_samples", "pretrain_simclr", "RetrainResult", "export_training_set", "retrain_from_labels",
           "run_training", "seed_everything", "train_dann"]
