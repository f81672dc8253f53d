"""Every registered backbone, for free: shapes, backward, eval determinism, checkpoint round trip
(ARCHITECTURE §4). A new backbone file is picked up by ``list_backbones()`` and tested here; its
``tiny_kwargs`` keep the instance small so the suite stays fast on 2 cores."""
import pytest
import torch
from torch import nn

from hsimin.core.errors import InputError, ModelError
from hsimin.models import (Backbone, backbone_builder, create_backbone, create_model, list_backbones, load_model,
                           register_backbone, save_model)

torch.set_num_threads(1)
BANDS = 20
REQUIRED = {"cnn1d", "cnn2d", "cnn3d", "unet", "resnet_casa", "vit", "dbda", "fastspec"}
ALL = list_backbones()


def tiny(name: str, in_bands: int = BANDS) -> nn.Module:
    torch.manual_seed(0)
    return create_backbone(name, in_bands=in_bands, **getattr(backbone_builder(name), "tiny_kwargs", {}))


def side(model) -> int:
    return 16 if model.dense else 9


def test_required_backbones_registered():
    assert REQUIRED <= set(ALL), f"missing {REQUIRED - set(ALL)}"
    assert ALL == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
def test_contract_and_shapes(name):
    m = tiny(name).eval()
    assert isinstance(m.num_features, int) and m.num_features > 0 and isinstance(m.dense, bool)
    assert m.spec["name"] == name and m.spec["in_bands"] == BANDS
    with torch.no_grad():
        for h, w in [(side(m), side(m)), (1, 1), (7, 5)]:
            y = m(torch.rand(3, BANDS, h, w))
            want = (3, m.num_features, h, w) if m.dense else (3, m.num_features)
            assert tuple(y.shape) == want, (h, w)
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ALL)
def test_backward_reaches_input_and_parameters(name):
    m = tiny(name).train()
    x = torch.rand(2, BANDS, side(m), side(m), requires_grad=True)
    y = m(x)
    (y * torch.randn_like(y)).sum().backward()
    params = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    unused = [n for n, p in params if p.grad is None]
    assert not unused, f"parameters outside the graph: {unused}"
    assert all(torch.isfinite(p.grad).all() for _, p in params)
    assert sum(float(p.grad.abs().sum()) for _, p in params) > 0
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", ALL)
def test_eval_is_deterministic(name):
    m = tiny(name)
    x = torch.rand(2, BANDS, side(m), side(m))
    m.train()
    m(x)                                           # move BN running statistics away from their init
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))


@pytest.mark.parametrize("name", ALL)
def test_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(1)
    bb = tiny(name)
    spec = {"backbone": bb.spec, "num_outputs": 3, "patch_size": side(bb)}
    model = create_model(spec)
    x = torch.rand(4, BANDS, side(bb), side(bb))
    model.train()
    model(x)                                       # BN running statistics must travel too
    model.eval()
    with torch.no_grad():
        want = model(x)
    path = tmp_path / f"{name}.pt"
    wl = [1000.0 + 10 * i for i in range(BANDS)]
    digest = save_model(model, path, wavelengths=wl, class_names=["a", "b", "c"], recipe=None)
    loaded = load_model(path)
    assert not loaded.model.training and loaded.model_hash == digest
    assert loaded.spec == model.spec() and loaded.patch_size == side(bb)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), want)


@pytest.mark.parametrize("name", ALL)
def test_input_is_checked(name):
    m = tiny(name).eval()
    with pytest.raises(InputError, match=f"built for {BANDS} bands"):
        m(torch.rand(2, BANDS + 1, 9, 9))
    with pytest.raises(InputError, match=r"\(N, B, H, W\)"):
        m(torch.rand(BANDS, 9, 9))


def test_pixel_models_use_the_centre_pixel():
    for name in ("cnn1d", "fastspec"):
        m = tiny(name).eval()
        patch = torch.rand(2, BANDS, 9, 9)
        with torch.no_grad():
            a = m(patch)
            b = m(patch[:, :, 4:5, 4:5].contiguous())
            patch[:, :, 0, 0] += 1.0                 # changing a neighbour changes nothing
            c = m(patch)
        assert torch.allclose(a, b) and torch.equal(a, c), name


def test_unet_crops_back_any_size_and_is_dense():
    m = tiny("unet").eval()
    x = torch.rand(1, BANDS, 13, 11)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (1, m.num_features, 13, 11)


