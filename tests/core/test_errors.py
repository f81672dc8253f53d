"""Errors name their file first so the CLI can print one line."""
from hsimin.core import FormatError, HsiminError, OutputExistsError, OutputError


def test_error_string_names_the_path_first():
    e = FormatError("data file is missing", path="/x/tray.hdr")
    assert str(e) == "/x/tray.hdr: data file is missing" and e.path == "/x/tray.hdr"
    assert str(HsiminError("no path")) == "no path"
    assert issubclass(OutputExistsError, OutputError) and issubclass(OutputError, HsiminError)
