"""Write ``hsimin/classical/data/swir_fit_r2_floors.json``: the SWIR interpretation's per-mineral fit floors from
simulated scanner spectra (:mod:`hsimin.classical.calibration`; seeded, so every run writes the same numbers).

    .venv/bin/python scripts/make_fit_floors.py            # about 15 s on 2 cores
    .venv/bin/python scripts/make_fit_floors.py --check    # exit 1 if the shipped file differs from a fresh run
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hsimin.classical.calibration import FLOORS_PATH, fit_r2_floors  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = ap.parse_args(argv)
    table = fit_r2_floors()
    table = {"what": "per-mineral r2 floors of the SWIR fit (hsimin.classical.calibration); made by "
                     "scripts/make_fit_floors.py from simulated scanner spectra of USGS splib07 (no real scanner "
                     "spectra)", **table}
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if args.check:
        same = FLOORS_PATH.exists() and FLOORS_PATH.read_text(encoding="utf-8") == text
        print(f"{FLOORS_PATH}: {'up to date' if same else 'differs from a fresh run'}")
        return 0 if same else 1
    from hsimin.io.writers import write_text
    FLOORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    write_text(FLOORS_PATH, text, overwrite=True)
    print(f"wrote {FLOORS_PATH}: {len(table['floors'])} minerals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
