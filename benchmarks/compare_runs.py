"""Two braindive_world.py runs side by side: what changed between them, objective by objective.

For runs that differ in one thing (e.g. ``--prior``) and share their settings and seeds, this
prints, per objective, each run's kept mean true objective, the second minus the first with
Welch's 95% interval (each run kept its own images), the judged-preferred and "none"
fractions, and the mean true objective of all guided candidates (what the sampler draws
before any ranking). It names every argument other than ``prior`` and ``out`` in which the
runs differ. The last line gives the mean, over objectives, of each run's kept mean::

    python benchmarks/compare_runs.py \
        benchmarks/results/braindive_world_rank_guide_routing_seeds2400-2719.json \
        benchmarks/results/braindive_world_prior_denoiser_seeds2400-2719.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from braindive_world import ADDED_ARGS, _read_summary

from brainenc.metrics import difference_interval

IGNORED_ARGS = ("prior", "out", "device")
"""Arguments in which compared runs may differ without it being reported."""


def differing_args(first: dict, second: dict) -> list[str]:
    """The arguments (other than :data:`IGNORED_ARGS`) whose recorded values differ."""
    a, b = {**ADDED_ARGS, **first}, {**ADDED_ARGS, **second}
    return sorted(k for k in set(a) | set(b) if k not in IGNORED_ARGS and a.get(k) != b.get(k))


def compare(first: dict, second: dict) -> dict:
    """Per objective both runs hold: each run's kept and all-candidate mean true objective and
    judged fractions, and the kept difference (second − first) with Welch's 95% interval."""
    rows = {}
    for name in [n for n in first["test"] if n in second["test"]]:
        a, b = first["test"][name]["guided"], second["test"][name]["guided"]
        row = {"difference": b["mean_true"] - a["mean_true"],
               "ci95": difference_interval(b["true"], a["true"], paired=False)}  # fmt: skip
        for label, run in (("first", a), ("second", b)):
            judged = run["fractions"]["judge"]
            row[label] = {"mean_true": run["mean_true"],
                          "preferred": judged.get("preferred", {}).get("fraction"),
                          "none": judged["none"]["fraction"],
                          "all_candidates": run.get("candidates", {}).get("mean_true")}  # fmt: skip
        rows[name] = row
    return rows


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mean(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="a braindive_world.py summary.json")
    parser.add_argument("second", type=Path, help="another, compared with the first")
    args = parser.parse_args()
    first = _read_summary(args.first, "first", "test")
    second = _read_summary(args.second, "second", "test")
    differ = differing_args(first["args"], second["args"])
    if differ:
        print("the runs also differ in: " + ", ".join(differ))
    rows = compare(first, second)
    if not rows:
        parser.error("the runs share no objective")
    for name, r in rows.items():
        a, b = r["first"], r["second"]
        print(f"{name:<8} kept {a['mean_true']:.2f} -> {b['mean_true']:.2f}: "
              f"{r['difference']:+.2f} [{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]; "
              f"judged preferred {_pct(a['preferred'])} -> {_pct(b['preferred'])}, "
              f"none {_pct(a['none'])} -> {_pct(b['none'])}; all candidates "
              f"{_mean(a['all_candidates'])} -> {_mean(b['all_candidates'])}")  # fmt: skip
    means = [np.mean([r[side]["mean_true"] for r in rows.values()]) for side in ("first", "second")]
    print(f"{'mean':<8} kept {means[0]:.3f} -> {means[1]:.3f}: {means[1] - means[0]:+.3f}")


if __name__ == "__main__":
    main()
