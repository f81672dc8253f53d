"""docs/cli.md is what `hsimin --help` says today (scripts/gen_cli_docs.py writes it; `make docs` runs it): a verb
or an option added without regenerating the reference fails here, not in a user's hands."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, ("docs/cli.md is out of date: run `make docs` (or scripts/gen_cli_docs.py)\n"
                               + p.stdout[-2000:] + p.stderr[-2000:])
