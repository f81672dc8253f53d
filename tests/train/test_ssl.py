"""SimCLR: the NT-Xent loss against a hand-written reference; pretraining lowers it and changes the encoder;
generic over (N, C, H, W) windows and over backbones / whole models."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hsimin.core.errors import InputError
from hsimin.data import build_augment
from hsimin.models import create_backbone, create_model
from hsimin.testing import make_spectra, swir_wavelengths
from hsimin.train.ssl import NTXentLoss, encode, nt_xent, pool_features, pretrain_simclr


def _reference_nt_xent(z1, z2, t):
    """Loop form of SimCLR's loss: mean over the 2N anchors of -log softmax(positive) over the 2N - 1 others."""
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        others = [j for j in range(n2) if j != i]
        logits = torch.stack([z[i] @ z[j] / t for j in others])
        total += -(z[i] @ z[pos] / t - torch.logsumexp(logits, 0))
    return float(total / n2)


def test_nt_xent_matches_the_reference():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    for t in (0.1, 0.5):
        assert float(nt_xent(z1, z2, t)) == pytest.approx(_reference_nt_xent(z1, z2, t), rel=1e-5)
    assert float(NTXentLoss(0.5)(z1, z2)) == pytest.approx(float(nt_xent(z1, z2, 0.5)))


def test_nt_xent_is_low_for_aligned_views_and_log_2n_minus_1_for_identical_embeddings():
    e = torch.eye(4)
    assert float(nt_xent(e, e, 0.05)) < 1e-6                       # positives aligned, negatives orthogonal
    same = torch.ones(4, 3)
    assert float(nt_xent(same, same, 0.5)) == pytest.approx(math.log(7), rel=1e-6)
    with pytest.raises(InputError):
        nt_xent(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(InputError):
        nt_xent(e, e, 0.0)


def test_pool_features_handles_dense_and_multi_branch():
    assert pool_features(torch.ones(2, 3, 4, 4)).shape == (2, 3)
    assert pool_features({"a": torch.ones(2, 3), "b": torch.ones(2, 5, 2, 2)}).shape == (2, 8)
    cnn1d = create_backbone("cnn1d", in_bands=8, widths=[4, 6])           # its 'features' is a submodule
    assert encode(cnn1d, torch.randn(3, 8, 1, 1)).shape == (3, 6)


def test_pretrain_simclr_lowers_the_loss_and_trains_the_encoder_in_place():
    wl = swir_wavelengths(40)
    s = make_spectra(40, wl, seed=0)
    x = torch.from_numpy(s.spectra)[:, :, None, None]
    torch.manual_seed(0)
    model = create_model({"backbone": {"name": "fastspec", "widths": [32, 16]}, "in_bands": 40, "num_outputs": 5})
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    aug = build_augment({"mixing": {"max_fraction": 0.3, "p": 0.5}, "shift": {"max_nm": 10},
                         "slope": {"max_slope": 0.2}, "brightness": {"low": 0.6, "high": 1.4},
                         "noise": {"snr": [50, 200]}}, wl)
    res = pretrain_simclr(model, x, aug, epochs=8, batch_size=50, lr=3e-3, temperature=0.2, proj_dim=16,
                          progress=False)
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.3
    assert res.encoder is model
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    assert all(torch.equal(head_before[k], v) for k, v in model.head.state_dict().items())   # head untouched
    # same seed, same result
    torch.manual_seed(0)
    m2 = create_model({"backbone": {"name": "fastspec", "widths": [32, 16]}, "in_bands": 40, "num_outputs": 5})
    r2 = pretrain_simclr(m2, x, aug, epochs=8, batch_size=50, lr=3e-3, temperature=0.2, proj_dim=16,
                         progress=False)
    assert [h["loss"] for h in r2.history] == losses


def test_pretrain_simclr_on_geochemical_windows():
    """(N, 15, 8, 8) windows with spatial augmentations only: a 2-D CNN backbone pretrains the same way."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 15, 8, 8, generator=g)
    torch.manual_seed(0)
    bb = create_backbone("cnn2d", in_bands=15, reduce_to=4, widths=[8, 8])
    aug = build_augment({"flip": True, "brightness": {"low": 0.9, "high": 1.1}, "noise": {"snr": [20, 50]}})
    res = pretrain_simclr(bb, x, aug, epochs=3, batch_size=20, proj_dim=8, progress=False)
    assert len(res.history) == 3 and np.isfinite(res.history[-1]["loss"])
    assert res.projection(encode(bb, x[:4])).shape == (4, 8)
