"""The ``hsimin`` command line: parse -> config -> one library call; no logic of its own.

Each verb lives in a module of this package that defines ``register(subparsers)``; the module adds its
sub-parser and sets ``func`` to a handler ``handler(args) -> int``. Errors are reported on one line,
``hsimin: error: <path>: <what is wrong>``, exit code 2 for bad input or usage, 1 for other failures;
``--debug`` shows the traceback instead. Control characters and bidi overrides in the line (an id from a
manifest, a class name from a checkpoint) are shown escaped (:func:`hsimin.core.text.printable`).

SIGTERM and SIGHUP end a verb the way Ctrl-C does: an exception unwinds the stack, so every atomic writer removes
its temporary files (a plain SIGTERM would leave hidden ``.part`` files behind). The exit code is 128 + the signal.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
import warnings

from ..core.errors import HsiminError
from ..core.text import printable

# Verb modules, in --help order. Each registers one or more verbs.
COMMAND_MODULES = [
    "hsimin.cli.io_commands",
    "hsimin.cli.preprocess_commands",
    "hsimin.cli.model_commands",
    "hsimin.cli.classify_commands",
    "hsimin.cli.explain_commands",
    "hsimin.cli.prospect_commands",
    "hsimin.cli.batch_commands",
    "hsimin.cli.compare_commands",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage (argparse errors): exit code 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises instead of printing usage and exiting, so every error is one line."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = _Parser(prog="hsimin", description="Hyperspectral drill-core scans to mineral maps.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hsimin {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the verb module is not part of this build
                continue
            raise
        module.register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanup runs as for Ctrl-C (``signum``: which)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)


def _terminate(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _termination_as_interrupt():
    """While a verb runs, SIGTERM and SIGHUP raise :class:`Terminated` (verbs that handle them themselves, like
    ``batch``, install their own handlers inside)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            old[sig] = signal.signal(sig, _terminate)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _one_line(text: str) -> str:
    return printable(" ".join(str(text).split()))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("HSIMIN_DEBUG") == "1"
    if not debug:
        # Library warnings would break the promise of one line on stderr; --debug shows them.
        warnings.simplefilter("ignore")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE if args.command is None and argv else EXIT_OK
        with _termination_as_interrupt():
            return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"hsimin: error: {_one_line(exc)} (see hsimin --help)", file=sys.stderr)
        return EXIT_USAGE
    except HsiminError as exc:
        if debug:
            traceback.print_exc()
        print(f"hsimin: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated as exc:
        name = signal.Signals(exc.signum).name if exc.signum in signal.Signals._value2member_map_ else exc.signum
        print(f"hsimin: terminated ({name})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("hsimin: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            traceback.print_exc()
        print("hsimin: error: out of memory; give the job a smaller block size or fewer workers, or run it on a "
              "machine with more memory", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        if debug:
            traceback.print_exc()
        where = f"{_one_line(exc.filename)}: " if exc.filename else ""
        print(f"hsimin: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
        return EXIT_USAGE if exc.filename else EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, unless --debug
        if debug:
            traceback.print_exc()
        print(f"hsimin: error: unexpected {type(exc).__name__}: {_one_line(exc)} (rerun with --debug)",
              file=sys.stderr)
        return EXIT_FAILURE
