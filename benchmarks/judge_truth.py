"""Do the judge and the truth agree on synthesized images?

The judge names what an image shows; the truth says how strongly the region responds. Natural
images of a region's category almost all drive it well above zero, so an image the judge calls
that category but the region barely answers is one the two disagree on. For each category region
of a ``braindive_world.py`` summary, prints, per run, how many images the judge calls the
preferred category and how many of those have a true activation below the 5th percentile of
natural images of that category (the bench's natural images, :data:`NATURAL_SEED`, for the
run's subject)::

    python benchmarks/judge_truth.py benchmarks/results/braindive_world_guides_seeds100-419.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from brainenc.synthesis import ROI
from brainenc.synthesis.evaluate import RUNS
from brainenc.world import CATEGORIES
from brainenc.world.synthesis import HEADLINE_JUDGE, PREFERRED, WorldBench


def disagreement(summary: dict, bench: WorldBench) -> dict:
    """Per category region and run: images judged the preferred category, how many of them have
    a true activation below the category's natural 5th percentile, and that percentile."""
    rows = {}
    for name, category in PREFERRED.items():
        if name not in summary:
            continue
        natural = bench.natural_true(ROI(name))[bench.natural_labels == CATEGORIES.index(category)]
        low = float(np.percentile(natural, 5))
        rows[name] = {"natural_p5": low}
        for run in RUNS:
            true = np.asarray(summary[name][run]["true"])
            judged = np.asarray(summary[name][run]["judged"][HEADLINE_JUDGE]) == category
            rows[name][run] = {
                "judged": int(judged.sum()),
                "below": int((true[judged] < low).sum()),
            }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="a braindive_world.py summary JSON")
    args = parser.parse_args()
    path = Path(args.summary)
    if not path.is_file():
        parser.error(f"{path} does not exist; give a summary.json written by braindive_world.py")
    part = json.loads(path.read_text()).get("test")
    if not part:
        parser.error(f"{path} is not a braindive_world.py summary (it has no 'test' runs)")
    subject = next(iter(part.values()))["subject"]
    rows = disagreement(part, WorldBench.build(subject, judges=False))
    print(f"{'region':<6} {'natural p5':>10}  " + "  ".join(f"{run:>26}" for run in RUNS))
    for name, row in rows.items():
        cells = [
            f"{row[run]['below']:>3} of {row[run]['judged']:>3} judged below p5" for run in RUNS
        ]
        print(f"{name:<6} {row['natural_p5']:>10.2f}  " + "  ".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
