"""``brainenc demo`` end to end on a small world, and its command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainenc.cli import build_parser, main
from brainenc.demo import run_demo
from brainenc.encoders import load_encoder
from brainenc.run import ModelResult, Run
from brainenc.study import evaluate, format_table


def test_demo_writes_results_and_separates_early_from_high_level(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--n-train", "400", "--n-test", "100", "--backbone", "gabor"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["noise_ceiling_vs_truth_r"] > 0.8
    [model] = summary["models"]
    assert (model["backbone"], model["encoder"]) == ("gabor", "linear")
    scores = model["scores"]["nnr2"]
    early = np.median([scores[r] for r in ("V1", "V2", "V3")])
    high = np.median([scores[r] for r in ("FFA", "EBA", "VWFA")])
    assert early > 0.5 and early > high + 0.15, scores
    assert model["folder"] == "encoders/gabor_linear"
    encoder = load_encoder(out / model["folder"])
    assert encoder.metadata_["backbone"] == "gabor" and encoder.metadata_["dataset"] == "world"
    printed, bars = capsys.readouterr()
    assert "V1" in printed and "gabor · linear nnr2" in printed
    # every long stage shows progress, and the stage times end the run
    for bar in ("world images", "features (gabor)", "ridge (out of core)", "maps"):
        assert f"{bar}:" in bars, bar
    assert "stages: simulate" in printed and "· maps " in printed
    assert "no synthesis: it is guided by a world-clip encoder" in printed
    assert summary["synthesis"] == {} and not (out / "synthesis").exists()

    # the maps, and the report that ends the demo
    kinds = ["rois", "noise_ceiling", "noise_ceiling_true", "preference_truth"]
    kinds += ["nnr2_gabor_linear", "alpha_gabor_linear", "preference_gabor_linear"]
    assert [m["file"] for m in summary["maps"]] == [f"maps/{k}.png" for k in kinds]
    assert all((out / m["file"]).stat().st_size > 10_000 for m in summary["maps"])
    assert summary["maps"][4]["interactive"] == "maps/nnr2_gabor_linear.html"
    assert (out / "maps" / "nnr2_gabor_linear.html").stat().st_size > 100_000
    assert f"report: {out / 'report.html'}" in printed
    html = (out / "report.html").read_text()
    for roi, n in summary["rois"].items():
        assert f'<tr><td class="roi">{roi}</td><td>{n}</td>' in html
    assert html.count('<img src="data:image/png;base64,') == len(kinds)


def test_demo_synthesizes_images_with_the_world_clip_encoder(tmp_path):
    out = tmp_path / "demo"
    run = run_demo(out, backbones=("world-clip",), n_train=300, n_test=50,
                   synthesize=("PPA",), n_synthesized=2, progress=False)  # fmt: skip
    assert Run.read(out).synthesis == run.synthesis
    ppa = run.synthesis["PPA"]
    assert set(ppa) == {"guided", "unguided", "natural_true_p90", "natural_true_median_preferred"}
    assert set(ppa["guided"]) == {"mean_true", "preferred_fraction"}
    assert json.loads((out / "synthesis" / "PPA.json").read_text())["n_images"] == 2
    html = (out / "report.html").read_text()
    assert 'alt="images synthesized for PPA"' in html and "<h2>Synthesized images</h2>" in html


def test_demo_rejects_an_unknown_roi_to_synthesize_before_fitting(tmp_path):
    with pytest.raises(KeyError, match="unknown ROI ffa; the world has: V1, "):
        run_demo(tmp_path, n_train=50, n_test=10, synthesize=("ffa",), progress=False)
    assert not (tmp_path / "summary.json").exists()


def test_evaluate_scores_against_truth(world_data):
    """Predicting the noiseless signal itself gives true r² = 1 and nnr² near 1."""
    d = world_data
    scores = evaluate(d, d.truth["test_signal"])
    v1 = d.roi("V1")
    true_r2 = scores["true_r2"][v1]
    assert np.isfinite(true_r2).mean() > 0.9  # NaN only where the estimated ceiling is tiny
    np.testing.assert_allclose(true_r2[np.isfinite(true_r2)], 1.0, atol=1e-5)
    assert 0.8 < np.nanmedian(scores["nnr2"][v1]) < 1.2
    noisy = d.truth["test_signal"] + np.random.default_rng(0).normal(
        size=d.truth["test_signal"].shape
    )
    full = evaluate(d, noisy)
    for columns in (v1, np.flatnonzero(v1)):  # a subset of the targets: a mask or indices
        subset = evaluate(d, noisy[:, v1], columns=columns)
        for name, values in full.items():
            np.testing.assert_allclose(subset[name], values[v1], equal_nan=True)
    run = Run(
        "x", rois={"V1": 3}, models=[ModelResult("gabor", "linear", scores={"nnr2": {"V1": 0.5}})]
    )
    table = format_table(run, ["nnr2"])
    assert "gabor · linear nnr2" in table.splitlines()[0]
    assert table.splitlines()[-1].split() == ["V1", "3", "0.500"]


def test_demo_command_defaults():
    args = build_parser().parse_args(["demo"])
    assert args.out == "brainenc_results/demo" and args.backbone is None and not args.quiet
    assert args.synthesize is None and not args.no_synthesis
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--synthesize", "FFA", "--no-synthesis"])
