"""Checkpoints: self-describing, plain (weights_only-loadable), atomic, and refusing pickled objects."""
import os
import pickle

import numpy as np
import pytest
import torch

from hsimin.core.errors import (InputError, ModelError, OutputExistsError, UnsafeCheckpointError,
                                WavelengthError)
from hsimin.models import FORMAT, create_model, load_model, model_hash, save_model
import zipfile
import hsimin.models.checkpoint as checkpoint_mod

torch.set_num_threads(1)
BANDS = 6
WL = [2100.0 + 20 * i for i in range(BANDS)]
SPEC = {"backbone": {"name": "cnn1d", "widths": [4, 4], "kernel_size": 3}, "in_bands": BANDS, "num_outputs": 3,
        "patch_size": 1}


class Payload:
    """Unpickling this creates ``path``: a stand-in for arbitrary code in a hostile checkpoint."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return create_model(SPEC)


@pytest.fixture
def saved(model, tmp_path):
    path = tmp_path / "model.pt"
    save_model(model, path, wavelengths=WL, class_names=["kaolinite", "white_mica", "calcite"],
               recipe={"steps": [{"name": "continuum_removal"}]}, extra={"split": "by_hole", "oa": 0.91,
                                                                         "mean": np.arange(3.0)})
    return path


def _walk(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)
    else:
        yield obj


def test_file_is_a_plain_dict_of_tensors_and_values(saved, model):
    raw = torch.load(saved, weights_only=True, map_location="cpu")
    assert raw["format"] == FORMAT and raw["format_version"] == 1
    assert raw["wavelengths"] == WL and raw["class_names"] == ["kaolinite", "white_mica", "calcite"]
    assert raw["spec"] == model.spec() and raw["recipe"] == {"steps": [{"name": "continuum_removal"}]}
    assert raw["sha256"] == model_hash(model.state_dict())
    assert isinstance(raw["hsimin_version"], str) and isinstance(raw["torch_version"], str)
    plain = (str, int, float, bool, type(None), torch.Tensor)
    assert all(type(v) in plain for v in _walk(raw))
    assert sorted(os.listdir(saved.parent)) == ["model.pt"]          # no temporary file left behind


def test_load_gives_everything_inference_needs(saved, model):
    got = load_model(saved)
    assert not got.model.training
    assert got.wavelengths.dtype == np.float64 and got.wavelengths.tolist() == WL
    assert got.class_names == ("kaolinite", "white_mica", "calcite")
    assert got.recipe == {"steps": [{"name": "continuum_removal"}]}
    assert got.extra["split"] == "by_hole" and torch.equal(got.extra["mean"], torch.arange(3.0, dtype=torch.float64))
    assert got.patch_size == 1 and got.version and got.path == str(saved)
    x = torch.rand(5, BANDS, 1, 1)
    model.eval()
    with torch.no_grad():
        assert torch.equal(got.model(x), model(x))


def test_pickled_object_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Payload(probe)))                   # the payload is live when unpickled
    assert probe.exists()
    evil = tmp_path / "evil_model.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}, "classes": ["kaolinite"], "extra": Payload(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match="pickled Python objects") as err:
        load_model(evil)
    assert not marker.exists()
    assert err.value.path == str(evil) and "evil_model.pt" in str(err.value)
    assert "weights_only=False" not in str(err.value)            # never advise the unsafe way


def test_plain_pickle_with_an_object_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"state_dict": {}, "x": Payload(marker)}, protocol=4))
    with pytest.raises(UnsafeCheckpointError):
        load_model(legacy)
    assert not marker.exists()


def test_unsafe_payload_inside_a_real_checkpoint_is_refused(saved, tmp_path):
    raw = torch.load(saved, weights_only=True)
    raw["recipe"] = {"steps": [Payload(tmp_path / "PWNED")]}
    torch.save(raw, saved)
    with pytest.raises(UnsafeCheckpointError):
        load_model(saved)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("break_it, match", [
    (lambda raw: raw.pop("spec"), "lacks"),
    (lambda raw: raw.update(format="something-else"), "not an hsimin model checkpoint"),
    (lambda raw: raw.update(format_version=99), "newer"),
    (lambda raw: raw["state_dict"].update({k: v + 1 for k, v in raw["state_dict"].items()
                                           if v.is_floating_point()}), "sha256"),
    (lambda raw: raw["spec"]["backbone"].update(name="no_such_backbone"), "no_such_backbone"),
    (lambda raw: raw["spec"]["backbone"].update(in_bands=BANDS + 1), "wavelengths|weights do not fit"),
    (lambda raw: raw["spec"]["backbone"].update(widths=[4, 8]), "weights do not fit"),
    (lambda raw: raw.update(class_names=["a"]), "class names"),
])
def test_broken_checkpoints_raise_model_error_naming_the_file(saved, break_it, match):
    raw = torch.load(saved, weights_only=True)
    break_it(raw)
    torch.save(raw, saved)
    with pytest.raises(ModelError, match=match) as err:
        load_model(saved)
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert err.value.path == str(saved)


def test_bare_state_dict_garbage_and_missing_files(model, tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    with pytest.raises(ModelError, match="bare state_dict"):
        load_model(bare)
    for name, content in (("text.pt", b"not a checkpoint at all"), ("empty.pt", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError, match="not a readable checkpoint") as err:
            load_model(tmp_path / name)
        assert not isinstance(err.value, UnsafeCheckpointError) and name in str(err.value)
    with pytest.raises(ModelError, match="no checkpoint file"):
        load_model(tmp_path / "missing.pt")


def test_save_checks_metadata_against_the_model(model, tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(WavelengthError, match="5 values for 6 bands"):
        save_model(model, path, wavelengths=WL[:-1], class_names=["a", "b", "c"])
    with pytest.raises(WavelengthError, match="increasing"):
        save_model(model, path, wavelengths=WL[::-1], class_names=["a", "b", "c"])
    with pytest.raises(InputError, match="class names"):
        save_model(model, path, wavelengths=WL, class_names=["a", "b"])
    with pytest.raises(InputError, match="recipe"):
        save_model(model, path, wavelengths=WL, class_names=["a", "b", "c"], recipe={"step": object()})
    with pytest.raises(ModelError, match="spec"):
        save_model(torch.nn.Linear(2, 2), path, wavelengths=WL, class_names=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []
    save_model(model, path, wavelengths=WL, class_names=["a", "b", "c"])
    with pytest.raises(OutputExistsError):
        save_model(model, path, wavelengths=WL, class_names=["a", "b", "c"])
    save_model(model, path, wavelengths=WL, class_names=["x", "y", "z"], overwrite=True)
    assert load_model(path).class_names == ("x", "y", "z")


def test_model_hash_tracks_values_not_layout():
    a = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    b = {"b": torch.zeros(2), "w": torch.arange(6.0).reshape(2, 3).t().contiguous().t()}   # other strides, order
    assert not b["w"].is_contiguous()
    assert model_hash(a) == model_hash(b)
    c = {"w": a["w"].clone(), "b": a["b"].clone()}
    c["w"][1, 2] += 1e-6
    assert model_hash(c) != model_hash(a)
    assert model_hash({"w": a["w"].double(), "b": a["b"]}) != model_hash(a)
    assert len(model_hash(a)) == 64


# --------------------------------------------------------------------------------------------- hostile files (issue 14)




def _resave(path, edit):
    raw = torch.load(path, weights_only=True)
    edit(raw)
    raw["sha256"] = model_hash(raw["state_dict"])     # a consistent file: the hash check alone would not catch it
    torch.save(raw, path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(saved, value):
    """NaN weights gave exit 0, '14121 classified', every pixel class 0 with NaN confidence."""
    def poison(raw):
        name = next(k for k, v in raw["state_dict"].items() if v.is_floating_point())
        raw["state_dict"][name].view(-1)[0] = value
    _resave(saved, poison)
    with pytest.raises(ModelError, match="NaN or infinite") as err:
        load_model(saved)
    assert err.value.path == str(saved)


@pytest.mark.parametrize("edit, match", [
    (lambda raw: raw.update(recipe="x"), "recipe is a str"),
    (lambda raw: raw.update(class_names=["kaolinite\x00", "white_mica", "calcite"]), "control or bidi"),
    (lambda raw: raw.update(class_names=["kaolinite", "\u202eetiroLhc", "calcite"]), "control or bidi"),
    (lambda raw: raw.update(class_names=["kaolinite", "", "calcite"]), "non-empty text"),
    (lambda raw: raw.update(class_names="abc"), "list of names"),
])
def test_malformed_metadata_is_a_model_error_not_an_unexpected_one(saved, edit, match):
    """recipe='x' and class names holding NUL gave 'unexpected ...', exit 1."""
    _resave(saved, edit)
    with pytest.raises(ModelError, match=match) as err:
        load_model(saved)
    assert err.value.path == str(saved)


def test_a_spec_asking_for_huge_layers_is_refused_before_allocating(saved, monkeypatch):
    """widths 20000 allocated 1.6 GB before the shape check. The spec is now compared on torch's meta device: the
    real build is never reached."""
    _resave(saved, lambda raw: raw["spec"]["backbone"].update(widths=[20000, 20000]))

    def no_real_build(spec, p):
        raise AssertionError("the model was built for real before its shapes were checked")
    monkeypatch.setattr(checkpoint_mod, "_build", no_real_build)
    with pytest.raises(ModelError, match="do not fit the architecture") as err:
        load_model(saved)
    assert "in the spec" in str(err.value)


def test_a_deflated_checkpoint_that_unpacks_far_beyond_its_size_is_refused(saved, tmp_path):
    """A small deflated file can carry unbounded data in its unhashed extra (a decompression bomb)."""
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(bomb, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        info = zipfile.ZipInfo("model/data/bomb")
        info.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(info, "w", force_zip64=True) as fh:
            zero = bytes(2**20)
            for _ in range(48):                       # 48 MiB of zeros, deflated to about 50 kB
                fh.write(zero)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ModelError, match="unpack to .* bytes from a .*-byte file") as err:
        load_model(bomb)
    assert err.value.path == str(bomb)
