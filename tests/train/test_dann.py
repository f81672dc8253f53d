"""DANN: gradient reversal, the lambda schedule, and joint training that aligns a shifted target domain."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from hsimin.core.errors import InputError
from hsimin.data import TensorSamples
from hsimin.models import create_model
from hsimin.testing import make_spectra, swir_wavelengths
from hsimin.train.dann import DomainDiscriminator, dann_lambda, grad_reverse, train_dann


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.7 * w)
    x.grad = None
    (grad_reverse(x, 0.0) * w).sum().backward()
    assert torch.count_nonzero(x.grad) == 0


def test_lambda_schedule():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    ps = np.linspace(0, 1, 11)
    vals = [dann_lambda(p) for p in ps]
    assert all(a < b for a, b in zip(vals, vals[1:]))
    assert dann_lambda(2.0) == dann_lambda(1.0)


def test_discriminator_shape():
    d = DomainDiscriminator(7, hidden=(5,))
    assert d(torch.randn(4, 7)).shape == (4,)


def _domains():
    """Source: planted spectra; target: the same classes seen by another 'scanner' (darker, sloped, noisier)."""
    wl = swir_wavelengths(40)
    src = make_spectra(30, wl, seed=0, snr=300)
    tgt = make_spectra(30, wl, seed=1, snr=60)
    ramp = np.linspace(0.8, 1.3, wl.size)
    xt = (tgt.spectra * 0.5 * ramp).astype(np.float32)
    return (TensorSamples(torch.from_numpy(src.spectra)[:, :, None, None], torch.from_numpy(src.labels)),
            TensorSamples(torch.from_numpy(xt)[:, :, None, None], torch.from_numpy(tgt.labels)))


def _model():
    torch.manual_seed(0)
    return create_model({"backbone": {"name": "fastspec", "widths": [32, 16]}, "in_bands": 40, "num_outputs": 5})


def test_train_dann_records_domain_terms_and_is_deterministic():
    source, target = _domains()
    runs = []
    for _ in range(2):
        m = _model()
        res = train_dann(m, source, target.x, None, epochs=4, batch_size=25, lr=3e-3, seed=3, progress=False)
        runs.append((m.state_dict(), res))
    (s1, r1), (s2, r2) = runs
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    h = r1.history
    assert len(h) == 4 and {"domain_loss", "domain_acc", "lambda", "train_loss"} <= set(h[0])
    assert 0 < h[0]["lambda"] < h[-1]["lambda"] <= 1.0
    assert isinstance(r1.extra["discriminator"], DomainDiscriminator)


def test_train_dann_accepts_loaders_and_validation():
    source, target = _domains()
    m = _model()
    src_loader = DataLoader(source, batch_size=20, shuffle=True, generator=torch.Generator().manual_seed(0))
    tgt_loader = DataLoader(TensorSamples(target.x), batch_size=20, shuffle=True,
                            generator=torch.Generator().manual_seed(1))
    res = train_dann(m, src_loader, tgt_loader, source, epochs=3, progress=False, patience=5)
    assert "val_loss" in res.history[-1] and 1 <= res.best_epoch <= 3


def test_reversal_makes_target_features_harder_to_tell_apart():
    """With the reversal on (lambda_max=1), the discriminator ends less sure of the domain than with it off
    (lambda_max=0: the features are left free to separate the domains)."""
    source, target = _domains()
    acc = {}
    for lam in (0.0, 1.0):
        m = _model()
        res = train_dann(m, source, target.x, None, epochs=12, batch_size=30, lr=3e-3, lambda_max=lam, gamma=10,
                         seed=0, progress=False)
        acc[lam] = np.mean([h["domain_acc"] for h in res.history[-4:]])
    assert acc[1.0] < acc[0.0]


def test_train_dann_needs_features_and_head():
    with pytest.raises(InputError):
        train_dann(nn.Linear(3, 2), torch.zeros(4, 3, 1, 1), torch.zeros(4, 3, 1, 1), epochs=1)
