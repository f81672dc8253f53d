"""TOML in and out: the one writer and the one reader hsimin uses (recipes, training configs).

Behaviour, pinned by ``tests/core/test_toml_text.py``:

* Strings are TOML basic strings: ``"`` and ``\\`` escaped, control characters (and DEL) as ``\\uXXXX``, every
  other character written as itself (UTF-8; TOML files are UTF-8, so "Mössbauer" stays readable).
* Floats are written as the shortest text that reads back to the same float, always with a ``.`` or exponent so
  they read back as floats (``1.0``, not ``1``); NaN and infinities as ``nan``, ``inf``, ``-inf``.
* Mappings are tables, lists of mappings arrays of tables, other mappings inside arrays inline tables.
* TOML has no null: a ``None`` value of a table key is left out (the reader then uses its default); a ``None``
  inside an array has no such meaning and is refused (:class:`ConfigError`) rather than dropped, which would
  shift the positions of the other items.
* Keys that are not bare (``A-Za-z0-9_-``) are quoted.

:func:`parse_toml` reads with ``tomllib`` (``tomli`` on Python 3.10) and turns a syntax error into a
:class:`ConfigError` naming ``what`` was read.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["parse_toml", "toml_dumps", "toml_key", "toml_string", "toml_value"]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(s: str) -> str:
    """``s`` as a TOML basic string (see the module docstring)."""
    out = []
    for c in str(s):
        if c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_key(k: Any) -> str:
    """A table key: bare where TOML allows it, else quoted."""
    k = str(k)
    return k if k and all(c in _BARE for c in k) else toml_string(k)


def toml_value(v: Any) -> str:
    """A TOML value for a bool, int, float, str, (nested) list or mapping (inline table)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)  # shortest text that reads back to the same float
        return r if any(c in r for c in ".eE") else r + ".0"
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (list, tuple)):
        if any(x is None for x in v):
            raise ConfigError(f"cannot write a list holding None to TOML (TOML has no null): {list(v)!r}")
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    if hasattr(v, "item") and callable(v.item):  # a numpy scalar
        return toml_value(v.item())
    raise ConfigError(f"cannot write {type(v).__name__} value {v!r} to TOML")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def toml_dumps(d: Mapping[str, Any], _prefix: str = "") -> str:
    """TOML text of a nested mapping of plain values (see the module docstring). Read back with :func:`parse_toml`."""
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, Mapping) or _is_table_list(v):
            tables.append((k, v))
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{_prefix}{toml_key(k)}"
        if isinstance(v, Mapping):
            out += f"\n[{name}]\n{toml_dumps(v, f'{name}.')}"
        else:
            for item in v:
                out += f"\n[[{name}]]\n{toml_dumps(item, f'{name}.')}"
    return out


def parse_toml(text: str, what: str = "TOML text") -> dict:
    """``text`` read as TOML; :class:`ConfigError` ("<what> is not valid TOML: ...") on a syntax error."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise ConfigError("reading TOML needs Python >= 3.11 or the 'tomli' package") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML: {exc}") from None
