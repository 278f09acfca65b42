"""``brainenc fit``, ``brainenc map`` and ``brainenc synthesize``: a study's results folder.

``fit`` fits models of one subject (NSD, or ``--world``) into a run folder, ``map`` redraws the
maps of a run, ``synthesize`` makes the images a region prefers with a run's encoder (or, with
no run folder, with a quick world-clip encoder of a world subject). Thin wrappers around
:func:`~brainenc.study.fit_study` and :mod:`brainenc.synthesis`; ``scripts/`` call them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Where NSD keeps a subject's mean functional image (the background of func1pt8mm maps).
NSD_MEAN = "nsddata/ppdata/subj{subject:02d}/func1pt8mm/mean.nii.gz"
SCORES = ("mean_predicted", "mean_true", "preferred_fraction")
"""The per-run scores of each objective that ``synthesize RUN_DIR`` records in summary.json."""


def add_study_commands(subparsers) -> None:
    """Register ``fit``, ``map`` and ``synthesize`` on an argparse subparsers object."""
    fit = subparsers.add_parser(
        "fit",
        help="fit encoders of one subject into a results folder: scores, maps, report",
    )
    add_data_arguments(fit)
    fit.add_argument(
        "--backbone",
        action="append",
        default=None,
        metavar="SPEC",
        help="backbone spec, repeatable (default: gabor)",
    )
    fit.add_argument(
        "--encoder",
        action="append",
        default=None,
        metavar="SPEC",
        help="encoder spec, repeatable, e.g. linear or linear:cv=5 (default: linear)",
    )
    fit.add_argument(
        "--out",
        default=None,
        help="results folder (default: brainenc_results/fit_<dataset>_subjNN)",
    )
    fit.add_argument("--device", default="cpu", help="where to extract and fit (cpu, cuda)")
    fit.add_argument("--memory", default="4GB", help="memory budget of out-of-core fits")
    fit.add_argument(
        "--no-maps",
        action="store_true",
        help="draw no cortical maps (draw them later with `brainenc map RUN_DIR`)",
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_fit)

    maps = subparsers.add_parser(
        "map",
        help="redraw the cortical maps of a results folder's models and rewrite its report",
    )
    maps.add_argument("run_dir", metavar="RUN_DIR", help="results folder of `brainenc fit`")
    add_data_arguments(maps)
    maps.add_argument("--device", default="cpu", help="where to extract features (cpu, cuda)")
    maps.add_argument("--quiet", action="store_true", help="no progress bars")
    maps.set_defaults(func=_map)

    syn = subparsers.add_parser(
        "synthesize",
        help="BrainDiVE: images that drive a region, with a run's encoder (or a world subject's)",
    )
    syn.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        default=None,
        help="results folder whose encoder guides (default: a world-clip encoder of "
        "world subject --subject, fitted on the fly)",
    )
    syn.add_argument("--roi", action="append", default=None, help="ROI to drive (repeatable)")
    syn.add_argument("--minus", default=None, metavar="ROI", help="drive the --roi minus this ROI")
    syn.add_argument(
        "--contrast",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="drive ROI A minus ROI B (repeatable)",
    )
    syn.add_argument("--minimize", action="store_true", help="look for images that suppress it")
    syn.add_argument(
        "--model",
        action="append",
        default=None,
        help="which model of RUN_DIR guides (default: its only one); repeat it to guide with "
        "the mean prediction of several models",
    )
    syn.add_argument("--n", type=int, default=16, help="images per objective")
    syn.add_argument("--seed", type=int, default=0, help="first noise seed")
    syn.add_argument(
        "--oversample",
        type=int,
        default=1,
        metavar="K",
        help="draw K candidates per image and keep the ones the encoder scores highest "
        "(BrainDiVE keeps the top 20%%: 5; default 1, no rerank)",
    )
    syn.add_argument(
        "--rank-augment",
        type=int,
        default=0,
        metavar="C",
        help="with --oversample, score each candidate as its mean over C shifted, mirrored "
        "copies (on the world, 8 keeps truer images than the candidate alone: docs/world.md; "
        "default 0)",
    )
    syn.add_argument(
        "--guidance",
        choices=("robust", "paper"),
        default=None,
        help="robust: normalized gradient on shifted, mirrored images (default on the "
        "world); paper: BrainDiVE's raw gradient (default with Stable Diffusion)",
    )
    syn.add_argument(
        "--scale",
        type=float,
        default=None,
        help="guidance scale (default: robust 1; paper 30 on the world, 130 with Stable Diffusion)",
    )
    syn.add_argument("--steps", type=int, default=50, help="denoising steps")
    syn.add_argument(
        "--diffusion",
        default=None,
        help="diffusers checkpoint: a folder or Hugging Face repo id (default: the shipped "
        "world prior on the world, Stable Diffusion 2.1-base on real data)",
    )
    syn.add_argument(
        "--download",
        action="store_true",
        help="real data: download --diffusion if it is not cached",
    )
    syn.add_argument(
        "--brain-input-size",
        type=int,
        default=224,
        help="real data: resize images to this size for the encoder",
    )
    syn.add_argument(
        "--judge",
        default=None,
        metavar="SPEC",
        help="real data: a CLIP backbone that names each image's category zero-shot; "
        "never the encoder's own backbone (default: no judge)",
    )
    add_data_arguments(syn)
    syn.add_argument(
        "--out",
        default=None,
        help="output folder (default: RUN_DIR/synthesis, else brainenc_results/synthesis)",
    )
    syn.add_argument("--device", default="cpu", help="where to run (cpu, cuda)")
    syn.add_argument("--quiet", action="store_true", help="no progress bars")
    syn.set_defaults(func=_synthesize)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick the subject: NSD by default, ``--world`` for the simulated one."""
    group = parser.add_argument_group("subject")
    group.add_argument(
        "--world", action="store_true", help="use a simulated subject of the in-silico world"
    )
    group.add_argument("--subject", type=int, default=1, help="subject number")
    group.add_argument(
        "--data-dir",
        default=None,
        help="folder holding nsd/ (default: $BRAINENC_DATA, else ~/brainenc_data)",
    )
    group.add_argument("--space", default="fsaverage", help="NSD betas: fsaverage or func1pt8mm")
    group.add_argument("--sessions", default=None, help="NSD sessions, e.g. 1-40 (default: all)")
    group.add_argument("--mesh", default="fsaverage", help="surface of NSD's fsaverage betas")
    group.add_argument(
        "--reference",
        default=None,
        help="background of func1pt8mm maps (default: the subject's nsddata/ppdata/subjNN/"
        "func1pt8mm/mean.nii.gz when present)",
    )
    group.add_argument("--n-train", type=int, default=2000, help="world: training images")
    group.add_argument("--n-test", type=int, default=300, help="world: test images")
    group.add_argument(
        "--stimuli",
        choices=("single", "composite"),
        default="single",
        help="world: one object per image, or scenes of two or three objects at recorded "
        "positions (default: single)",
    )


