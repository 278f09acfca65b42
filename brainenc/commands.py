"""``brainenc demo`` and ``brainenc world ...``: thin wrappers around the Python API."""

from __future__ import annotations

import argparse

from .world.build import WORLD_MODELS


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
        help="backbone spec to compare (repeatable; default: gabor and world-clip)",
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

    syn = subparsers.add_parser(
        "synthesize",
        help="BrainDiVE on the in-silico world: images that drive an ROI, scored against truth",
    )
    syn.add_argument("--roi", required=True, help="ROI to drive, e.g. FFA")
    syn.add_argument("--minus", default=None, metavar="ROI", help="maximise ROI minus this ROI")
    syn.add_argument("--minimize", action="store_true", help="look for images that suppress it")
    syn.add_argument("--n", type=int, default=16, help="images (default 16)")
    syn.add_argument("--seed", type=int, default=0, help="first noise seed (default 0)")
    syn.add_argument(
        "--guidance", choices=("robust", "paper"), default="robust",
        help="robust: normalized gradient on shifted, mirrored images (default); paper: "
        "BrainDiVE's raw gradient",
    )  # fmt: skip
    syn.add_argument(
        "--scale", type=float, default=None, help="guidance scale (default: robust 1, paper 30)"
    )
    syn.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    syn.add_argument("--subject", type=int, default=1, help="world subject (default 1)")
    syn.add_argument("--out", default="brainenc_results/synthesis", help="output folder")
    syn.add_argument("--quiet", action="store_true", help="no progress bars")
    syn.set_defaults(func=_synthesize)

    world = subparsers.add_parser("world", help="the in-silico world's own models")
    sub = world.add_subparsers(dest="world_command", required=True)
    build = sub.add_parser(
        "build",
        help="retrain the world's models and write their checkpoints (on 2 free CPU cores: the "
        "category oracle ~15 min, the judge ~15 min, world-clip ~6 min, the diffusion prior "
        "~75 min)",
    )
    build.add_argument(
        "--only",
        choices=WORLD_MODELS,
        action="append",
        default=None,
        help="build only this model (repeatable; default: all)",
    )
    build.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)


def _check_world_args(args: argparse.Namespace, rois, counts) -> None:
    """Refuse unknown ROIs and non-positive counts before any model is built or fitted."""
    from .validation import UsageError
    from .world.subjects import ROI_NAMES

    for roi in rois:
        if roi is not None and roi not in ROI_NAMES:
            raise UsageError(f"unknown ROI {roi!r}; the world's ROIs are {', '.join(ROI_NAMES)}")
    for name in ("subject", *counts):
        if getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be at least 1; got {getattr(args, name)}")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _check_world_args(args, args.synthesize or (), ("n_train", "n_test"))
    run_demo(
        args.out,
        subject=args.subject,
        backbones=tuple(args.backbone or ("gabor", "world-clip")),
        n_train=args.n_train,
        n_test=args.n_test,
        synthesize=() if args.no_synthesis else tuple(args.synthesize or ("FFA", "PPA")),
        quiet=args.quiet,
    )
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    _check_world_args(args, (args.roi, args.minus), ("n", "steps"))
    if args.scale is not None and not 0 < args.scale < float("inf"):
        from .validation import UsageError

        raise UsageError(f"--scale must be a positive number; got {args.scale}")
    from .synthesis import ROI, Contrast
    from .world.synthesis import synthesize_world, world_guidance

    objective = Contrast(args.roi, args.minus) if args.minus else ROI(args.roi)
    if args.minimize:
        objective = -objective
    summary = synthesize_world(
        objective, subject=args.subject, n_images=args.n, seed=args.seed,
        guidance=world_guidance(args.guidance, args.scale), num_inference_steps=args.steps,
        out=args.out, progress=not args.quiet,
    )  # fmt: skip
    for run in ("guided", "unguided"):
        r = summary[run]
        low, high = r["mean_true_ci95"]
        line = (f"{run:>8}: mean predicted {r['mean_predicted']:.2f}, mean true "
                f"{r['mean_true']:.2f} (95% CI {low:.2f} to {high:.2f})")  # fmt: skip
        for key, f in r["fractions"]["judge"].items():
            label = summary["preferred"] if key == "preferred" else "none"
            line += f", judged {label} {f['fraction']:.0%}"
        print(line)
    natural = f"natural world images: true 90th percentile {summary['natural_true_p90']:.2f}"
    if summary["preferred"]:
        natural += (f", median of {summary['preferred']} images "
                    f"{summary['natural_true_median_preferred']:.2f}")  # fmt: skip
    print(natural)
    print(f"grid and scores in {args.out}/")
    return 0


def _build(args: argparse.Namespace) -> int:
    from .world.build import build_world

    build_world(args.only, seed=args.seed, progress=not args.quiet)
    return 0
