"""Fit linear encoders to one subject, score them per ROI, map them and write the HTML report.

Real data (NSD, after `brainenc data download nsd --subject 1`):

    python scripts/fit_nsd_subject.py --subject 1 --space fsaverage \
        --backbone open_clip:ViT-B-16/laion2b_s34b_b88k

The in-silico world (no download; a few minutes on a laptop):

    python scripts/fit_nsd_subject.py --world --backbone gabor

The ridge is fitted out of core from the response store (``--memory``, default 4GB): a
killed run started again resumes the fit after its last finished block of targets.

Writes OUT/summary.json (per-ROI scores and the run's metadata), OUT/encoder_<backbone>/,
OUT/maps/ and OUT/report.html.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _study import add_data_arguments, default_out, load_data, reference

from brainenc import __version__
from brainenc.demo import evaluate
from brainenc.encoders import LinearEncoder, fit_out_of_core, load_encoder
from brainenc.features import Backbone, extract_features
from brainenc.maps import build_report, draw_standard_maps
from brainenc.maps.run_dir import write_summary
from brainenc.maps.standard import file_name
from brainenc.metrics import summarize

MIN_CEILING = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--backbone",
        action="append",
        default=None,
        metavar="SPEC",
        help="backbone spec (repeatable; default gabor)",
    )
    parser.add_argument("--out", default=None, help="results folder")
    parser.add_argument("--device", default="cpu", help="where to extract and fit (cpu, cuda)")
    parser.add_argument(
        "--targets-batch",
        type=int,
        default=None,
        help="solve the ridge for this many targets at a time (default: from --memory)",
    )
    parser.add_argument(
        "--memory", default="4GB", help="memory budget of the out-of-core fit (default 4GB)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    out = default_out(args, "fit") if args.out is None else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    data = load_data(args)
    say(data.describe())
    encoders, predictions, results = {}, {}, {}
    for spec in args.backbone or ["gabor"]:
        backbone = Backbone.from_spec(spec)
        features = extract_features(
            backbone, data.images, device=args.device, progress=not args.quiet
        )
        say(f"fitting ridge on {features.shape[1]} {spec} features × {data.n_targets} targets…")
        encoder = LinearEncoder(
            nan_targets="ignore", device=args.device, n_targets_batch=args.targets_batch
        )
        path = fit_out_of_core(
            encoder, features[data.train], data.responses, out / f"encoder_{file_name(spec)}",
            rows=data.train, memory=args.memory, metadata={"backbone": spec, **data.meta},
            progress=not args.quiet,
        )  # fmt: skip
        encoders[spec] = load_encoder(path)
        predictions[spec] = encoders[spec].predict(features[data.test])
        scores = evaluate(data, predictions[spec])
        results[spec] = {
            f"roi_median_{score}": {
                roi: row["value"] for roi, row in summarize(values, data.rois).items()
            }
            for score, values in scores.items()
        }
    maps = draw_standard_maps(
        data, out, encoders, predictions, min_ceiling=MIN_CEILING, reference=reference(args)
    )
    write_summary(
        out,
        {
            "brainenc_version": __version__,
            "data": data.meta,
            "space": data.space.to_dict(),
            "n_train": len(data.train),
            "n_test": len(data.test),
            "min_ceiling": MIN_CEILING,
            "rois": {roi: int(mask.sum()) for roi, mask in data.rois.items()},
            "backbones": results,
            "maps": maps,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    say(f"report: {build_report(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