def check_world_args(args: argparse.Namespace, rois, counts) -> None:
    """Refuse unknown world ROIs and non-positive counts before any model is built or fitted."""
    from .validation import UsageError
    from .world.subjects import ROI_NAMES

    for roi in rois:
        if roi is not None and roi not in ROI_NAMES:
            raise UsageError(f"unknown ROI {roi!r}; the world's ROIs are {', '.join(ROI_NAMES)}")
    for name in ("subject", *counts):
        if getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be at least 1; got {getattr(args, name)}")


def load_data(args: argparse.Namespace):
    """The subject the options name (NSD is prepared on first use, see ``brainenc data``)."""
    from .data import load_nsd
    from .world import load_world

    if args.world:
        return load_world(args.subject, n_train=args.n_train, n_test=args.n_test,
                          stimuli=args.stimuli, progress=not args.quiet)  # fmt: skip
    extra = {"mesh": args.mesh} if args.space == "fsaverage" else {}
    return load_nsd(args.subject, args.space, args.sessions, args.data_dir, progress=False, **extra)


def _nsd_root(args: argparse.Namespace) -> Path:
    from .data import default_data_dir

    return Path(args.data_dir or default_data_dir()).expanduser() / "nsd"


def reference(args: argparse.Namespace) -> Path | None:
    """The background image of volume maps: ``--reference``, else NSD's mean image if present."""
    if args.reference is not None:
        return Path(args.reference)
    if args.world:
        return None
    mean = _nsd_root(args) / NSD_MEAN.format(subject=args.subject)
    return mean if mean.is_file() else None


