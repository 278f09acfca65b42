"""Synthesize the images each ROI prefers (BrainDiVE) with a fitted encoder; add them to the report.

For every objective, samples images guided by the gradient of the encoder's predicted ROI
activation, and the same seeds unguided as the baseline, then scores both: the predicted
activation, the top 20% by prediction, and (with --judge, a CLIP backbone other than the one
the encoder reads: a judge never guides) the zero-shot category among faces, bodies, places,
words and food. On the world, the world's independent judge names each image's category or
"none".

Real data (NSD; Stable Diffusion 2.1-base from the Hugging Face cache or a local folder):

    python scripts/synthesize_rois.py brainenc_results/fit_nsd_fsaverage_subj01 --subject 1 \\
        --roi FFA-1 --roi PPA --contrast FFA-1 PPA --device cuda \\
        --judge open_clip:ViT-L-14/laion2b_s32b_b82k

The in-silico world (its own diffusion prior; also scored against the simulator's truth):

    python scripts/synthesize_rois.py brainenc_results/demo --world --roi FFA --roi PPA

Writes RUN_DIR/synthesis/<objective>.png (guided images, then unguided ones, with their scores),
<objective>.json and every image (<objective>/<run>_<i>.png, <objective>/<run>.npy), and
rewrites RUN_DIR/report.html to show them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _study import encoder_folders, load_data, load_fitted, run_dir_parser

from brainenc.encoders import BrainModel
from brainenc.features import Backbone
from brainenc.maps import build_report
from brainenc.maps.run_dir import SYNTHESIS
from brainenc.synthesis import ROI, BrainDiVEPipeline, Contrast, Guidance
from brainenc.synthesis.evaluate import (
    compare_with_unguided,
    comparison_grid,
    save_synthesis,
    zero_shot_judge,
)

STABLE_DIFFUSION = "stabilityai/stable-diffusion-2-1-base"


def main(argv: list[str] | None = None) -> int:
    parser = run_dir_parser(__doc__)
    parser.add_argument(
        "--encoder", default=None, metavar="DIR", help="encoder folder (default: RUN_DIR's one)"
    )
    parser.add_argument("--roi", action="append", default=[], help="ROI to drive (repeatable)")
    parser.add_argument(
        "--contrast", nargs=2, action="append", default=[], metavar=("A", "B"),
        help="drive ROI A minus ROI B (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--diffusion", default=STABLE_DIFFUSION,
        help=f"diffusers checkpoint: folder or Hugging Face repo id (default {STABLE_DIFFUSION}; "
        "the world uses its own prior)",
    )  # fmt: skip
    parser.add_argument(
        "--download", action="store_true", help="real data: download --diffusion if not cached"
    )
    parser.add_argument("--n", type=int, default=16, help="images per objective (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="first noise seed (default 0)")
    parser.add_argument(
        "--guidance", choices=("paper", "robust"), default=None,
        help="paper: BrainDiVE's raw gradient (default with Stable Diffusion); robust: "
        "normalized gradient on shifted, mirrored images (default on the world)",
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=float, default=None,
        help="guidance scale (default: paper 130 with Stable Diffusion, 30 on the world; "
        "robust 1)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    parser.add_argument(
        "--brain-input-size", type=int, default=224,
        help="real data: resize images to this size for the encoder, as the paper (default 224)",
    )  # fmt: skip
    parser.add_argument(
        "--judge", default=None, metavar="SPEC",
        help="real data: a CLIP backbone spec that names each image's category zero-shot; it "
        "must differ from the encoder's backbone (default: no judge)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="where to run (cpu, cuda)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.roi and not args.contrast:
        parser.error("name at least one --roi or --contrast")
    run_dir = Path(args.run_dir)
    folders = encoder_folders(run_dir, [args.encoder] if args.encoder else None)
    if len(folders) > 1:
        parser.error(f"{run_dir} has several encoders; pick one with --encoder: "
                     + ", ".join(str(f) for f in folders))  # fmt: skip

    data = load_data(args)
    encoder = load_fitted(folders[0], data)
    backbone = Backbone.from_spec(encoder.metadata_["backbone"])
    brain_model = BrainModel.from_encoder(backbone, encoder, data).to(args.device)
    objectives = [ROI(r) for r in args.roi] + [Contrast(a, b) for a, b in args.contrast]
    unknown = sorted({r for o in objectives for r in _rois(o)} - set(brain_model.rois))
    if unknown:
        parser.error(f"unknown ROI {', '.join(unknown)}; this subject has: "
                     + ", ".join(brain_model.rois))  # fmt: skip

    judges = None
    if args.judge and not args.world:
        if args.judge == encoder.metadata_["backbone"]:
            parser.error(f"--judge {args.judge} is the backbone the encoder reads; a judge must "
                         "be a model that did not guide the images")  # fmt: skip
        judges = {args.judge: zero_shot_judge(Backbone.from_spec(args.judge).to(args.device))}

    out = run_dir / SYNTHESIS
    if args.world:
        from brainenc.world.synthesis import synthesize_world, world_guidance, world_pipeline

        pipe = world_pipeline(brain_model, device=args.device)
        guidance = world_guidance(args.guidance or "robust", args.scale)
    else:
        pipe = BrainDiVEPipeline.from_pretrained(
            args.diffusion, brain_model, device=args.device, download=args.download
        )
        guidance = Guidance.named(args.guidance or "paper", args.scale)
    unguided = pipe(None, n_images=args.n, seed=args.seed, guidance=None,
                    num_inference_steps=args.steps, progress=not args.quiet)  # fmt: skip
    for objective in objectives:
        common = dict(n_images=args.n, seed=args.seed, guidance=guidance,
                      num_inference_steps=args.steps, unguided=unguided,
                      progress=not args.quiet)  # fmt: skip
        if args.world:
            summary = synthesize_world(objective, subject=args.subject, pipeline=pipe, out=out,
                                       device=args.device, **common)  # fmt: skip
        else:
            summary, images = compare_with_unguided(
                pipe, objective, brain_input_size=args.brain_input_size, judges=judges, **common
            )
            save_synthesis(out, objective.name, comparison_grid(summary, images), summary, images)
        scores = {run: summary[run]["mean_predicted"] for run in ("guided", "unguided")}
        print(f"{objective.name}: mean predicted {scores['guided']:.2f} guided, "
              f"{scores['unguided']:.2f} unguided")  # fmt: skip
    print(f"images and scores in {out}; report: {build_report(run_dir)}")
    return 0


def _rois(objective) -> list[str]:
    return [objective.roi] if isinstance(objective, ROI) else [objective.a.roi, objective.b.roi]


if __name__ == "__main__":
    sys.exit(main())
