"""SSGSNet = resnet_casa + vit + gated fusion, built from the registry; any pooled backbones can be fused."""
import pytest
import torch

from hsimin.core.errors import ModelError
from hsimin.models import (GatedFusionHead, HSIModel, MultiBranchModel, create_backbone, create_model, list_presets,
                           load_model, preset_spec, save_model, ssgsnet_spec)
from hsimin.models.backbones.resnet_casa import ResNetCasa
from hsimin.models.backbones.vit import ViT

torch.set_num_threads(1)
LAYERS, WINDOW = 15, 16
TINY = dict(resnet={"widths": [8, 16], "blocks": 1, "reduction": 4}, vit={"embed_dim": 16, "depth": 1, "heads": 2},
            fusion={"fusion_dim": 16, "gate_hidden": 4})


def tiny_ssgsnet(num_outputs=2, **kw):
    torch.manual_seed(0)
    return create_model(ssgsnet_spec(LAYERS, num_outputs, window=WINDOW, **{**TINY, **kw}))


def test_preset_registered_and_default_spec_matches_the_paper():
    assert "ssgsnet" in list_presets()
    spec = preset_spec("ssgsnet", LAYERS, 2)
    assert spec["branches"]["resnet"]["name"] == "resnet_casa" and spec["branches"]["vit"]["name"] == "vit"
    assert spec["head"] == {"name": "gated_fusion", "num_outputs": 2, "fusion_dim": 256, "gate_hidden": 32,
                            "dropout": 0.0}
    assert spec["branches"]["vit"]["embed_dim"] == 256 and spec["patch_size"] == 32
    model = create_model({"preset": "ssgsnet", "in_bands": LAYERS, "num_outputs": 2})   # full size: build only
    head = model.head
    assert model.branches["resnet"].num_features == 512 and model.branches["vit"].num_features == 256
    assert head.project["resnet"].in_features == 512 and head.project["resnet"].out_features == 256
    assert isinstance(head.project["vit"], torch.nn.Identity)
    gate = head.gate["vit"].net
    assert [gate[0].in_features, gate[0].out_features, gate[2].out_features] == [256, 32, 256]
    assert isinstance(gate[1], torch.nn.ReLU) and isinstance(gate[3], torch.nn.Sigmoid)
    assert head.classifier.in_features == 512


def test_branches_are_the_registry_backbones():
    model = tiny_ssgsnet()
    assert isinstance(model, MultiBranchModel) and isinstance(model.head, GatedFusionHead)
    assert type(model.branches["resnet"]) is type(create_backbone("resnet_casa", in_bands=3)) is ResNetCasa
    assert type(model.branches["vit"]) is ViT and model.branches["vit"].patch_size == 2


