"""docs/architecture.md lists every module of hsimin and of the napari plugin, and none that is gone: the map a
newcomer reads stays true (add your new module's line there)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"


def _modules():
    files = list((ROOT / "hsimin").rglob("*.py")) + list((ROOT / "plugins" / "napari_hsimin").rglob("*.py"))
    return {p.relative_to(ROOT).as_posix() for p in files}


def _listed():
    return set(re.findall(r"^\| `((?:hsimin|plugins)/[^`]+\.py)` \|", DOC.read_text(encoding="utf-8"), re.M))


def test_every_module_is_on_the_map():
    missing = sorted(_modules() - _listed())
    assert not missing, f"modules missing from docs/architecture.md: {missing}"


def test_no_module_on_the_map_is_gone():
    stale = sorted(_listed() - _modules())
    assert not stale, f"docs/architecture.md lists modules that do not exist: {stale}"


def test_every_line_says_something():
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `((?:hsimin|plugins)/[^`]+\.py)` \| (.*) \|$", line)
        if m:
            assert len(m.group(2).strip()) >= 10, f"{m.group(1)}: no description"
