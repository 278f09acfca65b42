"""How ``benchmarks/braindive_world.py`` chooses each objective's guide and scale on the
selection seeds, and how it reuses a recorded selection (the rules behind the synthesis tables of
docs/world.md)."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest

from brainenc.world.prior import PRIOR_DIR


def _row(guide, scale, mean_true, preferred):
    return {"guide": guide, "scale": scale, "mean_true": mean_true, "preferred": preferred}


TABLE = {
    # judged-first takes the 100% setting; mean-true-first the best of those at >= 80%
    "EBA": [
        _row("clip", 0.125, 0.87, 1.0),
        _row("ens", 0.25, 1.77, 0.9375),
        _row("ens", 0.5, 1.90, 0.6875),
    ],
    # a tie in the judged fraction goes to the higher mean true
    "VWFA": [_row("clip", 0.25, 1.62, 0.9375), _row("ens", 0.25, 1.49, 0.9375)],
    # nothing reaches 80%: both rules fall back to the highest judged fraction
    "PPA": [_row("clip", 1.0, 2.0, 0.5), _row("ens", 1.0, 1.0, 0.75)],
    # no preferred category (a minimised region): the highest mean true under both rules
    "min-FFA": [_row("clip", 0.25, 0.90, None), _row("ens", 0.5, 0.95, None)],
}


def test_judged_first_rule(benchmark_module):
    bw = benchmark_module("braindive_world")
    assert bw.choose_settings(TABLE) == {
        "EBA": ("clip", 0.125), "VWFA": ("clip", 0.25), "PPA": ("ens", 1.0),
        "min-FFA": ("ens", 0.5),
    }  # fmt: skip


def test_mean_true_among_settings_judged_preferred_often_enough(benchmark_module):
    bw = benchmark_module("braindive_world")
    assert bw.choose_settings(TABLE, 0.8) == {
        "EBA": ("ens", 0.25), "VWFA": ("clip", 0.25), "PPA": ("ens", 1.0),
        "min-FFA": ("ens", 0.5),
    }  # fmt: skip
    assert bw.choose_settings(TABLE, 0.6)["EBA"] == ("ens", 0.5)


def _args(**changes):
    args = dict(guidance="robust", select=[0.125, 0.25], select_seed=1000, select_n=16,
                steps=25, oversample=5, batch_size=16, subject=1, encoder="linear",
                backbone=[["world-clip"], ["world-clip", "world-vit"]], device="cpu",
                prior=str(PRIOR_DIR), seed=420, n=64, selection=None, rank_with=None,
                rank_augment=0, rank_encoder=None, rank_with_guide=False)  # fmt: skip
    return argparse.Namespace(**{**args, **changes})


def _objectives(*names):
    return [argparse.Namespace(name=name) for name in names]


def _summary(tmp_path, args, table=TABLE):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"args": vars(args), "selection": table, "chosen": {}}))
    return path


def test_reuses_a_selection_made_with_the_same_settings(benchmark_module, tmp_path):
    bw = benchmark_module("braindive_world")
    # another test seed and size, and the shipped prior found under another checkout
    recorded = _args(seed=100, n=32, prior="/elsewhere/brainenc/world/weights/world_prior")
    path = _summary(tmp_path, recorded)
    table = bw.reuse_selection(path, _args(), _objectives("VWFA", "EBA"))
    assert table == {"VWFA": TABLE["VWFA"], "EBA": TABLE["EBA"]}


def test_a_record_older_than_an_option_implies_its_default(benchmark_module, tmp_path):
    bw = benchmark_module("braindive_world")
    older = vars(_args())
    for option in ("rank_augment", "rank_encoder", "rank_with_guide"):
        del older[option]  # records made before these options ranked by the guide alone
    path = _summary(tmp_path, argparse.Namespace(**older))
    assert bw.reuse_selection(path, _args(), _objectives("EBA")) == {"EBA": TABLE["EBA"]}
    with pytest.raises(SystemExit, match="--rank-augment 0 there, 8 here"):
        bw.reuse_selection(path, _args(rank_augment=8), _objectives("EBA"))


@pytest.mark.parametrize(
    ("recorded", "message"),
    [
        (_args(steps=50), "--steps 50 there, 25 here"),
        (_args(select=[0.25, 0.5]), "--select [0.25, 0.5] there, [0.125, 0.25] here"),
        (_args(backbone=[["world-clip"]]), "--backbone [['world-clip']] there"),
        (_args(prior="/some/other_prior"), "(--prior '/some/other_prior' there"),
        (_args(rank_with=["world-vit"]), "--rank-with ['world-vit'] there, None here"),
    ],
)
def test_refuses_a_selection_made_with_other_settings(benchmark_module, tmp_path, recorded,
                                                      message):  # fmt: skip
    bw = benchmark_module("braindive_world")
    with pytest.raises(SystemExit, match="made with other settings") as error:
        bw.reuse_selection(_summary(tmp_path, recorded), _args(), _objectives("EBA"))
    assert message in str(error.value)


def test_refuses_a_selection_without_the_objective_or_a_file_that_is_not_one(
    benchmark_module, tmp_path
):
    bw = benchmark_module("braindive_world")
    path = _summary(tmp_path, _args())
    with pytest.raises(SystemExit, match="has no rows for FFA-PPA; rerun the selection"):
        bw.reuse_selection(path, _args(), _objectives("EBA", "FFA-PPA"))
    path.write_text(json.dumps({"args": vars(_args()), "test": {}}))
    with pytest.raises(SystemExit, match=r"no selection in it; give the summary\.json of a run"):
        bw.reuse_selection(path, _args(), _objectives("EBA"))
    path.write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read it as JSON"):
        bw.reuse_selection(path, _args(), _objectives("EBA"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--selection", "summary.json"], "--selection and --min-preferred need --select"),
        (["--select", "1", "--min-preferred", "80"], "--min-preferred must lie in 0..1"),
        (["--settings", "summary.json", "--scale", "1"], "--settings excludes --select and"),
        (["--backbone", "a", "--backbone", "b"], "several --backbone guides need --select"),
        (["--rank-with", "world-vit"], "--rank-with chooses among candidates: give --oversample"),
        (["--rank-augment", "8"], "--rank-augment chooses among candidates: give --oversample"),
        (["--oversample", "5", "--rank-encoder", "routing"], "--rank-encoder and --rank-with-gu"),
        (["--oversample", "5", "--rank-with-guide"], "--rank-encoder and --rank-with-guide need"),
        (["--rank-augment", "-1"], "--rank-augment must be 0 or more copies; got -1"),
        (["--oracle", "missing.safetensors"], "--oracle missing.safetensors is not a file"),
    ],
)
def test_selection_options_are_checked_before_any_model_is_built(
    benchmark_module, monkeypatch, capsys, argv, message
):
    bw = benchmark_module("braindive_world")
    monkeypatch.setattr(sys, "argv", ["braindive_world.py", *argv])
    monkeypatch.setattr(bw, "world_brain_model", pytest.fail)
    with pytest.raises(SystemExit):
        bw.main()
    assert message in capsys.readouterr().err


def test_a_mismatched_selection_fails_before_any_model_is_built(
    benchmark_module, monkeypatch, tmp_path
):
    bw = benchmark_module("braindive_world")
    path = _summary(tmp_path, _args(steps=50))
    monkeypatch.setattr(sys, "argv", ["braindive_world.py", "--select", "0.125", "0.25",
                                      "--steps", "25", "--selection", str(path)])  # fmt: skip
    monkeypatch.setattr(bw, "world_brain_model", pytest.fail)
    with pytest.raises(SystemExit, match="--steps 50 there, 25 here"):
        bw.main()


def test_every_objective_is_kept_by_the_ranker_given(benchmark_module, monkeypatch, capsys):
    bw = benchmark_module("braindive_world")
    calls = []
    summary = {"guided": {"mean_true": 1.25, "preferred_fraction": 0.75}}
    monkeypatch.setattr(bw, "synthesize_world", lambda o, **kw: calls.append(kw) or summary)
    ranker = object()
    rows = bw.run_objectives("pipe", _objectives("FFA", "PPA"), n=4, seed=7, guidance={"FFA": 1,
                             "PPA": 2}, args=_args(rank_augment=8), unguided=None,
                             ranker=ranker)  # fmt: skip
    assert list(rows) == ["FFA", "PPA"]
    assert [(c["ranker"], c["rank_augment"], c["guidance"], c["seed"]) for c in calls] == [
        (ranker, 8, 1, 7), (ranker, 8, 2, 7)]  # fmt: skip
    # one progress line per objective, as each finishes
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "test FFA: judged preferred 75%, mean true 1.25",
        "test PPA: judged preferred 75%, mean true 1.25"]  # fmt: skip


def test_takes_the_settings_an_earlier_run_chose(benchmark_module, tmp_path):
    bw = benchmark_module("braindive_world")
    path = tmp_path / "summary.json"
    chosen = {"EBA": {"guide": "world-clip+world-vit", "scale": 0.25},
              "FFA": {"guide": "world-clip", "scale": 0.25}}  # fmt: skip
    path.write_text(json.dumps({"args": vars(_args()), "chosen": chosen}))
    guides = {"world-clip": ["world-clip"], "world-clip+world-vit": ["world-clip", "world-vit"]}
    settings = bw.reuse_settings(path, _args(), _objectives("FFA", "EBA"), guides)
    assert settings == {"FFA": ("world-clip", 0.25), "EBA": ("world-clip+world-vit", 0.25)}
    with pytest.raises(SystemExit, match="give it with --backbone world-clip world-vit"):
        bw.reuse_settings(path, _args(), _objectives("EBA"), {"world-clip": ["world-clip"]})
    with pytest.raises(SystemExit, match="chose nothing for PPA"):
        bw.reuse_settings(path, _args(), _objectives("PPA"), guides)
    with pytest.raises(SystemExit, match="--guidance 'robust' there, 'paper' here"):
        bw.reuse_settings(path, _args(guidance="paper"), _objectives("FFA"), guides)


def test_settings_need_the_same_sampling_and_fresh_test_seeds(benchmark_module, tmp_path):
    bw = benchmark_module("braindive_world")
    path = tmp_path / "summary.json"
    chosen = {"FFA": {"guide": "world-clip", "scale": 0.25}}
    path.write_text(json.dumps({"args": vars(_args()), "chosen": chosen}))
    guides = {"world-clip": ["world-clip"]}
    with pytest.raises(SystemExit, match="--steps 25 there, 50 here"):
        bw.reuse_settings(path, _args(steps=50), _objectives("FFA"), guides)
    # the recorded selection seeds are 1000..1079 (16 kept of 5 each)
    for seed in (1000, 1079, 1000 - 64 * 5 + 1):
        with pytest.raises(SystemExit, match="chosen on seeds from 1000, which this run's test"):
            bw.reuse_settings(path, _args(seed=seed), _objectives("FFA"), guides)
    for seed in (1080, 1000 - 64 * 5):
        assert bw.reuse_settings(path, _args(seed=seed), _objectives("FFA"), guides)


def test_rank_difference_is_zero_for_the_guide_and_positive_for_the_truth(benchmark_module):
    rd = benchmark_module("rank_difference")
    rng = np.random.default_rng(1)
    true = rng.normal(size=40)
    predicted = true + rng.normal(size=40)
    same = rd.kept_difference(predicted, predicted, true, 8, np.random.default_rng(0))
    assert same.shape == (1 + rd.RESAMPLES,) and not same.any()
    oracle = rd.kept_difference(true, predicted, true, 8, np.random.default_rng(0))
    assert oracle[0] > 0 and (oracle >= 0).all()  # the truth's own best can only be truer


def _ranked(mean_true, preferred=0.9, none=0.0):
    return {"mean_true": mean_true, "preferred": preferred, "none": none}


def test_ranker_rule_takes_the_highest_mean_among_rankers_judged_well(benchmark_module):
    rs = benchmark_module("ranker_study")
    good = dict.fromkeys(rs.RANKERS, _ranked(1.0))
    objectives = {
        "FFA": {"rankers": {**good, "routing-vit": _ranked(2.0, preferred=0.7),
                            "linear-9000": _ranked(1.5)}},
        "min-FFA": {"rankers": {**{r: {"mean_true": 0.5, "none": 0.0} for r in rs.RANKERS},
                                "linear-9000": {"mean_true": 0.5, "none": 0.2}}},
    }  # fmt: skip
    means, chosen = rs.choose_ranker(objectives)
    assert means["routing-vit"] == 1.25 and means["linear-9000"] == 1.0
    # routing-vit has the highest mean but is judged preferred 70% of the time for FFA;
    # linear-9000 is next but says "none" 20% of the time for the minimised FFA
    assert chosen == "guide"
    objectives["min-FFA"]["rankers"]["linear-9000"]["none"] = 0.1
    assert rs.choose_ranker(objectives)[1] == "linear-9000"


def test_a_ranker_with_the_guide_is_the_mean_of_each_guide_and_it(benchmark_module, monkeypatch):
    bw = benchmark_module("braindive_world")
    monkeypatch.setattr(bw.BrainModel, "ensemble", staticmethod(tuple))
    pipelines = {"clip": argparse.Namespace(brain_model="g1"),
                 "clip+vit": argparse.Namespace(brain_model="g2")}  # fmt: skip
    assert bw.rankers_of(pipelines, "r", True) == {"clip": ("g1", "r"), "clip+vit": ("g2", "r")}
    assert bw.rankers_of(pipelines, "r", False) == {"clip": "r", "clip+vit": "r"}
    assert bw.rankers_of(pipelines, None, True) == {"clip": None, "clip+vit": None}


def _run(true, preferred=0.9, none=0.0, **args):
    judged = {"preferred": {"fraction": preferred}, "none": {"fraction": none}}
    guided = {"true": true, "mean_true": float(np.mean(true)), "fractions": {"judge": judged},
              "candidates": {"mean_true": 0.5}}  # fmt: skip
    return {"args": {"prior": "a", "seed": 2400, **args}, "test": {"FFA": {"guided": guided}}}


def test_two_runs_compare_per_objective_and_name_what_else_differs(benchmark_module):
    cr = benchmark_module("compare_runs")
    first, second = _run([1.0, 1.2, 1.4]), _run([1.5, 1.7, 1.9], preferred=1.0, prior="b")
    row = cr.compare(first, second)["FFA"]
    assert row["difference"] == pytest.approx(0.5)
    assert row["ci95"][0] > 0 and row["ci95"][1] > 0.5  # Welch's interval around +0.5
    assert row["second"]["preferred"] == 1.0 and row["first"]["all_candidates"] == 0.5
    assert cr.differing_args(first["args"], second["args"]) == []  # the prior may differ
    # an argument a record predates takes the value it implies (braindive_world.ADDED_ARGS)
    assert cr.differing_args({"seed": 1}, {"seed": 2, "rank_augment": 0}) == ["seed"]
    assert cr.differing_args({}, {"rank_augment": 8}) == ["rank_augment"]


def test_objectives_name_a_subset_and_exclude_rois_only(benchmark_module, monkeypatch, capsys):
    bw = benchmark_module("braindive_world")
    monkeypatch.setattr(bw, "world_brain_model", pytest.fail)  # refused before any model
    for argv, message in ((["--objectives", "FFA", "--rois-only"], "exclude each other"),
                          (["--objectives", "FFA", "V1"], "invalid choice: 'V1'")):  # fmt: skip
        monkeypatch.setattr(sys, "argv", ["braindive_world.py", *argv])
        with pytest.raises(SystemExit):
            bw.main()
        assert message in capsys.readouterr().err
