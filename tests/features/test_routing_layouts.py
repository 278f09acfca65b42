"""The routing encoder end to end on real layouts: token features of a tiny open_clip ViT on
NSD-layout (through ``scripts/fit_nsd_subject.py --encoder routing``) and Algonauts-layout
fixtures."""

from __future__ import annotations

import json

import numpy as np

from brainenc.data._fixtures import write_algonauts_fixture, write_nsd_fixture
from brainenc.data.algonauts import load_algonauts
from brainenc.study import fit_study

ROUTING = "routing:max_epochs=3,width=32"


def test_fit_nsd_subject_script_with_routing(script, tiny_clip_configs, tmp_path):
    write_nsd_fixture(tmp_path / "data" / "nsd", subject=1, n_sessions=3, spaces=("func1pt8mm",))
    run = tmp_path / "run"
    args = ["--data-dir", str(tmp_path / "data"), "--space", "func1pt8mm", "--sessions", "1-3",
            "--backbone", "open_clip:tiny-test", "--encoder", ROUTING, "--out", str(run),
            "--quiet"]  # fmt: skip
    assert script("fit_nsd_subject").main(args) == 0
    summary = json.loads((run / "summary.json").read_text())
    [model] = summary["models"]
    assert model["encoder"] == ROUTING and np.isfinite(model["scores"]["r"]["V1"])
    config = json.loads((run / model["folder"] / "config.json").read_text())
    assert config["encoder"] == "routing" and config["shapes"]["mean_attention"][1] == 16
    drawn = [m["file"] for m in summary["maps"]]
    stem = "open_clip_tiny-test_routing_max_epochs_3_width_32"
    assert f"maps/attention_{stem}.png" in drawn and f"maps/attention_x_{stem}.png" in drawn
    assert "where each ROI looks" in (run / "report.html").read_text()


def test_routing_on_algonauts_layout(tiny_clip_configs, tmp_path):
    write_algonauts_fixture(tmp_path / "algonauts2023", subject=1)
    data = load_algonauts(1, data_dir=tmp_path)
    run = fit_study(data, ["open_clip:tiny-test"], [ROUTING], tmp_path / "run", maps=False,
                    progress=False, say=lambda *a: None)  # fmt: skip
    [model] = run.models
    assert model.scores["r"] and all(np.isfinite(v) for v in model.scores["r"].values())
