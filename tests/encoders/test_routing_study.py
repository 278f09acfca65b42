"""A routing encoder through the command line on world composites: fit, maps (attention figure
and attention summaries), the report, attention maps and guided synthesis through its module."""

from __future__ import annotations

import json

import numpy as np
import torch

from brainenc.cli import main
from brainenc.encoders import BrainModel
from brainenc.features import Backbone
from brainenc.run import Run
from brainenc.study import load_run_encoder
from brainenc.synthesis import ROI, BrainDiVEPipeline
from brainenc.world import load_world

SPEC = "routing:max_epochs=2,width=32"
STEM = "world-clip_routing_max_epochs_2_width_32"


def test_routing_on_world_composites_from_the_command_line(tmp_path, tiny_diffusion):
    run_dir = tmp_path / "run"
    world = ["--world", "--stimuli", "composite", "--n-train", "80", "--n-test", "15", "--quiet"]
    fit = ["fit", *world, "--backbone", "world-clip", "--encoder", SPEC, "--out", str(run_dir)]
    assert main(fit) == 0
    run = Run.read(run_dir)
    assert run.data["stimuli"] == "composite"
    maps = [m["file"] for m in run.maps]
    for stem in ("attention", "attention_x", "attention_y", "attention_focus"):
        assert f"maps/{stem}_{STEM}.png" in maps
    html = (run_dir / "report.html").read_text()
    assert "where each ROI looks" in html

    data = load_world(1, n_train=80, n_test=15, stimuli="composite")
    encoder = load_run_encoder(run, run.models[0], data)
    model = BrainModel.from_encoder(Backbone.from_spec("world-clip"), encoder, data)
    images = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        maps = model.attention_maps(images, "FFA")
    assert maps.shape == (2, 128, 128)
    np.testing.assert_allclose(maps.sum((1, 2)).numpy(), 1.0, rtol=1e-5)
    unet, vae, scheduler = tiny_diffusion  # random weights: the gradient path is what is tested
    pipe = BrainDiVEPipeline(unet, scheduler, model, vae=vae, condition=torch.zeros(1, 1, 16))
    out = pipe(ROI("FFA"), n_images=2, seed=3, guidance=200.0, num_inference_steps=3,
               progress=False)  # fmt: skip
    assert np.isfinite(out.scores).all()
    assert json.loads((run_dir / run.models[0].folder / "config.json").read_text())["encoder"] == (
        "routing"
    )
