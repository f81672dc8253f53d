"""The numpy side never imports torch, captum or napari (ARCHITECTURE §1)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
NUMPY_SIDE = ["hsimin", "hsimin.core", "hsimin.io", "hsimin.preprocess", "hsimin.classical", "hsimin.samples",
              "hsimin.io.envi", "hsimin.io.hdf5", "hsimin.io.specim", "hsimin.io.libraries"]


def _present(mod: str) -> bool:
    return (ROOT / (mod.replace(".", "/") + ".py")).exists() or (ROOT / mod.replace(".", "/")).is_dir()


def test_numpy_side_does_not_import_torch():
    mods = [m for m in NUMPY_SIDE if _present(m)]
    code = ("import importlib, json, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "import hsimin; hsimin.open_cube; hsimin.open_map\n"
            "print(json.dumps({k: k in sys.modules for k in ('torch', 'captum', 'napari')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "captum": False, "napari": False}, f"imported {loaded} via {mods}"


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        exe = shutil.which("lint-imports")
    assert exe, "import-linter is part of the [dev] extra; make test installs it"
    out = subprocess.run([str(exe)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout and "KEPT" in out.stdout
