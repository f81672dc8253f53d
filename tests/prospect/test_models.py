"""Prospectivity models: one protocol for SSGSNet and the baselines; pretraining; DANN; attributions."""
import numpy as np
import pytest
import torch

from hsimin.core import InputError
from hsimin.models import MultiBranchModel, list_backbones
from hsimin.prospect.models import (DEFAULT_MODELS, MODELS, NETWORK_SPECS, TrainSettings, contrastive_view,
                                    create_prospect_model, is_network)

TINY = TrainSettings(size="tiny", epochs=2, batch_size=16, augment_copies=2, pretrain_epochs=1, dann_epochs=1,
                     rf_trees=20)


def _planted(n=24, k=6, L=4, seed=0):
    """Windows whose label is the sign of layer 2's mean (a signal any model can learn)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, k, k, L)).astype(np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    w[..., 2] += np.where(y == 1, 1.5, -1.5)[:, None, None]
    return w, y


def test_every_model_of_the_comparison_is_registered():
    assert set(DEFAULT_MODELS) <= set(MODELS)
    assert {"resnet_casa", "vit", "dualbranch"} <= set(list_backbones())


def test_ssgsnet_is_built_from_the_registry_backbones():
    m = create_prospect_model("ssgsnet", 15, 16, TrainSettings(size="small"))
    net = __import__("hsimin.models", fromlist=["create_model"]).create_model(m.spec)
    assert isinstance(net, MultiBranchModel)
    assert [b.spec["name"] for b in net.branches.values()] == ["resnet_casa", "vit"]
    assert net.head.spec["name"] == "gated_fusion"
    assert net(torch.zeros(2, 15, 16, 16)).shape == (2, 2)
    paper = NETWORK_SPECS["ssgsnet"](15, 32, TrainSettings(size="paper"))
    assert paper["branches"]["resnet"]["widths"] == [64, 128, 256, 512]
    assert paper["head"]["fusion_dim"] == 256 and paper["head"]["gate_hidden"] == 32


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_model_fits_and_predicts_probabilities(name):
    w, y = _planted()
    m = create_prospect_model(name, 4, 6, TINY).fit(w, y, seed=0)
    p = m.predict_proba(w)
    assert p.shape == (24,) and np.all((p >= 0) & (p <= 1))
    f = m.forward_fn()(torch.as_tensor(np.moveaxis(w[:3], -1, 1).copy()))
    assert f.shape == (3,) and np.allclose(f.detach().numpy(), p[:3], atol=1e-5)


def test_networks_learn_a_planted_signal_and_repeat_exactly():
    w, y = _planted(40)
    s = TrainSettings(size="tiny", epochs=8, batch_size=16, augment_copies=4)
    a = create_prospect_model("resnet", 4, 6, s).fit(w[:30], y[:30], seed=1).predict_proba(w[30:])
    b = create_prospect_model("resnet", 4, 6, s).fit(w[:30], y[:30], seed=1).predict_proba(w[30:])
    assert np.array_equal(a, b)                                   # seeded: identical on CPU
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(y[30:], a) > 0.8


def test_contrastive_pretraining_initialises_fine_tuning():
    w, y = _planted(32)
    m = create_prospect_model("ssgsnet", 4, 6, TINY)
    hist = m.pretrain(w, seed=0)
    assert len(hist["loss"]) == 1 and np.isfinite(hist["loss"][0])
    assert m.init_state is not None
    fresh = create_prospect_model("ssgsnet", 4, 6, TINY)._build(0).state_dict()
    changed = [k for k in m.init_state if "branches" in k and not torch.equal(m.init_state[k], fresh[k])]
    assert changed                                                  # the backbones moved during pretraining
    m.fit(w, y, seed=0)
    assert np.all(np.isfinite(m.predict_proba(w)))


def test_contrastive_view_keeps_shape_and_changes_values():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 5)
    v, y = contrastive_view(x, None, g)
    assert v.shape == x.shape and y is None and not torch.allclose(v, x)


def test_dann_trains_on_source_labels_and_target_windows():
    w, y = _planted(24)
    target = _planted(16, seed=5)[0] + 0.5
    m = create_prospect_model("resnet", 4, 6, TINY).fit_dann(w, y, target, seed=0)
    assert "dann" in m.history and np.all(np.isfinite(m.predict_proba(target)))


def test_random_forest_uses_the_centre_cell_and_is_not_a_network():
    w, y = _planted()
    m = create_prospect_model("random_forest", 4, 6, TINY)
    assert not is_network(m)
    m.fit(w, y, seed=0)
    w2 = w.copy()
    w2[:, 0, 0, :] += 100.0                                         # off-centre cells do not matter
    assert np.array_equal(m.predict_proba(w), m.predict_proba(w2))


def test_unknown_model_and_size_are_clear_errors():
    with pytest.raises(InputError, match="unknown model"):
        create_prospect_model("svm", 4, 6)
    with pytest.raises(InputError, match="model size"):
        TrainSettings(size="huge")
    with pytest.raises(InputError, match="not fitted"):
        create_prospect_model("vit", 4, 6, TINY).predict_proba(np.zeros((1, 6, 6, 4), np.float32))


def test_layer_attributions_find_the_planted_layer():
    pytest.importorskip("captum")
    from hsimin.prospect.attribution import layer_attributions, summarise

    def forward(x):                                                 # depends on layer 2 only
        return torch.sigmoid(x[:, 2].mean(dim=(1, 2)))

    x = torch.randn(6, 4, 5, 5) + torch.tensor([0, 0, 1.0, 0]).view(1, 4, 1, 1)
    for method in ("shapley", "ig"):
        a = layer_attributions(forward, x, method=method, n_samples=5, n_steps=16)
        assert a.shape == (6, 4)
        assert np.allclose(a[:, [0, 1, 3]], 0, atol=1e-6) and np.abs(a[:, 2]).min() > 0
        # completeness: the attributions sum to f(x) - f(baseline)
        assert np.allclose(a.sum(axis=1), (forward(x) - 0.5).numpy(), atol=2e-3)
    s = summarise(a, ["Au", "Cu", "Li", "faults"], labels=np.array([1, 0, 1, 0, 1, 0]))
    assert s["rank"][0] == "Li" and s["share"][2] == pytest.approx(1.0)
    with pytest.raises(InputError, match="unknown attribution"):
        layer_attributions(forward, x, method="lime")
