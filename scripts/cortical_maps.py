"""Draw the cortical maps of a results folder's fitted encoders and rewrite its HTML report.

Reads the encoders a run saved (RUN_DIR/encoder_*/, written by scripts/fit_nsd_subject.py or
`brainenc demo`), predicts the subject's test images with each, and draws into RUN_DIR/maps/:
the ROIs, the noise ceiling, each encoder's noise-normalised accuracy and ridge alphas, category
preferences when the image categories are known, and comparisons of the encoders.

Real data (NSD):

    python scripts/cortical_maps.py brainenc_results/fit_nsd_fsaverage_subj01 --subject 1

The in-silico world:

    python scripts/cortical_maps.py brainenc_results/demo --world
"""

from __future__ import annotations

import sys
from pathlib import Path

from _study import encoder_folders, load_data, load_fitted, reference, run_dir_parser

from brainenc.features import Backbone, extract_features
from brainenc.maps import build_report, draw_standard_maps
from brainenc.maps.run_dir import read_summary, write_summary

MIN_CEILING = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = run_dir_parser(__doc__)
    parser.add_argument(
        "--encoder",
        action="append",
        default=None,
        metavar="DIR",
        help="encoder folder to map (repeatable; default: every RUN_DIR/encoder_*/)",
    )
    parser.add_argument("--device", default="cpu", help="where to extract features (cpu, cuda)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    folders = encoder_folders(run_dir, args.encoder)

    data = load_data(args)
    encoders, predictions = {}, {}
    for folder in folders:
        encoder = load_fitted(folder, data)
        spec = encoder.metadata_["backbone"]
        features = extract_features(
            Backbone.from_spec(spec),
            data.images,
            data.test,
            device=args.device,
            progress=not args.quiet,
        )
        encoders[spec], predictions[spec] = encoder, encoder.predict(features)

    maps = draw_standard_maps(
        data, run_dir, encoders, predictions, min_ceiling=MIN_CEILING, reference=reference(args)
    )
    summary_file = run_dir / "summary.json"
    summary = read_summary(run_dir) if summary_file.is_file() else {"data": data.meta}
    write_summary(run_dir, {**summary, "maps": maps})
    print(f"{len(maps)} maps in {run_dir / 'maps'}; report: {build_report(run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
