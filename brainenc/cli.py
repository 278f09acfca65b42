"""The brainenc command: fit, map and report encoders of the visual cortex, synthesize the images
a region prefers, caption what regions and vertices prefer, and manage datasets and the in-silico
world."""

from __future__ import annotations

import argparse
import sys

from .captions.commands import add_caption_command
from .commands import add_world_commands
from .data.commands import add_data_commands
from .fit_commands import add_encoder_commands
from .maps.commands import add_report_command
from .study_commands import add_study_commands


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless the help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or any(action.default is v for v in (None, False, argparse.SUPPRESS))
        ):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, like every other error of the command, and
    whose help shows the defaults (every subcommand's parser is one too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"brainenc: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``brainenc`` command."""
    parser = _Parser(prog="brainenc", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_study_commands(subparsers)
    add_caption_command(subparsers)
    add_world_commands(subparsers)
    add_data_commands(subparsers)
    add_encoder_commands(subparsers)
    add_report_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``brainenc`` console script.

    Every error prints one line, ``brainenc: error: <message>``, and returns a non-zero exit
    code (2 for bad arguments, 1 otherwise); ``--debug`` shows the traceback instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("brainenc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        from .validation import UsageError

        print(f"brainenc: error: {_message(e)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1


def _message(error: Exception) -> str:
    """The error as one line; one that is not among the errors a user causes says it is a bug."""
    from .data.download import DownloadError

    # a bad argument, a missing, malformed or refused file, a failed download, a missing package
    user_errors = (ValueError, KeyError, OSError, DownloadError, ImportError)
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = str(error.args[0])  # str(KeyError) quotes its message
    else:
        text = str(error)
    if not isinstance(error, user_errors):
        return (
            f"{type(error).__name__}: {text} (this is a bug in brainenc; rerun with --debug and "
            "report the traceback)"
        )
    return " ".join(text.split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
