"""Synthesize the images each ROI prefers (BrainDiVE) with a run's encoder; add them to the report.

The same as `brainenc synthesize RUN_DIR` (this script passes its arguments on). For every
objective, samples images guided by the gradient of the encoder's predicted ROI activation and
the same seeds unguided, then scores both: the predicted activation and (with --judge, a CLIP
backbone other than the one the encoder reads: a judge never guides) the zero-shot category. On
the world, the world's independent judge names each image's category or "none".

Real data (NSD; Stable Diffusion 2.1-base from the Hugging Face cache or a local folder):

    python scripts/synthesize_rois.py brainenc_results/fit_nsd_fsaverage_subj01 --subject 1 \\
        --roi FFA-1 --roi PPA --contrast FFA-1 PPA --device cuda \\
        --judge open_clip:ViT-L-14/laion2b_s32b_b82k

The in-silico world (its own diffusion prior; also scored against the simulator's truth):

    python scripts/synthesize_rois.py brainenc_results/demo --world --roi FFA --roi PPA \\
        --model "world-clip · linear"

Writes RUN_DIR/synthesis/<objective>.png (guided images, then unguided ones, with their scores),
<objective>.json and every image (<objective>/<run>_<i>.png, <objective>/<run>.npy), and
rewrites RUN_DIR/report.html to show them.
"""

from __future__ import annotations

import sys

from brainenc.cli import main as brainenc


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return brainenc(["synthesize", *argv])


if __name__ == "__main__":
    sys.exit(main())
