"""Physical augmentations on (N, C, H, W) batches: each does what it says, is seeded, keeps labels."""
import numpy as np
import pytest
import torch

from hsimin.core.errors import ConfigError, InputError
from hsimin.data.augment import (Brightness, ContinuumSlope, FlipRotate, Mixing, Noise, WavelengthShift,
                                 build_augment)

WL = np.linspace(1000.0, 2500.0, 151)          # 10 nm bands


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _spectra(n=64, centre=1800.0):
    """(n, 151, 1, 1): reflectance 0.5 with one Gaussian absorption (depth 0.3, sigma 30 nm) at ``centre``."""
    s = 0.5 * (1 - 0.3 * np.exp(-0.5 * ((WL - centre) / 30.0) ** 2))
    return torch.tensor(np.tile(s, (n, 1)), dtype=torch.float32)[:, :, None, None]


def _centroid(x):
    """Band-depth-weighted centre (nm) of the absorption of each spectrum in (N, C, 1, 1)."""
    d = (x.amax(dim=1, keepdim=True) - x)[:, :, 0, 0].double()
    w = torch.as_tensor(WL)
    return (d * w).sum(1) / d.sum(1)


@pytest.mark.parametrize("aug", [Brightness(), ContinuumSlope(0.2, 0.1, wavelengths=WL),
                                 WavelengthShift(4.0, wavelengths=WL), Noise((50, 100)), Mixing(0.3, p=1.0),
                                 FlipRotate()])
def test_seeded_shape_and_labels_kept(aug):
    x = _spectra(16).expand(-1, -1, 3, 3).contiguous()
    y = torch.arange(16) % 3
    a, ya = aug(x, y, _g(1))
    b, yb = aug(x, y, _g(1))
    c, _ = aug(x, y, _g(2))
    assert a.shape == x.shape and torch.equal(a, b) and torch.equal(ya, y) and torch.equal(yb, y)
    assert not torch.equal(a, c) or isinstance(aug, FlipRotate)      # flips of a constant patch look the same
    assert torch.equal(x, _spectra(16).expand(-1, -1, 3, 3))         # input not modified in place


def test_brightness_scales_each_sample_by_one_factor():
    x = _spectra()
    a, _ = Brightness(0.7, 1.3)(x, None, _g())
    ratio = (a / x)[:, :, 0, 0]
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)
    assert ratio.min() >= 0.7 - 1e-6 and ratio.max() <= 1.3 + 1e-6 and ratio[:, 0].std() > 0.05


def test_slope_is_a_gentle_linear_ramp_over_wavelength():
    x = _spectra()
    a, _ = ContinuumSlope(max_slope=0.1, wavelengths=WL)(x, None, _g())
    ramp = (a / x)[:, :, 0, 0].double()
    t = torch.linspace(-1, 1, WL.size, dtype=torch.float64)
    slope = (ramp[:, -1] - ramp[:, 0]) / 2
    assert torch.allclose(ramp, 1 + slope[:, None] * t[None], atol=1e-5)     # exactly linear, 1 at the centre
    assert slope.abs().max() <= 0.1 + 1e-6 and slope.std() > 0.02


def test_shift_moves_the_feature_by_at_most_max_nm_and_zero_is_identity():
    x = _spectra(200)
    a, _ = WavelengthShift(5.0, wavelengths=WL)(x, None, _g())
    d = _centroid(a) - _centroid(x)
    assert d.abs().max() <= 5.0 + 0.5 and d.std() > 1.5                  # U(-5, 5): sd 2.9 nm
    same, _ = WavelengthShift(0.0, wavelengths=WL)(x, None, _g())
    assert torch.allclose(same, x, atol=1e-6)
    with pytest.raises(InputError):
        WavelengthShift(3.0)
    with pytest.raises(InputError):
        WavelengthShift(3.0, wavelengths=WL[:10])(x, None, _g())


def test_noise_has_the_asked_snr():
    x = _spectra(400)
    a, _ = Noise(100.0)(x, None, _g())
    snr = x.mean(dim=(1, 2, 3)) / (a - x).std(dim=(1, 2, 3))
    assert abs(float(snr.median()) - 100.0) < 10.0


