"""The off-manifold battery: can anything but a real exemplar drive a category region?

For each world subject, every category region's true mean activation to off-manifold probes
(fields, gradients, white and smooth noise, blobs, shapes, gratings, checkerboards, half-fields,
patch-shuffled world images; a stream no model was trained on) is compared with its activation
to 1000 natural world images. Prints, per subject and region, the natural 90th percentile and
maximum, the strongest probe and its kind, and how many probes exceed the p90; then the
strongest activation of each probe kind relative to the p90, over all subjects and regions;
then each probe above a p90, with the oracle's category evidence for it, beside the evidence
natural images get for their own category (what a region's p90 is made of).

    python benchmarks/off_manifold.py --subjects 1 2 3 --n 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from brainenc.data.images import to_tensor
from brainenc.world import CATEGORIES, PROBE_KINDS, generate_stimuli, load_oracle
from brainenc.world.battery import NATURAL_SEED, PROBE_SEED, run_battery
from brainenc.world.probes import off_manifold_images


def evidence_report(offenders: dict[int, set[str]], n_natural: int = 1000) -> None:
    """Print the oracle's evidence for each offending probe and, per category, the percentiles
    of the evidence natural images get for their own category."""
    oracle = load_oracle()
    with torch.no_grad():
        stim = generate_stimuli(n_natural, NATURAL_SEED)
        natural = oracle.evidence(to_tensor(stim.images[:])).numpy()
        print("natural images' evidence for their own category, p10 / p50 / p90:")
        for k, category in enumerate(CATEGORIES):
            own = np.percentile(natural[stim.labels == k, k], [10, 50, 90])
            print(f"  {category:<5} " + " / ".join(f"{v:.2f}" for v in own))
        if not offenders:
            return
        index = sorted(offenders)
        images, kinds = off_manifold_images(max(index) + 1, PROBE_SEED)
        evidence = oracle.evidence(to_tensor(images[index])).numpy()
    print("probes above a region's p90 (any subject): evidence " + " / ".join(CATEGORIES))
    for i, row in zip(index, evidence, strict=True):
        regions = ", ".join(sorted(offenders[i]))
        print(f"  probe {i:>4} {kinds[i]:<13} {regions:<10} " + " / ".join(f"{v:.2f}" for v in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=1000, help="probes per subject")
    args = parser.parse_args()

    start = time.perf_counter()
    total, pairs = 0, 0
    by_kind = {kind: -np.inf for kind in PROBE_KINDS}
    offenders: dict[int, set[str]] = {}
    print(f"{'subject':>7} {'region':<6} {'natural p90':>11} {'natural max':>11} "
          f"{'strongest probe':>15} {'its kind':<13} {'probes > p90':>12}")  # fmt: skip
    for subject in args.subjects:
        result = run_battery(subject, n_probes=args.n)
        above = result.above_p90()
        total, pairs = total + int(above.sum()), pairs + above.size
        relative = result.probes / np.abs(result.natural_p90)
        for i, j in zip(*np.nonzero(above), strict=True):
            offenders.setdefault(int(i), set()).add(result.rois[j])
        for kind in PROBE_KINDS:
            rows = [i for i, k in enumerate(result.kinds) if k == kind]
            by_kind[kind] = max(by_kind[kind], float(relative[rows].max()))
        for j, (roi, kind, value, p90) in enumerate(result.worst()):
            print(f"{subject:>7} {roi:<6} {p90:>11.2f} {result.natural[:, j].max():>11.2f} "
                  f"{value:>15.2f} {kind:<13} {int(above[:, j].sum()):>12}")  # fmt: skip
    print(f"\nprobe x region pairs above the natural p90: {total} of {pairs} "
          f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    print("strongest activation of each kind, as a fraction of the region's natural p90:")
    for kind, value in by_kind.items():
        print(f"  {kind:<13} {value:6.2f}")
    evidence_report(offenders)


if __name__ == "__main__":
    main()
