"""BrainDiVE on the world with the shipped diffusion prior, scored against the truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainenc.cli import build_parser
from brainenc.synthesis import ROBUST_GUIDANCE, ROI, Guidance
from brainenc.synthesis.world import (
    PREFERRED,
    synthesize_world,
    world_brain_model,
    world_guidance,
)
from brainenc.synthesis.world_prior import PRIOR_DIR


def test_preferred_categories_come_from_the_simulator():
    assert PREFERRED["FFA"] == "face" and PREFERRED["PPA"] == "place"
    assert PREFERRED["VWFA"] == "word" and PREFERRED["food"] == "food"


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_world_synthesis_scores_guided_against_unguided(tmp_path):
    model = world_brain_model(1, n_train=300, progress=False)
    summary = synthesize_world(ROI("PPA"), n_images=2, num_inference_steps=6,
                               brain_model=model, out=tmp_path, progress=False)  # fmt: skip
    assert summary["guidance"] == {"scale": 1.0, "normalize": True, "augment": True}
    guided, unguided = summary["guided"], summary["unguided"]
    assert guided["mean_predicted"] > unguided["mean_predicted"]
    assert len(guided["true"]) == 2 and np.isfinite(guided["true"]).all()
    assert set(guided["category"]) <= {"face", "body", "place", "word", "food"}
    saved = json.loads((tmp_path / "PPA.json").read_text())
    assert saved["natural_true_p90"] == summary["natural_true_p90"]
    assert (tmp_path / "PPA.png").stat().st_size > 1000


def test_synthesize_command_arguments():
    args = build_parser().parse_args(["synthesize", "--roi", "FFA", "--minus", "PPA", "--n", "4"])
    assert (args.roi, args.minus, args.n, args.guidance) == ("FFA", "PPA", 4, "robust")
    assert world_guidance(args.guidance, args.scale) == ROBUST_GUIDANCE
    assert world_guidance("paper") == Guidance(scale=30.0)
    assert world_guidance("robust", 2.0) == Guidance(scale=2.0, normalize=True, augment=True)


@pytest.mark.skipif(not (PRIOR_DIR / "unet").is_dir(), reason="world diffusion prior not built")
def test_synthesize_rois_script_on_the_world(script, tmp_path):
    run = tmp_path / "run"
    world = ["--world", "--n-train", "300", "--n-test", "30", "--quiet"]
    fit = ["--backbone", "gabor:grid=2", "--out", str(run)]
    assert script("fit_nsd_subject").main([*world, *fit]) == 0
    options = ["--roi", "PPA", "--n", "2", "--steps", "6", "--guidance", "paper"]
    assert script("synthesize_rois").main([str(run), *world, *options]) == 0
    scores = json.loads((run / "synthesis" / "PPA.json").read_text())
    assert scores["guidance"] == {"scale": 30.0, "normalize": False, "augment": False}
    assert len(scores["guided"]["true"]) == 2
    assert 0 <= scores["guided"]["preferred_fraction"] <= 1
    assert 'alt="images synthesized for PPA"' in (run / "report.html").read_text()
