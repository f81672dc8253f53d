"""Training tests run torch on one thread: on a shared 2-core machine two spinning OpenMP threads per process
make small models tens of times slower, and one thread keeps results identical run to run."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