def test_vit_patch_size_and_position_encoding():
    from hsimin.models.backbones.vit import auto_patch_size
    assert [auto_patch_size(s) for s in (1, 9, 16, 32)] == [1, 3, 2, 4]
    m = create_backbone("vit", in_bands=5, img_size=32, embed_dim=8, depth=1, heads=2)
    assert m.patch_size == 4 and m.pos_embed.shape == (1, 64, 8)
    assert m.position_encoding(8, 8) is m.pos_embed
    assert m.position_encoding(3, 5).shape == (1, 15, 8)
    assert m.tokens(torch.rand(2, 5, 10, 10)).shape == (2, 1 + 9, 8)     # padded to 12 x 12: 3 x 3 tokens


def test_resnet_casa_structure():
    m = create_backbone("resnet_casa", in_bands=270, widths=[8, 16, 16, 32], band_reduction=16, reduction=4)
    assert isinstance(m.stem[0][0], nn.Conv2d) and m.stem[0][0].kernel_size == (1, 1)     # band reduction
    assert m.stem[0][0].out_channels == 16
    assert [len(s) for s in m.stages] == [2, 2, 2, 2]
    block = m.stages[1][0]
    assert block.conv1.stride == (2, 2) and not isinstance(block.shortcut, nn.Identity)
    assert block.spatial_attention.conv.kernel_size == (7, 7)
    assert block.spatial_attention.conv.padding == (3, 3)
    assert block.channel_attention.fc1.out_features == 4
    assert m.num_features == 32
    small = create_backbone("resnet_casa", in_bands=15, widths=[8, 16])
    assert small.stem[0][0].in_channels == 15 and small.stem[0][0].kernel_size == (3, 3)  # no reduction needed


def test_fastspec_band_indices_and_brightness():
    idx = [3, 4, 5, 10, 11]
    m = create_backbone("fastspec", in_bands=BANDS, widths=[6], band_indices=idx).eval()
    assert m.layers[0].in_features == len(idx)
    x = torch.rand(4, BANDS, 1, 1) + 0.1
    y = x.clone()
    y[:, [0, 1, 2, 19]] = 5.0                     # bands outside the window do not matter
    with torch.no_grad():
        assert torch.equal(m(x), m(y))
        assert torch.allclose(m(x), m(2.0 * x), atol=1e-5)      # brightness invariant when normalize=True
    with pytest.raises(ModelError, match="band_indices"):
        create_backbone("fastspec", in_bands=BANDS, band_indices=[0, BANDS])
    conv = create_backbone("fastspec", in_bands=BANDS, widths=[4], conv_channels=2, conv_kernel=5, conv_stride=3)
    assert conv(torch.rand(2, BANDS, 1, 1)).shape == (2, 4)


def test_registry_errors_name_the_way_out():
    with pytest.raises(ModelError, match="cnn1d") as err:
        create_backbone("nope", in_bands=4)
    assert "registered backbones" in str(err.value)
    with pytest.raises(ModelError, match="accepts"):
        create_backbone("cnn1d", in_bands=4, no_such_option=3)
    with pytest.raises(InputError, match="in_bands"):
        create_backbone("cnn1d", in_bands=0)
    with pytest.raises(InputError, match="str, int, float"):
        create_backbone("cnn1d", in_bands=4, widths=[object()])


def test_registering_a_backbone_is_one_decorator():
    @register_backbone("_test_mean_spectrum")
    class MeanSpectrum(Backbone):
        def __init__(self, in_bands: int, scale: float = 1.0):
            super().__init__()
            self.w = nn.Parameter(torch.full((in_bands,), float(scale)))
            self.num_features, self.dense = in_bands, False

        def forward(self, x):
            return x.mean(dim=(2, 3)) * self.w

    try:
        assert "_test_mean_spectrum" in list_backbones()
        m = create_backbone("_test_mean_spectrum", in_bands=3, scale=2.0)
        assert m.spec == {"name": "_test_mean_spectrum", "in_bands": 3, "scale": 2.0}
        assert torch.allclose(m(torch.ones(1, 3, 2, 2)), torch.full((1, 3), 2.0))
        with pytest.raises(ModelError, match="registered already"):
            @register_backbone("cnn1d")
            class Clash(Backbone):
                pass
    finally:
        from hsimin.models.registry import _BACKBONES
        _BACKBONES._entries.pop("_test_mean_spectrum", None)


def test_backbone_must_declare_its_contract():
    @register_backbone("_test_bad")
    def bad(in_bands):
        return nn.Linear(in_bands, 2)             # no num_features / dense

    try:
        with pytest.raises(ModelError, match="num_features"):
            create_backbone("_test_bad", in_bands=3)
    finally:
        from hsimin.models.registry import _BACKBONES
        _BACKBONES._entries.pop("_test_bad", None)
