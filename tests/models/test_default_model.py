

def test_the_default_alias_is_resolved_in_one_place(tmp_path):
    """'default' (any case, spaces) and None name the shipped model; anything else is a path, ~ expanded; the CLI,
    batch and the workflow all go through model_path."""
    from pathlib import Path

    from hsimin.models import default_model_path, model_path
    assert model_path("default") == model_path(" DEFAULT ") == model_path(None) == default_model_path()
    assert model_path(tmp_path / "m.pt") == tmp_path / "m.pt"
    assert model_path("~/m.pt") == Path.home() / "m.pt"
