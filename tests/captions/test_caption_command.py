"""``brainenc caption`` on a world run: region captions name their region's category, the
vertices of each category region get captions about that category, the word map and the report
show them, and images drawn from the captions are scored; the command's errors are one line."""

from __future__ import annotations

import json

import pytest

from brainenc.cli import main
from brainenc.run import Run
from brainenc.study import fit_study
from brainenc.world.synthesis import PREFERRED

FIVE = ("FFA", "EBA", "PPA", "VWFA", "food")


@pytest.fixture(scope="module")
def world_run(world_data, tmp_path_factory):
    """A linear world-clip encoder of world subject 1 (600 training images)."""
    out = tmp_path_factory.mktemp("caption") / "run"
    fit_study(world_data, ["world-clip"], ["linear"], out, maps=False, progress=False,
              say=lambda *a: None)  # fmt: skip
    return out


def test_caption_command_on_the_world(world_run, world_data, monkeypatch, capsys):
    # the run's subject as the command would load it (`load_data` is tested with fit and map)
    monkeypatch.setattr("brainenc.study_commands.load_data", lambda args: world_data)
    args = ["caption", str(world_run), "--world", "--n-train", "600", "--n-test", "200",
            "--bank-images", "3000", "--per-vertex", "--beams", "1", "--images", "2",
            "--steps", "2", "--quiet",
            *(a for r in FIVE for a in ("--roi", r))]  # fmt: skip
    assert main(args) == 0
    record = json.loads((world_run / "captions" / "captions.json").read_text())
    for roi in FIVE:
        found = record["regions"][roi]
        assert found["noun"] == PREFERRED[roi], found
        assert found["noun_shares"][PREFERRED[roi]] >= 0.8, found
        scores = json.loads((world_run / "captions" / f"{roi}.json").read_text())
        assert scores["caption"] == found["caption"] and len(scores["true"]) == 2
        assert (world_run / "captions" / roi / "caption_001.png").is_file()
    vertices = json.loads((world_run / "captions" / "vertices.json").read_text())
    assert (
        len(vertices["captions"]) == len(vertices["targets"]) == record["per_vertex"]["n_targets"]
    )
    run = Run.read(world_run)
    assert "maps/caption_nouns_world-clip_linear.png" in [m["file"] for m in run.maps]
    html = (world_run / "report.html").read_text()
    assert "Captions (BrainSCUBA)" in html and record["regions"]["FFA"]["caption"] in html
    out = capsys.readouterr().out
    assert f"FFA: {record['regions']['FFA']['caption']!r}" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--roi", "XYZ"], "unknown ROI 'XYZ'"),
        (["--tau", "0"], "--tau must be a positive number"),
        (["--beams", "0"], "--beams must be at least 1"),
        (["--bank-images", "0"], "--bank-images must be at least 1"),
    ],
)
def test_caption_command_errors_are_one_line(world_run, capsys, extra, message):
    assert main(["caption", str(world_run), "--world", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_real_runs_need_a_captioner_and_a_bank(world_run, capsys):
    assert main(["caption", str(world_run)]) == 2
    assert "--captioner DIR" in capsys.readouterr().err
    assert main(["caption", str(world_run), "--world", "--text-scale", "0.5"]) == 2
    assert "--text-scale must be at least 1" in capsys.readouterr().err
