"""``brainenc report``: a thin wrapper around :func:`brainenc.maps.build_report`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_report_command(subparsers) -> None:
    """Register ``report`` on an argparse subparsers object."""
    report = subparsers.add_parser(
        "report", help="write a results folder's report.html: score table, maps, metadata"
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="results folder with summary.json")
    report.add_argument("--out", default=None, help="page to write (default RUN_DIR/report.html)")
    report.add_argument(
        "--screenshot",
        default=None,
        metavar="PNG",
        help="also load the page in headless Chromium, check it, and save a screenshot",
    )
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from .browser import load_page
    from .report import build_report

    page = build_report(args.run_dir, out=args.out)
    print(f"report: {page}")
    if args.screenshot is None:
        return 0
    loaded = load_page(page)
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    Path(args.screenshot).write_bytes(loaded.screenshot)
    broken = [name for name, ok in loaded.images if not ok]
    for problem in loaded.console_errors + [f"image does not decode: {n}" for n in broken]:
        print(f"page problem: {problem}")
    print(f"screenshot: {args.screenshot}")
    return 1 if loaded.console_errors or broken else 0
