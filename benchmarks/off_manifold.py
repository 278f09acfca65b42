"""The off-manifold battery: can anything but a real exemplar drive a category region?

For each world subject, every category region's true mean activation to off-manifold probes
(fields, gradients, white and smooth noise, blobs, shapes, gratings, checkerboards, half-fields,
patch-shuffled world images; a stream no model was trained on) is compared with its activation
to 1000 natural world images. Prints, per subject and region, the natural 90th percentile and
maximum, the strongest probe and its kind, and how many probes exceed the p90; then the
strongest activation of each probe kind relative to the p90, over all subjects and regions.

    python benchmarks/off_manifold.py --subjects 1 2 3 --n 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from brainenc.world import PROBE_KINDS
from brainenc.world.battery import run_battery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=1000, help="probes per subject")
    args = parser.parse_args()

    start = time.perf_counter()
    total, pairs = 0, 0
    by_kind = {kind: -np.inf for kind in PROBE_KINDS}
    print(f"{'subject':>7} {'region':<6} {'natural p90':>11} {'natural max':>11} "
          f"{'strongest probe':>15} {'its kind':<13} {'probes > p90':>12}")  # fmt: skip
    for subject in args.subjects:
        result = run_battery(subject, n_probes=args.n)
        above = result.above_p90()
        total, pairs = total + int(above.sum()), pairs + above.size
        relative = result.probes / np.abs(result.natural_p90)
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


if __name__ == "__main__":
    main()
