"""The ``brainenc`` command: thin wrappers around the Python API."""

from __future__ import annotations

import argparse
import sys

from .commands import add_world_commands
from .data.commands import add_data_commands
from .encoders.commands import add_encoder_commands
from .maps.commands import add_report_command


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``brainenc`` command."""
    parser = argparse.ArgumentParser(prog="brainenc", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_world_commands(subparsers)
    add_data_commands(subparsers)
    add_encoder_commands(subparsers)
    add_report_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``brainenc`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
