"""argparse value types shared by the verbs: each checks one kind of option value and names the option in its
error, so a bad value is refused by argparse in one line (``hsimin identify: error: argument --min-depth: ...``)
before any file is opened."""
from __future__ import annotations

import argparse
import math
from typing import Callable

__all__ = ["number_in", "numbers", "positive_int"]


def _named(parse: Callable, option: str) -> Callable:
    parse.__name__ = option.lstrip("-").replace("-", "_")   # argparse shows the name for a ValueError
    return parse


def positive_int(option: str) -> Callable[[str], int]:
    """A type for ``option``: an integer >= 1."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = 0
        if v < 1:
            raise argparse.ArgumentTypeError(f"{option} wants a positive integer, got {text!r}")
        return v
    return _named(parse, option)


def number_in(option: str, what: str, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False,
              hi_open: bool = False) -> Callable[[str], float]:
    """A type for ``option``: a finite number in [lo, hi] (``lo_open``/``hi_open``: the bound itself refused);
    ``what`` says what the number is in the error (``'a probability'``, ``'a width in nm'``)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
            span = f"{left}{lo:g}, {hi:g}{right}"
            raise argparse.ArgumentTypeError(f"{option} wants {what}, a number in {span}, got {text!r}")
        return v
    return _named(parse, option)


def numbers(option: str, what: str, count: int | None = None, *, positive: bool = False,
            integers: bool = False) -> Callable[[str], tuple]:
    """A type for ``option``: comma- (or space-) separated numbers, ``count`` of them when given, each finite (and
    > 0 with ``positive``; whole numbers as ``int`` with ``integers``)."""
    def parse(text: str) -> tuple:
        parts = [p for p in str(text).replace(" ", ",").split(",") if p]
        try:
            values = tuple((int(p) if integers else float(p)) for p in parts)
        except ValueError:
            values = None
        ok = (values is not None and len(values) > 0 and (count is None or len(values) == count)
              and all(math.isfinite(v) and (v > 0 if positive else True) for v in values))
        if not ok:
            raise argparse.ArgumentTypeError(f"{option} wants {what}; got {text!r}")
        return values
    return _named(parse, option)
