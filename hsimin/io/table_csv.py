"""A per-spectrum table (:class:`~hsimin.core.types.SpectrumTable`) as CSV, for formats with no place for one.

An ENVI cube converted from a TSG package keeps its table (hole, tray, depth, TSA's answers and scalars) in a
sidecar ``NAME_spectra.csv`` beside the header, named by the header key ``hsimin spectrum table``; the key
``hsimin spectrum table types`` lists each column's type (``f8``, ``f4`` or ``text``), so a text column whose
values look like numbers (tray ``"07"``) stays text and a float32 column reads back as float32.

The CSV is plain (RFC 4180, UTF-8, a header row of column names, one row per pixel in row-major order):
numbers with full precision (``repr``), a missing number or a missing text as an empty field. A spreadsheet
opens it as it is; a CSV edited elsewhere and read without the types infers them (a column is a number when
every non-empty field parses as one).
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from ..core.errors import FormatError
from ..core.types import SpectrumTable

__all__ = ["TABLE_TYPES", "column_types", "read_table_csv", "table_csv_text"]

TABLE_TYPES = ("f8", "f4", "text")


def column_types(table: SpectrumTable) -> list[str]:
    """One type code per column of ``table``, in order: ``f8``, ``f4`` or ``text``."""
    out = []
    for name in table.names:
        a = table[name]
        out.append("text" if a.dtype.kind == "O" else ("f4" if a.dtype == np.float32 else "f8"))
    return out


def _number_text(v: float) -> str:
    return "" if math.isnan(v) else repr(v)


def table_csv_text(table: SpectrumTable) -> str:
    """The CSV text of ``table`` (see the module docstring)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.names)
    cols = []
    for name, kind in zip(table.names, column_types(table)):
        a = table[name]
        if kind == "text":
            cols.append(a.tolist())
        elif kind == "f4":
            # str of a float32 is its shortest round-tripping text; repr of the float64 would add digits
            cols.append(["" if np.isnan(v) else str(v) for v in a])
        else:
            cols.append([_number_text(v) for v in a.tolist()])
    w.writerows(zip(*cols))
    return buf.getvalue()


def _parse_numbers(values: list[str], name: str, path: Path, dtype) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        s = v.strip()
        if not s:
            out[i] = np.nan
            continue
        try:
            out[i] = float(s)
        except ValueError:
            raise FormatError(f"column {name!r} row {i + 1} holds {s[:30]!r}, not a number", path=path) from None
    return out.astype(dtype)


def _looks_numeric(values: list[str]) -> bool:
    seen = False
    for v in values:
        s = v.strip()
        if not s:
            continue
        try:
            float(s)
        except ValueError:
            return False
        seen = True
    return seen


def read_table_csv(path: str | os.PathLike, rows: int, types: list[str] | None = None) -> SpectrumTable:
    """Read a table written by :func:`table_csv_text`.

    Parameters
    ----------
    path : the CSV file
    rows : the number of rows the table must have (the cube's pixels, H x W)
    types : one of :data:`TABLE_TYPES` per column, as the header listed them; None infers them

    Raises :class:`FormatError` naming the file for a missing or unreadable file, a ragged row, a row count
    other than ``rows``, a types list of another length or a non-number in a number column.
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            records = list(csv.reader(f))
    except FileNotFoundError:
        raise FormatError("the spectrum table named by `hsimin spectrum table` is missing; keep it beside the "
                          "header", path=p) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FormatError(f"cannot read the spectrum table ({getattr(exc, 'strerror', None) or exc})",
                          path=p) from None
    if not records or not records[0]:
        raise FormatError("the spectrum table is empty (no header row)", path=p)
    names, body = records[0], records[1:]
    if len(body) != rows:
        raise FormatError(f"the spectrum table has {len(body)} rows; the cube has {rows} pixels", path=p)
    for i, r in enumerate(body):
        if len(r) != len(names):
            raise FormatError(f"row {i + 1} of the spectrum table has {len(r)} fields, the header {len(names)}",
                              path=p)
    if types is not None:
        if len(types) != len(names):
            raise FormatError(f"the header lists {len(types)} column types; the spectrum table has {len(names)} "
                              "columns", path=p)
        bad = [t for t in types if t not in TABLE_TYPES]
        if bad:
            raise FormatError(f"unknown column type {bad[0][:20]!r} (use {', '.join(TABLE_TYPES)})", path=p)
    if len(set(names)) != len(names):
        raise FormatError("the spectrum table repeats a column name", path=p)
    columns = {}
    for j, name in enumerate(names):
        values = [r[j] for r in body]
        kind = types[j] if types is not None else ("f8" if _looks_numeric(values) else "text")
        if kind == "text":
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = _parse_numbers(values, name, p, np.float32 if kind == "f4" else np.float64)
    try:
        return SpectrumTable(columns)
    except Exception as exc:  # an empty column name, say
        raise FormatError(f"the spectrum table is not valid ({getattr(exc, 'message', exc)})", path=p) from None
