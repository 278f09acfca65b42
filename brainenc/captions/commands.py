"""``brainenc caption``: BrainSCUBA captions of a run's regions and vertices, word maps, and
images drawn from the region captions.

Writes into ``RUN_DIR/captions/``: ``captions.json`` (each region's caption, dominant noun,
top words and the shares of its vertices' dominant nouns), with ``--per-vertex``
``vertices.json`` (every captioned target's caption and dominant noun) and a word map in
``maps/``, and with ``--images N`` each region's caption-drawn images (``<roi>.png``, its
scores in ``<roi>.json`` and every image). ``brainenc report`` shows them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

SD_TEXT_SCALE = 7.5
"""Stable Diffusion's usual classifier-free guidance scale, for images drawn from captions."""


def add_caption_command(subparsers) -> None:
    """Register ``caption`` on an argparse subparsers object."""
    from ..study_commands import add_data_arguments

    cap = subparsers.add_parser(
        "caption",
        help="BrainSCUBA: captions of what a run's regions and vertices prefer, word maps, "
        "and images drawn from the captions",
    )
    cap.add_argument("run_dir", metavar="RUN_DIR", help="results folder of `brainenc fit`")
    cap.add_argument("--roi", action="append", default=None,
                     help="region to caption (repeatable; default: every ROI)")  # fmt: skip
    cap.add_argument(
        "--per-vertex",
        action="store_true",
        help="also caption every reliable vertex and draw their dominant nouns on the cortex",
    )
    cap.add_argument("--model", default=None, help="which model of RUN_DIR (default: its only one)")
    cap.add_argument(
        "--captioner",
        default=None,
        help="'world' or a captioner folder (scripts/train_captioner.py); default: world with "
        "--world",
    )
    cap.add_argument(
        "--bank",
        default=None,
        help="embedding bank file (scripts/build_caption_bank.py) of the model's backbone; "
        "default with --world: world-clip embeddings of 20,000 world images",
    )
    cap.add_argument(
        "--bank-images",
        type=int,
        default=20_000,
        metavar="N",
        help="world: images in the default bank",
    )
    cap.add_argument("--tau", type=float, default=150.0, help="softmax temperature")
    cap.add_argument("--beams", type=int, default=5, help="beam width of the captioner")
    cap.add_argument(
        "--images",
        type=int,
        default=0,
        metavar="N",
        help="draw N images from each region's caption: with the world prior (scored against "
        "the truth and the judge) or --diffusion (default: none)",
    )
    cap.add_argument("--steps", type=int, default=50, help="denoising steps of --images")
    cap.add_argument(
        "--text-scale",
        type=float,
        default=None,
        help="classifier-free guidance towards the caption (default: 1, plain conditional "
        "sampling, on the world; 7.5 with Stable Diffusion)",
    )
    cap.add_argument(
        "--diffusion",
        default=None,
        help="text-to-image diffusers checkpoint of --images: a folder or repo id (default: "
        "the shipped world prior on the world, Stable Diffusion 2.1-base on real data)",
    )
    cap.add_argument(
        "--download", action="store_true", help="real data: download --diffusion if not cached"
    )
    cap.add_argument("--seed", type=int, default=0, help="first noise seed of --images")
    add_data_arguments(cap)
    cap.add_argument("--device", default="cpu", help="where to run (cpu, cuda)")
    cap.add_argument("--quiet", action="store_true", help="no progress bars")
    cap.set_defaults(func=_caption)


