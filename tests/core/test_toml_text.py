"""The one TOML writer/reader (hsimin.core.toml_text): the behaviour its docstring promises, pinned."""
import math
import tomllib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsimin.core.errors import ConfigError
from hsimin.core.toml_text import parse_toml, toml_dumps, toml_key, toml_string, toml_value
from hsimin.preprocess import Recipe
from hsimin.train.config import toml_dumps as config_toml_dumps


def test_one_writer_for_recipes_and_configs():
    # the training config re-exports the same function: there is one TOML writer
    assert config_toml_dumps is toml_dumps


def test_strings_keep_non_ascii_and_escape_control_characters():
    assert toml_string("Mössbauer") == '"Mössbauer"'
    assert toml_string('a"b\\c') == '"a\\"b\\\\c"'
    assert toml_string("tab\there\x00\x7f") == '"tab\\there\\u0000\\u007F"'
    for s in ["Mössbauer", "emoji \U0001F600 astral", "nul\x00del\x7f", "quote\"back\\slash", "\u2028 line sep"]:
        assert tomllib.loads(f"k = {toml_string(s)}")["k"] == s


@given(st.text(max_size=40))
def test_any_string_round_trips(s):
    assert parse_toml(toml_dumps({"k": s}))["k"] == s


@given(st.floats(allow_nan=False))
def test_floats_round_trip_exactly_and_stay_floats(x):
    back = parse_toml(toml_dumps({"x": x}))["x"]
    assert isinstance(back, float) and back == x


def test_special_floats_and_integral_floats():
    assert toml_value(1.0) == "1.0"
    assert toml_value(1e300) == "1e+300"
    assert math.isnan(parse_toml("x = " + toml_value(float("nan")))["x"])
    assert parse_toml("x = " + toml_value(float("-inf")))["x"] == float("-inf")
    assert toml_value(np.float32(0.5)) == "0.5"   # numpy scalars are written as their Python values


def test_none_is_left_out_of_tables_but_refused_inside_arrays():
    assert parse_toml(toml_dumps({"a": 1, "b": None, "t": {"c": None, "d": 2}})) == {"a": 1, "t": {"d": 2}}
    with pytest.raises(ConfigError, match="None"):
        toml_dumps({"a": [1, None, 3]})


def test_tables_arrays_of_tables_and_inline_tables():
    d = {"seed": 3, "model": {"backbone": {"name": "fastspec", "widths": [128, 64]}},
         "steps": [{"step": "a", "lo_nm": 1.5}, {"step": "b"}], "mixed": [[1, 2], ["x"]],
         "inline": [{"k": 1}, 2]}
    text = toml_dumps(d)
    assert "[[steps]]" in text and "[model.backbone]" in text
    assert tomllib.loads(text) == d


def test_keys_quoted_only_when_needed():
    assert toml_key("lo_nm") == "lo_nm"
    assert toml_key("a b") == '"a b"'
    assert toml_key("") == '""'
    assert tomllib.loads(toml_dumps({"a.b": 1, "ü": 2})) == {"a.b": 1, "ü": 2}


def test_unwritable_values_and_bad_text_are_config_errors():
    with pytest.raises(ConfigError, match="cannot write"):
        toml_value(object())
    with pytest.raises(ConfigError, match="the thing is not valid TOML"):
        parse_toml("[[x]\n", "the thing")


def test_recipe_round_trip_through_the_shared_writer():
    r = Recipe.from_dict({"hsimin_recipe": 1, "steps": [{"step": "band_window", "lo_nm": 1300.0, "hi_nm": 2500.0},
                                                         {"step": "continuum_removal", "mode": "quotient"}]})
    text = r.to_toml()
    assert text.startswith("hsimin_recipe = 1\n")
    assert Recipe.from_toml(text) == r