def _fit(args: argparse.Namespace) -> int:
    from .encoders import Encoder
    from .maps import build_report
    from .study import fit_study, format_seconds, format_table

    dataset = "world" if args.world else f"nsd_{args.space}"
    out = args.out or Path("brainenc_results") / f"fit_{dataset}_subj{args.subject:02d}"
    say = (lambda *a: None) if args.quiet else print
    check_world_args(args, (), ("n_train", "n_test"))
    encoders = [Encoder.from_spec(spec) for spec in args.encoder or ["linear"]]  # checked early
    data = load_data(args)
    say(data.describe())
    run = fit_study(
        data,
        args.backbone or ["gabor"],
        encoders,
        out,
        device=args.device,
        memory=args.memory,
        reference=reference(args),
        maps=not args.no_maps,
        progress=not args.quiet,
        say=say,
    )
    say(format_table(run, ("nnr2", "true_r2") if args.world else ("nnr2", "r")))
    say(format_seconds(run))
    print(f"results in {run.path}/; report: {build_report(run.path)}")
    return 0


def _map(args: argparse.Namespace) -> int:
    from .maps import build_report, draw_standard_maps
    from .run import Run
    from .study import MIN_CEILING, predict_test

    check_world_args(args, (), ("n_train", "n_test"))
    run = Run.read(args.run_dir)
    data = load_data(args)
    encoders, predictions, shown = predict_test(
        run, data, device=args.device, progress=not args.quiet
    )
    run.maps = draw_standard_maps(
        data,
        run.path,
        encoders,
        predictions,
        min_ceiling=run.info.get("min_ceiling", MIN_CEILING),
        reference=reference(args),
        features=shown,
        progress=not args.quiet,
    )
    run.write()
    print(f"{len(run.maps)} maps in {run.path / 'maps'}; report: {build_report(run.path)}")
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from .maps import build_report
    from .run import SYNTHESIS
    from .synthesis.evaluate import compare_with_unguided, comparison_grid, save_synthesis
    from .validation import UsageError
    from .world.synthesis import synthesize_world

    rois = [*(args.roi or []), *([args.minus] if args.minus else [])]
    rois += [r for pair in args.contrast for r in pair]
    if not args.roi and not args.contrast:
        raise UsageError("name at least one --roi or --contrast")
    if args.minus and len(args.roi or []) != 1:
        raise UsageError("--minus needs exactly one --roi")
    check_world_args(args, rois if args.run_dir is None else (), ("n", "steps", "oversample"))
    if args.run_dir is None and args.model:
        raise UsageError("--model picks models of RUN_DIR; give the results folder first")
    if args.scale is not None and not 0 < args.scale < float("inf"):
        raise UsageError(f"--scale must be a positive number; got {args.scale}")
    if args.rank_augment < 0:
        raise UsageError(f"--rank-augment must be 0 or more copies; got {args.rank_augment}")
    if args.rank_augment and args.oversample == 1:
        raise UsageError("--rank-augment ranks candidates: give --oversample 2 or more with it")
    objectives = _objectives(args)
    if args.diffusion and (args.run_dir is None or args.world):
        from .world.prior import check_prior

        check_prior(args.diffusion)  # before any encoder is fitted
    if args.run_dir is None:  # a world subject's world-clip encoder, fitted here
        from .world.synthesis import world_brain_model

        brain_model = world_brain_model(args.subject, progress=not args.quiet)
        run, world = None, True
        out = Path(args.out or "brainenc_results/synthesis")
    else:
        run, brain_model, guides = _run_brain_model(args, rois)
        world, out = args.world, Path(args.out) if args.out else run.path / SYNTHESIS
    judges = _judges(args, guides) if not world else None
    pipe, guidance = _pipeline(args, brain_model.to(args.device), world)
    common = dict(n_images=args.n, seed=args.seed, guidance=guidance,
                  num_inference_steps=args.steps, progress=not args.quiet)  # fmt: skip
    common["unguided"] = pipe(None, **{**common, "guidance": None,
                                       "n_images": args.n * args.oversample})  # fmt: skip
    common.update(oversample=args.oversample, rank_augment=args.rank_augment)
    for objective in objectives:
        if world:
            summary = synthesize_world(objective, subject=args.subject, pipeline=pipe, out=out,
                                       device=args.device, **common)  # fmt: skip
            _print_world(objective, summary)
        else:
            summary, images = compare_with_unguided(
                pipe, objective, brain_input_size=args.brain_input_size, judges=judges, **common
            )
            save_synthesis(out, objective.name, comparison_grid(summary, images), summary, images)
            scores = {r: summary[r]["mean_predicted"] for r in ("guided", "unguided")}
            print(f"{objective.name}: mean predicted {scores['guided']:.2f} guided, "
                  f"{scores['unguided']:.2f} unguided")  # fmt: skip
        if run is not None:
            run.synthesis[objective.name] = {
                name: {k: summary[name][k] for k in SCORES if k in summary[name]}
                for name in ("guided", "unguided")
            }
    if run is not None:
        run.write()
    report = f"; report: {build_report(run.path)}" if run is not None else ""
    print(f"grids, images and scores in {out}/{report}")
    return 0