def _caption(args: argparse.Namespace) -> int:
    import numpy as np

    from ..files import write_atomically
    from ..maps import build_report
    from ..run import CAPTIONS, Run
    from ..study import MIN_CEILING, load_run_encoder
    from ..study_commands import check_world_args, load_data
    from ..validation import UsageError
    from . import caption_regions

    rois = (args.roi or ()) if args.world else ()  # a real subject's ROIs are known once loaded
    check_world_args(args, rois, ("n_train", "n_test", "bank_images"))
    for name in ("beams", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1; got {getattr(args, name)}")
    if not 0 < args.tau < float("inf"):
        raise UsageError(f"--tau must be a positive number; got {args.tau}")
    if args.images < 0:
        raise UsageError(f"--images must be at least 0; got {args.images}")
    if args.text_scale is not None and not 1 <= args.text_scale < float("inf"):
        raise UsageError(f"--text-scale must be at least 1; got {args.text_scale}")
    run = Run.read(args.run_dir)
    model = run.model(args.model)
    captioner, bank = _captioner(args), _bank(args, model.backbone)
    reads = captioner.metadata.get("backbone")
    if reads is not None and reads != model.backbone:
        raise UsageError(f"the captioner reads {reads} embeddings but the model reads "
                         f"{model.backbone}; train one on the model's backbone")  # fmt: skip
    data = load_data(args)
    encoder = load_run_encoder(run, model, data)
    unknown = sorted(set(args.roi or ()) - set(data.rois))
    if unknown:
        raise UsageError(f"unknown ROI {', '.join(unknown)}; this subject has: "
                         + ", ".join(data.rois))  # fmt: skip
    reliable = np.ones(data.n_targets, bool)
    if data.noise_ceiling is not None:
        reliable = np.nan_to_num(data.noise_ceiling) > run.info.get("min_ceiling", MIN_CEILING)
    regions = {r: data.rois[r] & reliable for r in args.roi or data.rois}
    empty = [r for r, m in regions.items() if not m.any()]
    if empty:
        raise UsageError(f"no reliable vertex in {', '.join(empty)}; pick other ROIs")
    lexicon = _lexicon(args)
    found, _ = caption_regions(encoder, bank, captioner, regions, lexicon=lexicon, tau=args.tau,
                               beams=args.beams, device=args.device,
                               progress=not args.quiet)  # fmt: skip
    out = run.path / CAPTIONS
    record = {"model": model.name, "tau": args.tau, "beams": args.beams,
              "captioner": args.captioner or "world", "bank": bank.meta,
              "regions": {r: asdict(c) for r, c in found.items()}}  # fmt: skip
    for r, c in found.items():
        print(f"{r}: {c.caption!r} (noun: {c.noun}; top words: "
              + ", ".join(w for w, _ in c.top_words) + ")")  # fmt: skip
    if args.per_vertex:
        targets = np.flatnonzero(reliable)
        record["per_vertex"] = _per_vertex(args, run, model, data, encoder, bank, captioner,
                                           targets, lexicon, out)  # fmt: skip
    if args.images:
        record["images"] = _images_from_captions(args, run, model, data, encoder, found, out)
    write_atomically(out / "captions.json",
                     lambda tmp: tmp.write_text(json.dumps(record, indent=1)))  # fmt: skip
    run.write()
    print(f"captions in {out}/; report: {build_report(run.path)}")
    return 0


def _per_vertex(args, run, model, data, encoder, bank, captioner, targets, lexicon, out) -> dict:
    """Caption every target of ``targets``; write ``vertices.json`` and the word map."""
    import numpy as np

    from ..files import write_atomically
    from ..maps import draw_map
    from ..maps.kinds import caption_noun_map
    from .brainscuba import caption_embeddings, projected_readouts
    from .nouns import dominant_noun

    projected = projected_readouts(encoder, bank, targets=targets, tau=args.tau,
                                   device=args.device, progress=not args.quiet)  # fmt: skip
    captions = caption_embeddings(captioner, projected, beams=args.beams,
                                  progress=not args.quiet)  # fmt: skip
    nouns = [dominant_noun(c, lexicon) if c else None for c in captions]
    vertices = {"targets": targets.tolist(), "captions": captions, "nouns": nouns}
    write_atomically(out / "vertices.json", lambda tmp: tmp.write_text(json.dumps(vertices)))
    labels = np.full(data.n_targets, None, object)
    labels[targets] = nouns
    order = list(dict.fromkeys(lexicon.values()))  # a noun keeps its colour across runs
    entry = draw_map(caption_noun_map(labels, labels=order, model=model.name), data, run.path,
                     f"caption_nouns_{model.file_stem}")  # fmt: skip
    run.maps = [m for m in run.maps if m["file"] != entry["file"]] + [entry]
    print(f"{len(targets)} vertices captioned; word map: {run.path / entry['file']}")
    return {"file": "vertices.json", "n_targets": len(targets)}


def _captioner(args: argparse.Namespace):
    from ..validation import UsageError
    from .captioner import Captioner

    source = args.captioner or ("world" if args.world else None)
    if source is None:
        raise UsageError("name a captioner: --captioner DIR (trained with "
                         "scripts/train_captioner.py on the model's backbone)")  # fmt: skip
    if source == "world":
        from ..world.captioner import load_world_captioner

        return load_world_captioner(device=args.device)
    return Captioner.load(source, device=args.device)


def _bank(args: argparse.Namespace, backbone: str):
    from ..validation import UsageError
    from .bank import EmbeddingBank

    if args.bank is None:
        if not args.world:
            raise UsageError("name an embedding bank: --bank FILE (scripts/build_caption_bank.py "
                             "with the model's backbone)")  # fmt: skip
        from ..world.captioner import world_bank

        bank = world_bank(args.bank_images, progress=not args.quiet)
    else:
        bank = EmbeddingBank.load(args.bank)
    made_by = bank.meta.get("backbone")
    if made_by is not None and made_by != backbone:
        raise UsageError(f"the bank holds {made_by} embeddings but the model reads {backbone}; "
                         "build a bank with the model's backbone")  # fmt: skip
    return bank


def _lexicon(args: argparse.Namespace) -> dict:
    from .nouns import COCO_NOUNS

    if args.world:
        from ..world.captioner import WORLD_NOUNS

        return WORLD_NOUNS
    return COCO_NOUNS


def _images_from_captions(args, run, model, data, encoder, found, out: Path) -> dict:
    """Each region caption's images, scored (world: truth and judge, with BrainDiVE's scores of
    the region beside them; real data: the encoder's prediction)."""
    from ..encoders import BrainModel
    from ..features import Backbone
    from ..synthesis import ROI, STABLE_DIFFUSION, BrainDiVEPipeline, prompt_states
    from ..synthesis.evaluate import image_grid, save_synthesis
    from ..world.prior import PRIOR_DIR

    brain_model = BrainModel.from_encoder(Backbone.from_spec(model.backbone), encoder, data)
    source = args.diffusion or (PRIOR_DIR if args.world else STABLE_DIFFUSION)
    if args.world:
        from ..world.synthesis import CAPTION_TEXT_SCALE, images_from_caption, world_pipeline

        pipe = world_pipeline(brain_model.to(args.device), source, device=args.device)
        scale = args.text_scale or CAPTION_TEXT_SCALE
    else:
        pipe = BrainDiVEPipeline.from_pretrained(
            source, brain_model.to(args.device), device=args.device, download=args.download
        )
        scale = args.text_scale or SD_TEXT_SCALE
    common = dict(n_images=args.images, seed=args.seed, num_inference_steps=args.steps,
                  progress=not args.quiet)  # fmt: skip
    if not args.world:  # every caption's text states in one load of the text encoder
        regions = list(found)
        states = prompt_states(source, [found[r].caption for r in regions],
                               download=args.download)  # fmt: skip
        conditions = {r: states[i : i + 1] for i, r in enumerate(regions)}
    results = {}
    for region, found_caption in found.items():
        caption = found_caption.caption
        if args.world:
            scores, images = images_from_caption(caption, ROI(region), pipeline=pipe,
                                                 subject=args.subject, text_scale=scale,
                                                 **common)  # fmt: skip
            judged = next(iter(scores["judged"].values()))
            labels = [f"true {t:.2f}\njudged: {j}"
                      for t, j in zip(scores["true"], judged, strict=True)]  # fmt: skip
        else:
            drawn = pipe.with_condition(conditions[region], text_scale=scale)(
                ROI(region), guidance=None, brain_input_size=224, **common)  # fmt: skip
            scores = {"caption": caption, "text_scale": scale, "seed": args.seed,
                      "predicted": drawn.scores.tolist(),
                      "mean_predicted": float(drawn.scores.mean())}  # fmt: skip
            images, labels = drawn.to_uint8(), [f"predicted {p:.2f}" for p in drawn.scores]
        title = f"{region}: images drawn from its caption\n{caption!r}"
        grid = image_grid(
            images, labels, columns=min(8, len(images)), title=title, scale=2 if args.world else 1
        )  # 64 px world images, 512 px SD ones
        save_synthesis(out, region, grid, scores, {"caption": images})
        keep = ("mean_predicted", "mean_true", "mean_true_ci95", "preferred_fraction")
        results[region] = {k: scores[k] for k in keep if k in scores}
        results[region]["braindive"] = run.synthesis.get(region, {}).get("guided")
        line = f"{region}: images from the caption, mean predicted {scores['mean_predicted']:.2f}"
        if "mean_true" in scores:
            line += f", mean true {scores['mean_true']:.2f}"
        if scores.get("preferred_fraction") is not None:
            line += f", judged preferred {scores['preferred_fraction']:.0%}"
        print(line)
    return results
