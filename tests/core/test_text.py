"""printable: what hsimin echoes shows what is there (issue 14: ids with NUL or a right-to-left override were
echoed raw)."""
from hsimin.core import printable


def test_controls_bidi_and_separators_are_escaped():
    assert printable("H1\x00T\u202e3\x1b[31m") == "H1\\x00T\\u202e3\\x1b[31m"
    assert printable("a\u2028b\u200dc") == "a\\u2028b\\u200dc"
    assert printable("line\nbreak") == "line\\x0abreak"
    assert printable("line\nbreak", keep_newlines=True) == "line\nbreak"
    assert printable("tab\there") == "tab here"


def test_ordinary_text_is_untouched():
    for text in ("DDH042/T07", "µm 2200 nm", "Étain–Sn", "深度"):
        assert printable(text) == text
