"""``brainenc demo`` and ``brainenc world build``: thin wrappers around the Python API."""

from __future__ import annotations

import argparse

from .world.build import WORLD_MODELS


def add_world_commands(subparsers) -> None:
    """Register ``demo`` and ``world build`` on an argparse subparsers object."""
    demo = subparsers.add_parser(
        "demo", help="the whole pipeline on a simulated subject: fit, maps, synthesis, report"
    )
    demo.add_argument("--out", default="brainenc_results/demo", help="results folder")
    demo.add_argument("--subject", type=int, default=1, help="world subject (default 1)")
    demo.add_argument(
        "--backbone",
        action="append",
        default=None,
        metavar="SPEC",
        help="backbone spec to compare (repeatable; default: gabor and world-clip)",
    )
    demo.add_argument(
        "--encoder",
        action="append",
        default=None,
        metavar="SPEC",
        help="encoder spec fitted on each backbone (repeatable; default: linear)",
    )
    demo.add_argument("--n-train", type=int, default=2000, help="training images (default 2000)")
    demo.add_argument("--n-test", type=int, default=300, help="test images (default 300)")
    synthesis = demo.add_mutually_exclusive_group()
    synthesis.add_argument(
        "--synthesize",
        action="append",
        default=None,
        metavar="ROI",
        help="ROI to synthesize images for (repeatable; default FFA and PPA)",
    )
    synthesis.add_argument("--no-synthesis", action="store_true", help="skip image synthesis")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or table")
    demo.set_defaults(func=_demo)

    world = subparsers.add_parser("world", help="the in-silico world's own models")
    sub = world.add_subparsers(dest="world_command", required=True)
    build = sub.add_parser(
        "build",
        help="retrain the world's models and write their checkpoints (on 2 free CPU cores: the "
        "category oracle ~15 min, the judge ~15 min, world-clip ~6 min, world-vit ~12 min, the "
        "diffusion prior ~75 min)",
    )
    build.add_argument(
        "--only",
        choices=WORLD_MODELS,
        action="append",
        default=None,
        help="build only this model (repeatable; default: all)",
    )
    build.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    build.add_argument(
        "--device",
        type=_device,
        default="cpu",
        help="where the diffusion prior trains (cpu or cuda; default cpu); the other models "
        "train on the CPU",
    )
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)


def _device(value: str) -> str:
    """``--device``, checked where it is parsed (imported late: ``--help`` stays light)."""
    from .validation import device_argument

    return device_argument(value)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .study_commands import check_world_args

    check_world_args(args, args.synthesize or (), ("n_train", "n_test"))
    run_demo(
        args.out,
        subject=args.subject,
        backbones=tuple(args.backbone or ("gabor", "world-clip")),
        encoders=tuple(args.encoder or ("linear",)),
        n_train=args.n_train,
        n_test=args.n_test,
        synthesize=() if args.no_synthesis else tuple(args.synthesize or ("FFA", "PPA")),
        progress=not args.quiet,
    )
    return 0


def _build(args: argparse.Namespace) -> int:
    from .world.build import build_world

    build_world(args.only, seed=args.seed, device=args.device, progress=not args.quiet)
    return 0
