"""benchmarks/kept_limits.py: kept means by pool fraction, and the truth split into its terms."""

import json

import numpy as np
import pytest
import torch

from brainenc.synthesis import ROI
from brainenc.world import CATEGORIES, generate_stimuli
from brainenc.world.synthesis import WorldBench


@pytest.fixture(scope="module")
def bench():
    return WorldBench.build(1, judges=False)


def test_keeping_fewer_candidates_follows_the_score(benchmark_module):
    kl = benchmark_module("kept_limits")
    true = np.arange(100, dtype=float)
    assert kl.kept_by_count(true, true) == {64: 67.5, 48: 75.5, 32: 83.5, 16: 91.5}
    # a score unrelated to the truth keeps the same mean whatever the fraction
    assert kl.kept_by_count(np.zeros(100), np.ones(100), (64, 16)) == {64: 1.0, 16: 1.0}
    assert kl.kept_by_count(true[:40], true[:40]) == {32: 23.5, 16: 31.5}  # no 64 of 40


def test_the_truth_splits_into_a_category_and_a_low_level_part(benchmark_module, bench):
    kl = benchmark_module("kept_limits")
    images = torch.from_numpy(generate_stimuli(24, 77).images[:]).permute(0, 3, 1, 2) / 255.0
    before = bench.truth.readout.lowlevel.clone()
    true, category, lowlevel = kl.truth_terms(bench, ROI("V1"), images)
    assert torch.equal(bench.truth.readout.lowlevel, before)  # the subject is left as it was
    with torch.no_grad():
        assert np.allclose(true, ROI("V1")(bench.truth, images).numpy())
    # V1 reads contrast only: its category part is the same for every image
    assert np.ptp(category) < 1e-4 and np.ptp(lowlevel) > 0.5
    # FFA weighs face evidence most: faces raise its category part, not its low-level one alone
    _, category, lowlevel = kl.truth_terms(bench, ROI("FFA"), images)
    faces = generate_stimuli(24, 77).labels == CATEGORIES.index("face")
    assert faces.any() and category[faces].mean() > category[~faces].mean() + 0.5
    assert np.abs(lowlevel).mean() < np.abs(category).mean()


def test_the_subject_is_restored_when_the_objective_fails(benchmark_module, bench):
    kl = benchmark_module("kept_limits")
    before = bench.truth.readout.lowlevel.clone()
    calls = []

    def fails_second(model, images):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return ROI("FFA")(model, images)

    with pytest.raises(RuntimeError, match="boom"):
        kl.truth_terms(bench, fails_second, torch.rand(2, 3, 64, 64))
    assert torch.equal(bench.truth.readout.lowlevel, before)


def test_faces_by_skin_covers_every_rendered_tone(benchmark_module, bench):
    kl = benchmark_module("kept_limits")
    rows = kl.faces_by_skin(bench, n=200)
    assert set(rows) == {"light", "tan", "dark"}
    assert sum(r["n"] for r in rows.values()) == int(
        (generate_stimuli(200, 15_000).labels == CATEGORIES.index("face")).sum()
    )
    assert all(0 <= r["evidence_median"] <= 1 for r in rows.values())


def test_a_record_without_candidates_or_choices_is_refused_in_one_line(
    benchmark_module, tmp_path, capsys
):
    rs = benchmark_module("ranker_study")
    parser = rs.record_parser("test")
    test = {"FFA": {}}
    for record, message in (
        ({"args": {}, "test": test}, "kept every candidate (oversample 1)"),  # predates it
        ({"args": {"oversample": 1}, "test": test}, "kept every candidate (oversample 1)"),
        ({"args": {"oversample": 5}, "test": test}, "names no chosen guide and scale"),
        ({"args": {"oversample": 5}, "test": test, "chosen": {}}, "not in the record: PPA"),
    ):
        path = tmp_path / "summary.json"
        path.write_text(json.dumps(record))
        args = parser.parse_args(["--record", str(path), "--prior", "p", "--out", "o",
                                  "--objectives", "PPA"])  # fmt: skip
        with pytest.raises(SystemExit):
            rs.read_record(parser, args)
        assert message in capsys.readouterr().err
    args = parser.parse_args(["--record", str(path), "--prior", "p", "--out", "o",
                              "--objectives", "FFA"])  # fmt: skip
    record, objectives = rs.read_record(parser, args)
    assert list(objectives) == ["FFA"] and objectives["FFA"].name == "FFA"
