"""Training from a checkpoint (model.init_from) through reset_classifier: the whole backbone, and the head rows of
the classes both models share, moved to their new positions."""
import numpy as np
import pytest
import torch

from hsimin.core.errors import ConfigError
from hsimin.models import create_model, save_model
from hsimin.train.run import init_backbone_from

B = 12
WL = np.linspace(1300.0, 2500.0, B)


def _model(k, widths=(8,), head="linear", seed=0):
    torch.manual_seed(seed)
    return create_model({"backbone": {"name": "fastspec", "widths": list(widths)}, "head": head, "in_bands": B,
                         "num_outputs": k, "patch_size": 1})


def _saved(tmp_path, model, names):
    path = tmp_path / "base.pt"
    save_model(model, path, wavelengths=WL, class_names=names)
    return path


def test_backbone_and_shared_class_rows_carried(tmp_path):
    base = _model(3, seed=1)
    path = _saved(tmp_path, base, ["kaolinite", "white_mica", "smectite"])
    new = _model(4, seed=2)
    info = init_backbone_from(new, path, ["white_mica", "calcite", "kaolinite", "epidote"])
    assert info["head"] == "carried" and info["classes_carried"] == 2
    src, dst = base.state_dict(), new.state_dict()
    for k, v in src.items():
        if not k.startswith("head."):
            assert torch.equal(dst[k], v), k
    w_key = next(k for k in dst if k.startswith("head.") and k.endswith("weight"))
    # old class 0 (kaolinite) now at 2, old 1 (white_mica) at 0; the new classes keep the fresh rows
    assert torch.equal(dst[w_key][2], src[w_key][0]) and torch.equal(dst[w_key][0], src[w_key][1])
    # the new classes get freshly initialised rows, none a copy of an old class
    for j in (1, 3):
        assert not any(torch.equal(dst[w_key][j], src[w_key][i]) for i in range(3))
        assert dst[w_key][j].abs().sum() > 0


def test_same_classes_give_the_same_model(tmp_path):
    base = _model(3, seed=1)
    names = ["a", "b", "c"]
    path = _saved(tmp_path, base, names)
    new = _model(3, seed=5)
    init_backbone_from(new, path, names)
    x = torch.rand(5, B, 1, 1)
    base.eval(), new.eval()
    assert torch.allclose(base(x), new(x))


def test_a_backbone_that_does_not_fit_is_refused(tmp_path):
    path = _saved(tmp_path, _model(3, widths=(8,)), ["a", "b", "c"])
    new = _model(3, widths=(16,))
    before = {k: v.clone() for k, v in new.state_dict().items()}
    with pytest.raises(ConfigError, match="backbone does not fit"):
        init_backbone_from(new, path, ["a", "b", "c"])
    assert all(torch.equal(before[k], v) for k, v in new.state_dict().items())   # untouched
