"""numpy band-last <-> torch (N, B, H, W): the one conversion module (ARCHITECTURE §3)."""
import warnings

import numpy as np
import pytest
import torch

from hsimin.core.errors import InputError
from hsimin.models.layout import extract_patches, to_numpy, to_torch

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("shape, want", [
    ((5,), (1, 5, 1, 1)),
    ((4, 5), (4, 5, 1, 1)),
    ((3, 2, 5), (1, 5, 3, 2)),
    ((6, 3, 2, 5), (6, 5, 3, 2)),
])
def test_round_trip_and_axes(shape, want):
    a = RNG.random(shape, dtype=np.float32)
    t = to_torch(a)
    assert tuple(t.shape) == want and t.dtype == torch.float32
    back = to_numpy(t, ndim=a.ndim)
    assert back.shape == a.shape and np.array_equal(back, a)
    if a.ndim == 3:                                       # band b of pixel (i, j) lands at [0, b, i, j]
        assert float(t[0, 4, 2, 1]) == a[2, 1, 4]
    if a.ndim == 4:
        assert float(t[5, 3, 1, 0]) == a[5, 1, 0, 3]


def test_float32_is_shared_other_dtypes_converted():
    a = RNG.random((3, 4, 5), dtype=np.float32)
    t = to_torch(a)
    a[0, 0, 0] = 42.0
    assert float(t[0, 0, 0, 0]) == 42.0                   # no copy of a writable float32 block
    rev = to_torch(a[::-1, :, ::2])                        # negative strides and gaps
    assert np.array_equal(to_numpy(rev, ndim=3), a[::-1, :, ::2])
    t64 = to_torch(a.astype(np.float64))
    assert t64.dtype == torch.float32 and torch.equal(t64, t)
    assert to_torch(np.arange(4, dtype=np.int16)[None]).dtype == torch.float32
    with pytest.raises(InputError, match="numeric"):
        to_torch(np.array([["a", "b"]]))
    with pytest.raises(InputError, match=r"\(H, W, B\)"):
        to_torch(np.zeros((1, 2, 3, 4, 5), np.float32))


def test_read_only_memmap_is_copied_without_warning(tmp_path):
    path = tmp_path / "cube.f32"
    RNG.random((4, 3, 6), dtype=np.float32).tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=(4, 3, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = to_torch(mm)
    assert t.shape == (1, 6, 4, 3) and np.array_equal(to_numpy(t, ndim=3), np.asarray(mm))


def test_to_numpy_defaults_and_errors():
    logits = torch.rand(7, 3)
    assert to_numpy(logits).shape == (7, 3)
    dense = torch.rand(2, 3, 4, 5, requires_grad=True)
    out = to_numpy(dense)
    assert out.shape == (2, 4, 5, 3) and np.array_equal(out[1, 2, 3], dense[1, :, 2, 3].detach().numpy())
    with pytest.raises(InputError, match="3-D"):
        to_numpy(dense, ndim=3)                            # N = 2 is not one cube
    with pytest.raises(InputError, match="2-D"):
        to_numpy(dense, ndim=2)
    with pytest.raises(InputError):
        to_numpy(torch.rand(2, 3, 4))


def test_extract_patches_interior_and_edges():
    H, W, B = 6, 7, 3
    block = RNG.random((H, W, B), dtype=np.float32)
    rows, cols = np.array([2, 3, 0, 5]), np.array([3, 4, 0, 6])
    p = extract_patches(block, rows, cols, 3)
    assert p.shape == (4, B, 3, 3) and p.dtype == torch.float32
    assert np.array_equal(p[0].numpy(), block[1:4, 2:5].transpose(2, 0, 1))
    assert np.array_equal(p[1, :, 1, 1].numpy(), block[3, 4])                      # centre pixel
    # corner (0, 0) with edge replication: the out-of-block row/column repeat the border
    padded = np.pad(block, ((1, 1), (1, 1), (0, 0)), mode="edge")
    assert np.array_equal(p[2].numpy(), padded[0:3, 0:3].transpose(2, 0, 1))
    assert np.array_equal(p[3].numpy(), padded[5:8, 6:9].transpose(2, 0, 1))
    zeros = extract_patches(block, [0], [0], 3, pad_mode="constant")
    assert float(zeros[0, :, 0, :].abs().sum()) == 0 and np.array_equal(zeros[0, :, 1, 1].numpy(), block[0, 0])
    # size 1 = the pixels themselves; even sizes put the centre at index size // 2
    assert np.array_equal(extract_patches(block, rows, cols, 1)[:, :, 0, 0].numpy(), block[rows, cols])
    even = extract_patches(block, [3], [3], 4)
    assert np.array_equal(even[0].numpy(), block[1:5, 1:5].transpose(2, 0, 1))
    assert np.array_equal(even[0, :, 2, 2].numpy(), block[3, 3])


def test_patches_feed_centre_pixel_models_consistently():
    from hsimin.models.backbones._layers import centre_pixel
    block = RNG.random((5, 5, 4), dtype=np.float32)
    for size in (1, 2, 3, 4, 9):
        p = extract_patches(block, [1, 4], [2, 0], size)
        assert np.array_equal(centre_pixel(p).numpy(), block[[1, 4], [2, 0]])


def test_extract_patches_errors():
    block = np.zeros((4, 4, 2), np.float32)
    with pytest.raises(InputError, match="inside"):
        extract_patches(block, [4], [0], 3)
    with pytest.raises(InputError, match="one length"):
        extract_patches(block, [0, 1], [0], 3)
    with pytest.raises(InputError, match="positive"):
        extract_patches(block, [0], [0], 0)
    with pytest.raises(InputError, match=r"\(H, W, B\)"):
        extract_patches(block[0], [0], [0], 3)
    assert extract_patches(block, np.array([], int), np.array([], int), 3).shape == (0, 2, 3, 3)
