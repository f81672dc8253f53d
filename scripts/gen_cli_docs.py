"""Write ``docs/cli.md``, the command-line reference, from the ``--help`` of ``hsimin`` and of every verb.

    .venv/bin/python scripts/gen_cli_docs.py            # writes docs/cli.md (``make docs`` runs it first)
    .venv/bin/python scripts/gen_cli_docs.py --check    # exit 1 if docs/cli.md is out of date

The text is argparse's own help, formatted at a fixed width so the page does not depend on the terminal, one
section per verb in ``hsimin --help`` order. Nothing is written by hand: change a verb's help, re-run this.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "cli.md"
WIDTH = "100"


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    os.environ["COLUMNS"] = WIDTH  # argparse wraps at $COLUMNS - 2
    from hsimin.cli import build_parser

    parser = build_parser()
    verbs = _verbs(parser)
    helps = {a.dest: a.help for a in getattr(next((a for a in parser._actions
                                                    if isinstance(a, argparse._SubParsersAction)), None),
                                              "_choices_actions", [])}
    lines = ["# Command-line reference", "",
             "Generated from `hsimin --help` by `scripts/gen_cli_docs.py` (`make docs` runs it); do not edit by "
             "hand.", "",
             "Every verb reports errors on one line, `hsimin: error: <file>: <what is wrong>`, and exits with 2 "
             "for bad input or usage; `--debug` shows the traceback instead. `hsimin batch` exits with 0 when "
             "every tray is done, 1 when some failed (the rest are written) and 130 when interrupted.", "",
             "| verb | what it does |", "|---|---|"]
    for name in verbs:
        lines.append(f"| [`{name}`](#hsimin-{name}) | {helps.get(name) or ''} |")
    lines += ["", "## hsimin", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in verbs.items():
        lines += [f"## hsimin {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if docs/cli.md is out of date")
    args = ap.parse_args()
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    tmp = TARGET.with_name(f".{TARGET.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(TARGET)
    print(f"wrote {TARGET.relative_to(ROOT)} ({text.count(chr(10) + '## hsimin ')} verbs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
