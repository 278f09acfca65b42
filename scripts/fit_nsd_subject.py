"""Fit encoders to one subject, score them per ROI, map them and write the HTML report.

The same as `brainenc fit` (this script passes its arguments on). Real data (NSD, after
`brainenc data download nsd --subject 1`):

    python scripts/fit_nsd_subject.py --subject 1 --space fsaverage \\
        --backbone open_clip:ViT-B-16/laion2b_s34b_b88k --encoder linear

The in-silico world (no download; a few minutes on a laptop):

    python scripts/fit_nsd_subject.py --world --backbone gabor --backbone world-clip

Writes OUT/summary.json, OUT/encoders/<backbone>_<encoder>/, OUT/maps/ and OUT/report.html.
"""

from __future__ import annotations

import sys

from brainenc.cli import main as brainenc


def main(argv: list[str] | None = None) -> int:
    return brainenc(["fit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
