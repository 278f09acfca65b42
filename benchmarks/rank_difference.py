"""Does a ranker keep truer images than the guide, on the same candidates? With an interval.

A ``braindive_world.py`` run with ``--rank-with`` or ``--rank-augment`` records every guided
candidate's guide score (``predicted``), ranker score (``ranked``) and true objective. For each
objective this prints the mean true objective of the ``n`` candidates each one keeps, their
difference, and a 95% bootstrap interval of the difference: the candidates are resampled with
replacement and both rankers keep their best ``n`` of each resample (2000 resamples). The last
line gives the same for the mean over objectives::

    python benchmarks/rank_difference.py \
        benchmarks/results/braindive_world_rank_augment_seeds1500-1819.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESAMPLES = 2000


def kept_difference(ranked, predicted, true, n: int, rng: np.random.Generator) -> np.ndarray:
    """The kept mean true objective by ``ranked`` minus by ``predicted``: first on the
    candidates themselves, then on each of :data:`RESAMPLES` resamples of them, (1 + R,)."""
    ranked, predicted, true = map(np.asarray, (ranked, predicted, true))
    draws = [np.arange(len(true))] + [rng.integers(0, len(true), len(true))
                                      for _ in range(RESAMPLES)]  # fmt: skip
    out = []
    for idx in draws:
        by_rank = idx[np.argsort(-ranked[idx], kind="stable")[:n]]
        by_guide = idx[np.argsort(-predicted[idx], kind="stable")[:n]]
        out.append(true[by_rank].mean() - true[by_guide].mean())
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="a braindive_world.py summary.json")
    args = parser.parse_args()
    try:
        test = json.loads(args.summary.read_text())["test"]
    except (OSError, ValueError, KeyError) as error:
        parser.error(f"{args.summary}: not a readable braindive_world.py summary ({error})")
    rng = np.random.default_rng(0)
    diffs = {}
    for name, row in test.items():
        candidates = row["guided"].get("candidates", {})
        if "ranked" not in candidates:
            parser.error(f"{args.summary}: {name} was kept by the guide alone (no 'ranked' "
                         "scores); give a run made with --rank-with or --rank-augment")  # fmt: skip
        diffs[name] = kept_difference(candidates["ranked"], candidates["predicted"],
                                      candidates["true"], row["n_images"], rng)  # fmt: skip
        kept = row["guided"]["mean_true"]
        by_guide = kept - diffs[name][0]
        low, high = np.percentile(diffs[name][1:], [2.5, 97.5])
        print(f"{name:<8} ranked {kept:.2f}, guide {by_guide:.2f}: "
              f"{diffs[name][0]:+.3f} [{low:+.3f}, {high:+.3f}]")  # fmt: skip
    mean = np.mean(list(diffs.values()), axis=0)
    low, high = np.percentile(mean[1:], [2.5, 97.5])
    print(f"{'mean':<8} {mean[0]:+.3f} [{low:+.3f}, {high:+.3f}]")


if __name__ == "__main__":
    main()
