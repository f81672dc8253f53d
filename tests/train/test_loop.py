"""The training loop: learns planted classes, deterministic, early stopping restores the best weights,
schedules, dense models, any nn.Module."""
import numpy as np
import pytest
import torch
from torch import nn

from hsimin.data import SampleSet, TensorSamples, build_augment, group_split
from hsimin.models import create_model
from hsimin.testing import make_spectra, swir_wavelengths
from hsimin.train.loop import evaluate, fit, make_scheduler, predict_samples, task_loss

WL = swir_wavelengths(48)
# three classes with deep, well separated absorptions: a tiny model must learn them in a few epochs
CLASSES = {"a": [(1400.0, 0.5, 60.0)], "b": [(1900.0, 0.5, 60.0)], "c": [(2300.0, 0.5, 60.0)]}


def _data(n=40, seed=0):
    s = make_spectra(n, WL, CLASSES, snr=200, seed=seed, n_groups=4)
    ss = SampleSet(s.spectra, s.labels, s.class_names, WL, s.groups)
    sp = group_split(ss.groups, 0.25, 0, labels=ss.y)
    return TensorSamples.from_samples(ss.subset(sp.train)), TensorSamples.from_samples(ss.subset(sp.test))


def _model(seed=0):
    torch.manual_seed(seed)
    return create_model({"backbone": {"name": "fastspec", "widths": [16, 8]}, "in_bands": WL.size,
                         "num_outputs": 3})


def test_fit_learns_planted_classes():
    train, test = _data()
    model = _model()
    res = fit(model, train, test, epochs=12, batch_size=16, lr=1e-2, progress=False, patience=None)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    p = predict_samples(model, test)
    assert p.shape == (len(test), 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert np.mean(p.argmax(1) == test.y.numpy()) >= 0.9
    assert set(res.history[0]) >= {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"}


def test_fit_twice_gives_identical_weights():
    train, val = _data(20)
    aug = build_augment({"mixing": {"p": 0.5}, "shift": {"max_nm": 3}, "noise": {"snr": [100, 300]},
                         "brightness": True}, WL)
    states = []
    for _ in range(2):
        m = _model(1)
        fit(m, train, val, epochs=3, batch_size=8, augment=aug, balance=True, seed=5, progress=False)
        states.append(m.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    m3 = _model(1)
    fit(m3, train, val, epochs=3, batch_size=8, augment=aug, balance=True, seed=6, progress=False)
    assert not all(torch.equal(states[0][k], m3.state_dict()[k]) for k in states[0])


def test_early_stopping_restores_the_best_weights():
    train, val = _data(20)
    model = _model()
    res = fit(model, train, val, epochs=40, batch_size=8, lr=0.3, patience=2, schedule="constant",
              warmup_epochs=0, progress=False)                # a large lr makes the validation loss bounce
    best = min(h["val_loss"] for h in res.history)
    assert res.history[res.best_epoch - 1]["val_loss"] == best
    assert evaluate(model, val)["loss"] == pytest.approx(best, rel=1e-5)
    assert res.stopped_early and len(res.history) < 40
    assert len(res.history) - res.best_epoch == 2


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "constant"])
def test_schedules(schedule):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=0.1)
    sched = make_scheduler(opt, schedule, epochs=10, steps_per_epoch=10, warmup_epochs=2, lr=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(lrs) == pytest.approx(0.1, rel=0.02)
    if schedule == "cosine":
        assert lrs[0] == pytest.approx(0.1 / 20) and lrs[19] == pytest.approx(0.1)
        assert lrs[-1] < 0.01 and all(a >= b for a, b in zip(lrs[20:], lrs[21:]))
    if schedule == "constant":
        assert lrs[-1] == pytest.approx(0.1)
    if schedule == "onecycle":
        assert lrs[0] < 0.01 and lrs[-1] < 1e-3


def test_dense_models_are_scored_at_the_centre_or_per_pixel():
    logits = torch.zeros(2, 3, 5, 5)
    logits[:, 1, 2, 2] = 10.0                          # centre says class 1, elsewhere undecided
    loss, correct, n = task_loss(logits, torch.tensor([1, 1]))
    assert correct == 2 and n == 2 and float(loss) < 1e-3
    dense_y = torch.full((2, 5, 5), -1)
    dense_y[:, 2, 2] = 1
    loss_d, c_d, n_d = task_loss(logits, dense_y)
    assert n_d == 2 and c_d == 2 and float(loss_d) == pytest.approx(float(loss))
    torch.manual_seed(0)
    unet = create_model({"backbone": {"name": "unet", "base": 4, "levels": 2}, "in_bands": 6, "num_outputs": 2})
    x = torch.randn(16, 6, 8, 8)
    y = (x[:, 0, 4, 4] > 0).long()
    res = fit(unet, TensorSamples(x, y), None, epochs=2, batch_size=8, progress=False)
    assert len(res.history) == 2 and res.best_epoch == 2 and np.isfinite(res.history[-1]["train_loss"])
    assert predict_samples(unet, x).shape == (16, 2)


def test_any_module_trains_without_registry_names():
    class Tiny(nn.Module):                            # not from the registry: the loop does not care
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4 * 3 * 3, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    y = torch.arange(64) % 2
    x = torch.randn(64, 4, 3, 3)
    x[:, 2] += 1.5 * (2 * y[:, None, None] - 1)          # channel 2 says the class
    m = Tiny()
    fit(m, TensorSamples(x[:48], y[:48]), TensorSamples(x[48:], y[48:]), epochs=25, lr=0.05, batch_size=16,
        progress=False)
    assert evaluate(m, TensorSamples(x[48:], y[48:]))["acc"] >= 0.9
