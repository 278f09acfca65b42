"""benchmarks/off_manifold.py: the battery table and the evidence behind it."""

import sys

from brainenc.world import CATEGORIES


def test_the_battery_report_lists_natural_evidence_per_category(benchmark_module, monkeypatch,
                                                                 capsys):  # fmt: skip
    battery = benchmark_module("off_manifold")
    monkeypatch.setattr(sys, "argv", ["off_manifold.py", "--subjects", "1", "--n", "30"])
    battery.main()
    out = capsys.readouterr().out
    assert "probe x region pairs above the natural p90: 1 of 240" in out
    section = out.split("natural images' evidence for their own category")[1].splitlines()[1:6]
    assert [line.split()[0] for line in section] == list(CATEGORIES)
    # the one offender: a dark bar the oracle takes for a body (docs/world.md)
    offender = out.split("probes above a region's p90")[1].splitlines()[1].split()
    assert offender[:4] == ["probe", "25", "shape", "EBA"] and offender[6] == "0.82"