def _objectives(args: argparse.Namespace) -> list:
    from .synthesis import ROI, Contrast

    objectives = [Contrast(r, args.minus) if args.minus else ROI(r) for r in args.roi or []]
    objectives += [Contrast(a, b) for a, b in args.contrast]
    return [-o for o in objectives] if args.minimize else objectives


def _run_brain_model(args: argparse.Namespace, rois: list):
    """The run of RUN_DIR, its chosen models' encoders as one ``BrainModel`` (the mean of
    several: :meth:`~brainenc.encoders.BrainModel.ensemble`), ROIs checked, and those models."""
    from .encoders import BrainModel
    from .features import Backbone
    from .run import Run
    from .study import load_run_encoder
    from .validation import UsageError

    run = Run.read(args.run_dir)
    data = load_data(args)
    guides = _guides(run, args)
    members = []
    for model in guides:
        encoder = load_run_encoder(run, model, data)
        members.append(BrainModel.from_encoder(Backbone.from_spec(model.backbone), encoder, data))
    brain_model = members[0] if len(members) == 1 else BrainModel.ensemble(members)
    unknown = sorted(set(rois) - set(brain_model.rois))
    if unknown:
        raise UsageError(
            f"unknown ROI {', '.join(unknown)}; this subject has: " + ", ".join(brain_model.rois)
        )
    return run, brain_model, guides


def _guides(run, args: argparse.Namespace) -> list:
    """The models of ``run`` that ``--model`` names (its only one by default), each once."""
    from .validation import UsageError

    models = [run.model(name) for name in args.model or [None]]
    if len({m.name for m in models}) < len(models):
        raise UsageError("--model names the same model twice")
    return models


def _pipeline(args: argparse.Namespace, brain_model, world: bool):
    """The world prior (robust guidance by default) or a diffusers checkpoint (the paper's)."""
    from .synthesis import STABLE_DIFFUSION, BrainDiVEPipeline, Guidance

    if world:
        from .world.prior import PRIOR_DIR
        from .world.synthesis import world_guidance, world_pipeline

        pipe = world_pipeline(brain_model, args.diffusion or PRIOR_DIR, device=args.device)
        return pipe, world_guidance(args.guidance or "robust", args.scale)
    pipe = BrainDiVEPipeline.from_pretrained(
        args.diffusion or STABLE_DIFFUSION, brain_model, device=args.device,
        download=args.download,
    )  # fmt: skip
    return pipe, Guidance.named(args.guidance or "paper", args.scale)


def _judges(args: argparse.Namespace, guides: list) -> dict | None:
    """``--judge``: a zero-shot CLIP judge, refused when it is the guiding encoder's backbone."""
    from .features import Backbone
    from .synthesis.evaluate import zero_shot_judge
    from .validation import UsageError

    if not args.judge:
        return None
    if args.judge in {model.backbone for model in guides}:
        raise UsageError(f"--judge {args.judge} is a backbone the guiding encoder reads; a judge "
                         "must be a model that did not guide the images")  # fmt: skip
    return {args.judge: zero_shot_judge(Backbone.from_spec(args.judge).to(args.device))}


def _print_world(objective, summary: dict) -> None:
    """One objective's world scores: predicted, true (95% CI) and judged, guided and unguided."""
    print(f"{objective.name}:")
    for name in ("guided", "unguided"):
        r = summary[name]
        low, high = r["mean_true_ci95"]
        line = (f"{name:>10}: mean predicted {r['mean_predicted']:.2f}, mean true "
                f"{r['mean_true']:.2f} (95% CI {low:.2f} to {high:.2f})")  # fmt: skip
        for key, f in r["fractions"]["judge"].items():
            label = summary["preferred"] if key == "preferred" else "none"
            line += f", judged {label} {f['fraction']:.0%}"
        print(line)
    natural = f"  natural world images: true 90th percentile {summary['natural_true_p90']:.2f}"
    if summary["preferred"]:
        natural += (f", median of {summary['preferred']} images "
                    f"{summary['natural_true_median_preferred']:.2f}")  # fmt: skip
    print(natural)
