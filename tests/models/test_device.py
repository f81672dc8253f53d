"""One device resolution for training, prediction and the plugin (hsimin.models.device)."""
import pytest
import torch

from hsimin.core.errors import InputError
from hsimin.models import resolve_device
from hsimin.predict import resolve_device as predict_resolve_device
from hsimin.train.loop import resolve_device as train_resolve_device


def test_one_function_everywhere():
    assert predict_resolve_device is resolve_device and train_resolve_device is resolve_device


def test_cpu_auto_and_none():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" cpu ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_names_the_value():
    with pytest.raises(InputError, match="'cuda:1': CUDA is not available"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("bad", ["gpu0", "", "cpu:x"])
def test_not_a_device(bad):
    with pytest.raises(InputError, match="is not a torch device"):
        resolve_device(bad)
