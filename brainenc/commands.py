"""``brainenc demo`` and ``brainenc world ...``: thin wrappers around the Python API."""

from __future__ import annotations

import argparse


def add_world_commands(subparsers) -> None:
    """Register ``demo`` and ``world build`` on an argparse subparsers object."""
    demo = subparsers.add_parser(
        "demo", help="fit and map a linear encoder on a simulated subject (about 2 minutes)"
    )
    demo.add_argument("--out", default="brainenc_results/demo", help="results folder")
    demo.add_argument("--subject", type=int, default=1, help="world subject (default 1)")
    demo.add_argument(
        "--backbone",
        action="append",
        default=None,
        metavar="SPEC",
        help="backbone spec to compare (repeatable; default: gabor)",
    )
    demo.add_argument("--n-train", type=int, default=2000, help="training images (default 2000)")
    demo.add_argument("--n-test", type=int, default=300, help="test images (default 300)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or table")
    demo.set_defaults(func=_demo)

    world = subparsers.add_parser("world", help="the in-silico world's own models")
    sub = world.add_subparsers(dest="world_command", required=True)
    build = sub.add_parser(
        "build",
        help="retrain the world's models and write their checkpoints (the category oracle: ~2 "
        "min on 2 CPU cores; world-clip: ~30 min)",
    )
    build.add_argument(
        "--only",
        choices=("oracle", "world-clip"),
        action="append",
        default=None,
        help="build only this model (repeatable; default: all)",
    )
    build.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(
        args.out,
        subject=args.subject,
        backbones=tuple(args.backbone or ("gabor",)),
        n_train=args.n_train,
        n_test=args.n_test,
        quiet=args.quiet,
    )
    return 0


def _build(args: argparse.Namespace) -> int:
    from .data.world.oracle import save_oracle, train_oracle
    from .features.world_clip import save_world_clip, train_world_clip

    only = set(args.only or ("oracle", "world-clip"))
    if "oracle" in only:
        model, record = train_oracle(seed=args.seed, progress=not args.quiet)
        path = save_oracle(model, record)
        print(f"category oracle: held-out accuracy {record['heldout_accuracy']:.3f} -> {path}")
    if "world-clip" in only:
        model, tokenizer, record = train_world_clip(seed=args.seed, progress=not args.quiet)
        path = save_world_clip(model, tokenizer, record)
        print(f"world-clip: zero-shot accuracy {record['zero_shot_accuracy']:.3f} -> {path}")
    return 0
