"""``brainenc data ...``: thin command-line wrappers around the download and prepare API."""

from __future__ import annotations

import argparse


def add_data_commands(subparsers) -> argparse.ArgumentParser:
    """Register ``data download`` and ``data prepare`` on an argparse subparsers object.

    Each leaf parser sets ``func`` (call it as ``args.func(args)``; it returns an exit code).
    """
    data = subparsers.add_parser("data", help="download and prepare fMRI datasets")
    sub = data.add_subparsers(dest="data_command", required=True)

    dl = sub.add_parser("download", help="download a dataset (parallel, resumable, checksummed)")
    dl.add_argument("dataset", help="manifest name (nsd, algonauts2023) or a manifest TOML path")
    _selection(dl)
    dl.add_argument("--dry-run", action="store_true", help="list what would be fetched, and GB")
    dl.add_argument("--workers", type=int, default=4, help="parallel transfers (default 4)")
    dl.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="KEY",
        help="skip a file kind, e.g. --exclude stimuli (repeatable)",
    )
    dl.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="KEY",
        help="also fetch an optional file kind, e.g. betas_nifti",
    )
    dl.add_argument("--verify", action="store_true", help="re-hash present files against the lock")
    dl.add_argument("--base-url", default=None, help="mirror URL instead of the manifest's")
    dl.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="give up on an attempt after this many seconds without data (default 30)",
    )
    dl.add_argument(
        "--min-rate",
        type=float,
        default=10_000.0,
        help="give up on an attempt slower than this many bytes/s over 30 s (default 10000)",
    )
    dl.set_defaults(func=_download)

    pr = sub.add_parser("prepare", help="build the on-disk response store of a subject")
    pr.add_argument("dataset", choices=["nsd"], help="dataset to prepare")
    _selection(pr)
    pr.add_argument(
        "--dtype",
        choices=["float32", "float16"],
        default="float32",
        help="storage precision of the responses (default float32)",
    )
    pr.add_argument("--no-zscore", action="store_true", help="keep betas in %% signal change")
    pr.add_argument("--nsdgeneral", action="store_true", help="keep nsdgeneral targets only")
    pr.add_argument("--mesh", default="fsaverage", help="surface of the fsaverage betas")
    pr.add_argument("--out", default=None, help="store path (default under <root>/prepared/)")
    pr.add_argument("--overwrite", action="store_true", help="rebuild even if up to date")
    pr.set_defaults(func=_prepare)
    return data


def _selection(p) -> None:
    p.add_argument("--subject", type=int, default=None, help="subject number (NSD: 1-8)")
    p.add_argument("--space", default=None, help="fsaverage or func1pt8mm (NSD)")
    p.add_argument("--sessions", default=None, help="e.g. 1-40, 1,3,5-7 (default: all)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: $BRAINENC_DATA, else ~/brainenc_data)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _download(args) -> int:
    from .download import download

    download(
        args.dataset,
        args.subject,
        args.space,
        args.sessions,
        args.data_dir,
        include=args.include,
        exclude=args.exclude,
        workers=args.workers,
        dry_run=args.dry_run,
        progress=not args.quiet,
        verify=args.verify,
        base_url=args.base_url,
        timeout=args.timeout,
        min_rate=args.min_rate,
    )
    return 0


def _prepare(args) -> int:
    from .nsd import prepare_nsd

    if args.subject is None:
        from ..validation import UsageError

        raise UsageError("brainenc data prepare nsd needs --subject (1-8)")
    path = prepare_nsd(
        args.subject,
        args.space or "fsaverage",
        args.sessions,
        args.data_dir,
        out=args.out,
        dtype=args.dtype,
        zscore=not args.no_zscore,
        nsdgeneral=args.nsdgeneral,
        mesh=args.mesh,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    if not args.quiet:
        print(f"response store: {path}")
    return 0
