"""A new encoder kind is one class: the toy kinds of conftest (one reads pooled features, one
token grids) go through the study, the maps, the report and synthesis with no edit elsewhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainenc.encoders import BrainModel
from brainenc.features import Backbone
from brainenc.maps import build_report
from brainenc.run import Run
from brainenc.study import fit_study, load_run_encoder
from brainenc.synthesis import ROI, BrainDiVEPipeline
from brainenc.world import load_world


def test_toy_kinds_run_through_study_maps_report_and_synthesis(tmp_path, tiny_diffusion):
    data = load_world(1, n_train=200, n_test=40)
    run = fit_study(data, ["world-clip"], ["pca-ridge:n_components=16", "token-mean"],
                    tmp_path / "run", progress=False, say=lambda *a: None)  # fmt: skip
    names = ["world-clip · pca-ridge:n_components=16", "world-clip · token-mean"]
    assert [m.name for m in run.models] == names
    assert Run.read(run.path).models == run.models
    for model in run.models:  # fitted on the world's signal: V1 is predicted
        assert model.scores["r"]["V1"] > 0.3, model
    maps = [m["file"] for m in run.maps]
    for stem in ("world-clip_pca-ridge_n_components_16", "world-clip_token-mean"):
        assert f"maps/nnr2_{stem}.png" in maps and f"maps/preference_{stem}.png" in maps
    assert any(f.startswith("maps/compare_") for f in maps)
    html = build_report(run.path).read_text()
    assert "world-clip · token-mean<br>median nnr²" in html

    tokens = load_run_encoder(run, run.model("world-clip · token-mean"), data)
    assert json.loads((run.path / run.models[1].folder / "config.json").read_text())["encoder"] == (
        "token-mean"
    )
    brain_model = BrainModel.from_encoder(Backbone.from_spec("world-clip"), tokens, data)
    assert brain_model.feature_type == "tokens"
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = tokens.predict(brain_model.backbone.tokens(images).numpy())
        np.testing.assert_allclose(brain_model(images).numpy(), expected, rtol=1e-4, atol=1e-4)
    unet, vae, scheduler = tiny_diffusion  # random weights: the gradient path is what is tested
    pipe = BrainDiVEPipeline(unet, scheduler, brain_model, vae=vae, condition=torch.zeros(1, 1, 16))
    out = pipe(ROI("FFA"), n_images=2, seed=3, guidance=200.0, num_inference_steps=4,
               progress=False)  # fmt: skip
    assert out.images.shape[0] == 2 and np.isfinite(out.scores).all()


def test_a_study_refuses_two_models_in_one_folder(world_data, tmp_path):
    with pytest.raises(ValueError, match="two models would share the folder encoders/gabor_linear"):
        fit_study(world_data, ["gabor"], ["linear", "linear"], tmp_path, progress=False)
    assert not (tmp_path / "encoders").exists()


def test_a_summary_from_an_older_brainenc_is_named(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"backbones": {"gabor": {}}}))
    with pytest.raises(ValueError, match="written by an older brainenc"):
        Run.read(tmp_path)
