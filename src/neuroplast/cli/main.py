"""Entry point: ``neuroplast <command> ...``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
this file only dispatches and turns user errors into one-line messages (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from neuroplast import __version__

COMMANDS = (
    "train", "evaluate", "demo", "inspect", "prune", "grow",
    "sites", "prune-model", "grow-model", "inspect-model",
    "methods", "reproduce", "bench",
)
"""Subcommands, in the order ``--help`` lists them; each lives in the module of
``neuroplast.cli`` named after it (``prune-model`` in ``prune_model``)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neuroplast",
        description="Neuron-level programmed death and replication for PyTorch networks.",
    )
    parser.add_argument("--version", action="version", version=f"neuroplast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"neuroplast.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("neuroplast: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError,
            NotImplementedError, OSError) as exc:
        print(f"neuroplast {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (some library messages span several)."""
    return " ".join(str(exc).split()) or exc.__class__.__name__


if __name__ == "__main__":
    raise SystemExit(main())
