"""Text that is safe to show: ids, names and messages echoed on a terminal, in a log line or on a figure.

Hole ids, tray ids, class names and paths come from manifests, headers and checkpoints that anyone can write. A
NUL, an escape sequence or a right-to-left override (U+202E) shown raw can truncate a log line, recolour a
terminal or make ``evil.exe`` read as ``exe.live``; a line break splits the one-line error promise. So whatever
hsimin echoes goes through :func:`printable` first.
"""
from __future__ import annotations

import unicodedata

__all__ = ["printable"]

# Unicode categories shown escaped: Cc (controls: NUL, ESC, line breaks...), Cf (format characters: bidi
# overrides and isolates, zero-width joiners), Co (private use), Cs (lone surrogates), Zl/Zp (line/paragraph
# separators).
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})


def printable(text, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format (bidi override, zero-width) and separator character written as a
    visible escape (``\\x00``, ``\\u202e``), so what is shown is what is there. Tabs become spaces; with
    ``keep_newlines`` line breaks stay (for multi-line reports)."""
    out = []
    for ch in str(text):
        if ch == "\t":
            out.append(" ")
        elif ch == "\n" and keep_newlines:
            out.append(ch)
        elif unicodedata.category(ch) in _HIDDEN:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)
