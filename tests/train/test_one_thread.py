"""The root conftest puts the tests of tests/data and tests/train on one torch thread (see ONE_TORCH_THREAD_DIRS)."""
import torch


def test_training_tests_run_on_one_torch_thread():
    assert torch.get_num_threads() == 1