def test_mixing_takes_a_minor_fraction_of_another_class():
    x = torch.cat([torch.ones(20, 4, 1, 1), torch.zeros(20, 4, 1, 1)])
    y = torch.cat([torch.zeros(20, dtype=torch.long), torch.ones(20, dtype=torch.long)])
    a, ya = Mixing(max_fraction=0.3, p=1.0)(x, y, _g())
    assert torch.equal(ya, y)
    assert (a[:20] >= 0.7 - 1e-6).all() and (a[:20] <= 1.0).all() and (a[:20] < 1.0).any()
    assert (a[20:] <= 0.3 + 1e-6).all() and (a[20:] > 0).any()
    single, _ = Mixing(0.3, p=1.0)(x[:20], y[:20], _g())             # no other class in the batch: unchanged
    assert torch.equal(single, x[:20])
    with pytest.raises(InputError):
        Mixing(max_fraction=0.6)


def test_flip_transforms_dense_labels_alike_and_leaves_pixels():
    lab = torch.arange(25).reshape(1, 5, 5).repeat(32, 1, 1)
    x = lab[:, None].float().repeat(1, 2, 1, 1)
    a, ya = FlipRotate()(x, lab, _g())
    assert torch.equal(a[:, 0].long(), ya) and torch.equal(a[:, 1].long(), ya)
    assert len({tuple(v.reshape(-1).tolist()) for v in ya}) == 8        # all 8 symmetries occur
    px = _spectra(4)
    assert torch.equal(FlipRotate()(px, None, _g())[0], px)


def test_probability_applies_per_sample():
    x = _spectra(400)
    a, _ = Brightness(2.0, 2.0, p=0.25)(x, None, _g())
    changed = ~torch.isclose(a, x).all(dim=(1, 2, 3))
    assert 0.15 < changed.float().mean() < 0.35


def test_build_augment_order_and_errors():
    comp = build_augment({"noise": {"snr": 200}, "brightness": True, "flip": {}, "mixing": {"max_fraction": 0.2},
                          "shift": {"max_nm": 2}, "slope": False}, WL)
    assert [s.name for s in comp.steps] == ["mixing", "shift", "brightness", "flip", "noise"]
    assert comp.to_dict()["noise"]["snr"] == [200.0, 200.0]
    assert len(build_augment(None)) == 0
    with pytest.raises(ConfigError, match="augment.jitter"):
        build_augment({"jitter": {}})
    with pytest.raises(ConfigError, match="augment.noise.snrr"):
        build_augment({"noise": {"snrr": 3}})
    with pytest.raises(ConfigError, match="augment.mixing"):
        build_augment({"mixing": {"max_fraction": 0.9}})
    with pytest.raises(ConfigError, match="augment.shift"):
        build_augment({"shift": {"max_nm": 2}})                          # needs wavelengths


def test_recipe_after_augments_reflectance_then_preprocesses():
    from hsimin.data.augment import RecipeAfter
    from hsimin.preprocess import Recipe
    recipe = {"steps": [{"step": "band_window", "lo_nm": 1500.0, "hi_nm": 2500.0},
                        {"step": "continuum_removal"}]}
    x = _spectra(8, centre=2000.0).expand(-1, -1, 2, 2).contiguous()
    t = RecipeAfter(Brightness(0.5, 2.0), recipe, WL)
    a, _ = t(x, None, _g())
    ref, wl_out = Recipe.from_dict(recipe).apply(x.permute(0, 2, 3, 1).numpy(), WL)
    assert a.shape == (8, wl_out.size, 2, 2) and wl_out.size < WL.size
    # continuum removal is blind to a brightness factor: the augmented batch preprocesses like the original
    assert np.allclose(a.permute(0, 2, 3, 1).numpy(), ref, atol=1e-5)
    shifted, _ = RecipeAfter(WavelengthShift(8.0, wavelengths=WL), recipe, WL)(x, None, _g())
    assert not np.allclose(shifted.permute(0, 2, 3, 1).numpy(), ref, atol=1e-3)
