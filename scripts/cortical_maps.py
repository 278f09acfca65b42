"""Redraw the cortical maps of a results folder's models and rewrite its HTML report.

The same as `brainenc map` (this script passes its arguments on): predicts the subject's test
images with each model of RUN_DIR and draws into RUN_DIR/maps/ the ROIs, the noise ceiling, each
model's noise-normalised accuracy and the maps its encoder draws (ridge alphas), category
preferences when the image categories are known, and comparisons of the models.

    python scripts/cortical_maps.py brainenc_results/fit_nsd_fsaverage_subj01 --subject 1
    python scripts/cortical_maps.py brainenc_results/demo --world
"""

from __future__ import annotations

import sys

from brainenc.cli import main as brainenc


def main(argv: list[str] | None = None) -> int:
    return brainenc(["map", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
