"""Line-block streaming lives in :mod:`hsimin.core.blocks` (it slices any Cube, on disk or not); re-exported
here because readers and writers are its main users."""
from ..core.blocks import DEFAULT_BLOCK_BYTES, Block, block_lines, iter_blocks

__all__ = ["DEFAULT_BLOCK_BYTES", "Block", "block_lines", "iter_blocks"]
