"""hsimin.io: readers and writers (the only package, with hsimin.batch, that touches the filesystem).

``open_cube`` picks a reader (ENVI via SPy, HDF5 via h5py, Specim capture folders); ``save_cube``,
``save_map`` and ``open_map`` choose the format from the extension; ``iter_blocks`` streams a cube in
bounded memory. All writes are atomic.
"""
from .atomic import (atomic_output, atomic_outputs, check_not_input, check_output_folder, check_output_path,
                     output_group)
from ..core.blocks import Block, iter_blocks
from .dispatch import open_map, output_format, save_cube, save_map, source_files
from .registry import Reader, get_reader, list_readers, open_cube, register_reader

__all__ = ["Block", "Reader", "atomic_output", "atomic_outputs", "check_not_input", "check_output_folder",
           "check_output_path", "get_reader", "iter_blocks", "list_readers", "open_cube", "open_map",
           "output_format", "output_group", "register_reader", "save_cube", "save_map", "source_files"]
