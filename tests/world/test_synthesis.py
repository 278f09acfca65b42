"""BrainDiVE on the world with the shipped diffusion prior, scored against the truth."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from brainenc.cli import build_parser
from brainenc.metrics import difference_interval
from brainenc.synthesis import ROBUST_GUIDANCE, ROI, Guidance
from brainenc.world import CATEGORIES, JUDGE_CLASSES
from brainenc.world.prior import PRIOR_DIR
from brainenc.world.synthesis import (
    PREFERRED,
    WorldBench,
    synthesize_world,
    world_brain_model,
    world_guidance,
    world_pipeline,
)


def test_preferred_categories_come_from_the_simulator():
    assert PREFERRED["FFA"] == "face" and PREFERRED["PPA"] == "place"
    assert PREFERRED["VWFA"] == "word" and PREFERRED["food"] == "food"


def test_a_bench_without_judges_still_scores_natural_images_by_the_truth():
    bench = WorldBench.build(1, judges=False)
    assert bench.judges == {}
    ffa = bench.natural_true(ROI("FFA"))
    faces = bench.natural_labels == CATEGORIES.index("face")
    assert ffa.shape == (1000,) and np.median(ffa[faces]) > np.percentile(ffa[~faces], 90)


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_world_synthesis_scores_guided_against_unguided(tmp_path):
    model = world_brain_model(1, n_train=300, progress=False)
    summary = synthesize_world(ROI("PPA"), n_images=2, num_inference_steps=6,
                               brain_model=model, out=tmp_path, progress=False)  # fmt: skip
    assert summary["guidance"] == {"scale": 1.0, "normalize": True, "augment": True}
    guided, unguided = summary["guided"], summary["unguided"]
    assert guided["mean_predicted"] > unguided["mean_predicted"]
    assert len(guided["true"]) == 2 and np.isfinite(guided["true"]).all()
    assert set(guided["judged"]["judge"]) <= set(JUDGE_CLASSES)
    assert set(guided["judged"]["world-clip"]) <= set(CATEGORIES)
    assert summary["preferred"] == "place" and summary["judges"] == ["judge", "world-clip"]
    for run in (guided, unguided):
        fraction = run["fractions"]["judge"]["preferred"]
        assert run["preferred_fraction"] == fraction["fraction"]
        assert fraction["ci95"][0] <= fraction["fraction"] <= fraction["ci95"][1]
        low, high = run["mean_true_ci95"]
        assert low <= run["mean_true"] <= high
    difference = summary["true_difference"]
    assert difference["paired"]
    assert difference["mean"] == pytest.approx(guided["mean_true"] - unguided["mean_true"])
    paired = difference_interval(guided["true"], unguided["true"], paired=True)
    assert difference["ci95"] == pytest.approx(paired)
    saved = json.loads((tmp_path / "PPA.json").read_text())
    assert saved["natural_true_p90"] == summary["natural_true_p90"]
    assert np.isfinite(saved["natural_true_median_preferred"])
    assert (tmp_path / "PPA.png").stat().st_size > 1000
    batch = np.load(tmp_path / "PPA" / "guided.npy")
    assert batch.shape == (2, 64, 64, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "PPA" / "unguided_001.png")),
                                  np.load(tmp_path / "PPA" / "unguided.npy")[1])  # fmt: skip


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_reranked_world_synthesis_scores_kept_images_and_all_candidates():
    model = world_brain_model(1, n_train=300, progress=False)
    summary = synthesize_world(ROI("food"), n_images=2, seed=7, oversample=2, progress=False,
                               num_inference_steps=4, brain_model=model)  # fmt: skip
    assert summary["oversample"] == 2
    for run in ("guided", "unguided"):
        kept, candidates = summary[run], summary[run]["candidates"]
        assert candidates["seeds"] == [7, 8, 9, 10] and len(kept["true"]) == 2
        assert kept["predicted"] == sorted(candidates["predicted"], reverse=True)[:2]
        for scores in (kept, candidates):  # intervals for both
            assert scores["mean_true_ci95"][0] <= scores["mean_true"] <= scores["mean_true_ci95"][1]
            assert "preferred" in scores["fractions"]["judge"]
    difference = summary["true_difference"]
    assert not difference["paired"]  # each run kept its own images: Welch's interval
    welch = difference_interval(summary["guided"]["true"], summary["unguided"]["true"],
                                paired=False)  # fmt: skip
    assert difference["ci95"] == pytest.approx(welch)


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_shared_pipeline_and_unguided_samples_give_the_same_scores():
    model = world_brain_model(1, n_train=300, progress=False)
    pipeline = world_pipeline(model)
    unguided = pipeline(None, n_images=2, seed=5, guidance=None, num_inference_steps=4,
                        progress=False)  # fmt: skip
    shared = synthesize_world(-ROI("FFA"), n_images=2, seed=5, num_inference_steps=4,
                              pipeline=pipeline, unguided=unguided, progress=False)  # fmt: skip
    alone = synthesize_world(-ROI("FFA"), n_images=2, seed=5, num_inference_steps=4,
                             brain_model=model, progress=False)  # fmt: skip
    for run in ("guided", "unguided"):
        np.testing.assert_allclose(shared[run]["true"], alone[run]["true"], atol=1e-5)
    assert shared["preferred"] is None and "preferred" not in shared["guided"]["fractions"]["judge"]
    with pytest.raises(ValueError, match=r"seeds 5\.\.6; they must be the guided run.s 0\.\.1"):
        synthesize_world("FFA", n_images=2, seed=0, num_inference_steps=4, pipeline=pipeline,
                         unguided=unguided, progress=False)  # fmt: skip


def test_synthesize_command_arguments():
    args = build_parser().parse_args(["synthesize", "--roi", "FFA", "--minus", "PPA", "--n", "4"])
    assert (args.roi, args.minus, args.n, args.guidance) == (["FFA"], "PPA", 4, None)
    assert world_guidance(args.guidance or "robust", args.scale) == ROBUST_GUIDANCE  # the default
    assert world_guidance("paper") == Guidance(scale=30.0)
    assert world_guidance("robust", 2.0) == Guidance(scale=2.0, normalize=True, augment=True)


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_synthesize_rois_script_on_the_world(script, tmp_path):
    run = tmp_path / "run"
    world = ["--world", "--n-train", "300", "--n-test", "30", "--quiet"]
    fit = ["--backbone", "gabor:grid=2", "--out", str(run), "--no-maps"]
    assert script("fit_nsd_subject").main([*world, *fit]) == 0
    assert not (run / "maps").exists()  # --no-maps
    prior = shutil.copytree(PRIOR_DIR, tmp_path / "prior")  # any prior folder: --diffusion
    options = ["--roi", "PPA", "--n", "2", "--steps", "6", "--guidance", "paper",
               "--diffusion", str(prior)]  # fmt: skip
    assert script("synthesize_rois").main([str(run), *world, *options]) == 0
    scores = json.loads((run / "synthesis" / "PPA.json").read_text())
    assert scores["guidance"] == {"scale": 30.0, "normalize": False, "augment": False}
    assert len(scores["guided"]["true"]) == 2
    assert 0 <= scores["guided"]["preferred_fraction"] <= 1
    assert 'alt="images synthesized for PPA"' in (run / "report.html").read_text()
