"""Entry point: ``neuroplast <command> ...``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
this file only dispatches and turns user errors into one-line messages (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from neuroplast import __version__
from neuroplast.cli.common import usable_cores
from neuroplast.train.threads import torch_threads

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


def sub_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` of ``parser``."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"] and arguments[1:] not in (["-h"], ["--help"]):
        # everything after it is the suite's own (argparse's REMAINDER would refuse
        # `bench --quick`: an option before any positional); `bench --help` is this one's
        args = parser.parse_args(["bench"])
        args.args = arguments[1:]
    else:
        args, extra = parser.parse_known_args(arguments)
        if extra:  # argparse blames the top parser; for what follows the command, the
            # command's own parser is the right one
            after = arguments.index(args.command) + 1 if args.command else len(arguments)
            ours = args.command and all(e in arguments[after:] for e in extra)
            blamed = sub_parser(parser, args.command) if ours else parser
            blamed.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    threads, cores = getattr(args, "threads", None), usable_cores()
    if threads is not None and threads > cores:
        print(f"neuroplast {args.command}: note: --threads {threads} is more than this "
              f"machine's {cores} usable cores; the threads take turns (the same results, "
              "more slowly)", file=sys.stderr)
    try:
        with torch_threads(threads):
            code = int(args.run(args) or 0)
        sys.stdout.flush()  # a pipe is block-buffered: a closed reader shows here, not at exit
        return code
    except KeyboardInterrupt:
        print("neuroplast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`neuroplast methods | head`): be quiet,
        # as a command killed by SIGPIPE is; stdout goes nowhere so exit's flush cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # 141, a shell's status for a SIGPIPE
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError,
            NotImplementedError, OSError) as exc:
        print(f"neuroplast {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (some library messages span several)."""
    return " ".join(str(exc).split()) or exc.__class__.__name__


if __name__ == "__main__":
    raise SystemExit(main())