def test_forward_backward_and_gates():
    model = tiny_ssgsnet(num_outputs=3).train()
    x = torch.rand(4, LAYERS, WINDOW, WINDOW)
    logits = model(x)
    assert logits.shape == (4, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    for branch in ("resnet", "vit"):
        assert any(float(g.abs().sum()) > 0 for n, g in grads.items() if n.startswith(f"branches.{branch}."))
        assert float(grads[f"head.gate.{branch}.net.0.weight"].abs().sum()) > 0
    model.eval()
    with torch.no_grad():
        feats = model.features(x)
        gates = model.head.gates(feats)
    assert set(gates) == {"resnet", "vit"}
    for g in gates.values():
        assert g.shape == (4, 16) and float(g.min()) > 0 and float(g.max()) < 1
    fused = model.head.fused(feats)
    assert fused.shape == (4, 32)
    z = model.head.project["vit"](feats["vit"])
    assert torch.allclose(fused[:, 16:], z * gates["vit"])                  # concatenation in branch order


def test_any_two_backbones_fuse_and_round_trip(tmp_path):
    spec = {"branches": {"spectral": {"name": "cnn1d", "widths": [4, 8], "kernel_size": 3},
                         "spatial": {"name": "cnn2d", "reduce_to": 4, "widths": [8]}},
            "head": {"name": "gated_fusion", "fusion_dim": 8, "gate_hidden": 2, "dropout": 0.1},
            "in_bands": 6, "num_outputs": 4, "patch_size": 5}
    torch.manual_seed(0)
    model = create_model(spec)
    assert model.spec()["branches"]["spectral"]["in_bands"] == 6
    x = torch.rand(3, 6, 5, 5)
    model.train()
    model(x)
    model.eval()
    with torch.no_grad():
        want = model(x)
    save_model(model, tmp_path / "fused.pt", wavelengths=[1.0, 2, 3, 4, 5, 6], class_names=list("abcd"))
    got = load_model(tmp_path / "fused.pt")
    assert isinstance(got.model, MultiBranchModel) and got.spec == model.spec()
    with torch.no_grad():
        assert torch.equal(got.model(x), want)


def test_ssgsnet_checkpoint_round_trip(tmp_path):
    model = tiny_ssgsnet().eval()
    x = torch.rand(2, LAYERS, WINDOW, WINDOW)
    save_model(model, tmp_path / "ssgsnet.pt", wavelengths=list(range(1, LAYERS + 1)), class_names=["0", "1"])
    got = load_model(tmp_path / "ssgsnet.pt")
    assert got.patch_size == WINDOW
    with torch.no_grad():
        assert torch.equal(got.model(x), model(x))


def test_spec_errors_say_what_to_do():
    with pytest.raises(ModelError, match="fuses several backbones.*branches"):
        create_model({"backbone": "cnn1d", "head": "gated_fusion", "in_bands": 4, "num_outputs": 2})
    with pytest.raises(ModelError, match="use head 'dense'"):
        create_model({"backbone": {"name": "unet", "base": 4, "levels": 1}, "head": "linear", "in_bands": 4,
                      "num_outputs": 2})
    with pytest.raises(ModelError, match="dense"):
        create_model({"branches": {"a": {"name": "unet", "base": 4, "levels": 1}, "b": "cnn1d"},
                      "head": "gated_fusion", "in_bands": 4, "num_outputs": 2})
    with pytest.raises(ModelError, match="needs a 'head'"):
        create_model({"branches": {"a": "cnn1d"}, "in_bands": 4, "num_outputs": 2})
    with pytest.raises(ModelError, match="in_bands"):
        create_model({"backbone": "cnn1d", "num_outputs": 2})
    with pytest.raises(ModelError, match="num_outputs"):
        create_model({"backbone": "cnn1d", "in_bands": 4})
    with pytest.raises(ModelError, match="'backbone'"):
        create_model({"in_bands": 4, "num_outputs": 2})
    with pytest.raises(ModelError, match="known types"):
        create_model({"type": "ensemble", "in_bands": 4, "num_outputs": 2})
    with pytest.raises(ModelError, match="registered heads"):
        create_model({"backbone": "cnn1d", "head": "nope", "in_bands": 4, "num_outputs": 2})


def test_single_models_default_heads_and_shorthands():
    pooled = create_model({"backbone": "fastspec", "in_bands": 7, "num_classes": 5})
    assert isinstance(pooled, HSIModel) and pooled.head.spec["name"] == "linear" and pooled.num_outputs == 5
    dense = create_model({"backbone": {"name": "unet", "base": 4, "levels": 1}, "in_bands": 7, "num_outputs": 3})
    assert dense.dense and dense.head.spec["name"] == "dense"
    assert dense(torch.rand(1, 7, 6, 6)).shape == (1, 3, 6, 6)
    reg = create_model({"backbone": "fastspec", "head": {"name": "regression", "hidden": 4}, "in_bands": 7,
                        "num_outputs": 2})
    assert reg(torch.rand(3, 7, 1, 1)).shape == (3, 2)
    assert create_model(reg.spec()).spec() == reg.spec()
