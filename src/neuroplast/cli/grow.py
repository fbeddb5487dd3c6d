"""``neuroplast grow``: not available yet in this version."""

from __future__ import annotations

import argparse

from neuroplast.errors import NotYetImplementedError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grow", help="(not yet available)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise NotYetImplementedError("`neuroplast grow` is not available yet in this version")
