"""scripts/ (wrappers of brainenc fit / map / synthesize): --help, and fit, map, synthesize on
NSD-format files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brainenc.data._fixtures import write_nsd_fixture


def _nsd_subject_options(tmp_path) -> list[str]:
    """Writes an NSD-format subject 1 (func1pt8mm, 3 sessions) under tmp_path; its options."""
    write_nsd_fixture(tmp_path / "data" / "nsd", subject=1, n_sessions=3, spaces=("func1pt8mm",))
    data = ["--data-dir", str(tmp_path / "data"), "--space", "func1pt8mm", "--sessions", "1-3"]
    return [*data, "--quiet"]


@pytest.mark.parametrize("name", ["fit_nsd_subject", "cortical_maps", "synthesize_rois"])
def test_help(script, name, capsys):
    with pytest.raises(SystemExit) as exit_:
        script(name).main(["--help"])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert "--world" in printed and "--subject" in printed and "(default: 1)" in printed


def test_fit_map_and_synthesize_an_nsd_subject_in_func1pt8mm(
    script, tiny_stable_diffusion, tmp_path, capsys
):
    """Real NSD file layout and formats (few voxels): volume maps, summary, report, BrainDiVE."""
    common = _nsd_subject_options(tmp_path)
    run = tmp_path / "run"
    backbone = ["--backbone", "gabor:grid=2"]  # 128 features: a quick fit
    assert script("fit_nsd_subject").main([*common, *backbone, "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["dataset"] == "nsd" and summary["space"]["name"] == "func1pt8mm"
    [model] = summary["models"]
    assert model["backbone"] == "gabor:grid=2" and model["encoder"] == "linear"
    assert model["folder"] == "encoders/gabor_grid_2_linear"
    assert set(model["scores"]) == {"r", "nnr2"} and "V1" in model["scores"]["r"]
    drawn = [m["file"] for m in summary["maps"]]
    assert drawn == [
        f"maps/{n}.png"
        for n in ("rois", "noise_ceiling", "nnr2_gabor_grid_2_linear", "alpha_gabor_grid_2_linear")
    ]
    assert (run / "report.html").stat().st_size > 10_000

    for path in run.glob("maps/*"):
        path.unlink()
    assert script("cortical_maps").main([str(run), *common]) == 0
    assert sorted(p.name for p in (run / "maps").iterdir()) == sorted(Path(f).name for f in drawn)
    assert "4 maps" in capsys.readouterr().out
    write_nsd_fixture(tmp_path / "data" / "nsd", subject=2, n_sessions=3, spaces=("func1pt8mm",))
    assert script("cortical_maps").main([str(run), *common, "--subject", "2"]) == 1
    assert "fitted to subject 1 but the data are subject 2" in capsys.readouterr().err

    synthesize = script("synthesize_rois").main
    options = [*common, "--diffusion", str(tiny_stable_diffusion), "--n", "2", "--steps", "8"]
    options += ["--scale", "200", "--brain-input-size", "32"]
    assert synthesize([str(run), *options, "--roi", "V1", "--contrast", "V1", "V2"]) == 0
    for name in ("V1", "V1-V2"):
        scores = json.loads((run / "synthesis" / f"{name}.json").read_text())
        # random tiny UNet, fixed seeds: a strong scale still moves the prediction the right way
        assert scores["guided"]["mean_predicted"] > scores["unguided"]["mean_predicted"]
        assert len(scores["guided"]["predicted"]) == 2 and "category" not in scores["guided"]
    assert 'alt="images synthesized for V1"' in (run / "report.html").read_text()
    assert synthesize([str(run), *options, "--roi", "FFA-9"]) == 2
    error = capsys.readouterr().err
    assert "unknown ROI FFA-9; this subject has: " in error and ", V1, " in error


def test_synthesize_guides_with_the_mean_of_several_models(
    script, tiny_stable_diffusion, tmp_path, capsys
):
    """--model twice: the run's two encoders guide together (and rerank 2 candidates per image);
    a judge may be neither's backbone."""
    common = _nsd_subject_options(tmp_path)
    run = tmp_path / "run"
    backbones = ["--backbone", "gabor:grid=2", "--backbone", "gabor:grid=1"]
    assert script("fit_nsd_subject").main([*common, *backbones, "--out", str(run)]) == 0
    synthesize = script("synthesize_rois").main
    options = [*common, "--diffusion", str(tiny_stable_diffusion), "--n", "2", "--steps", "8"]
    options += ["--scale", "200", "--brain-input-size", "32", "--roi", "V1"]
    assert synthesize([str(run), *options]) == 1
    assert "has 2 models; pick one with --model" in capsys.readouterr().err
    both = ["--model", "gabor:grid=2", "--model", "gabor:grid=1"]
    assert synthesize([str(run), *options, *both, "--oversample", "2", "--rank-augment", "2"]) == 0
    scores = json.loads((run / "synthesis" / "V1.json").read_text())
    assert scores["guided"]["mean_predicted"] > scores["unguided"]["mean_predicted"]
    assert scores["oversample"] == 2 and len(scores["guided"]["candidates"]["seeds"]) == 4
    assert scores["ranked_by"] == "the guiding encoder over 2 shifted, mirrored copies"
    assert len(scores["guided"]["by_guide"]["seeds"]) == 2
    assert synthesize([str(run), *options, *both, "--judge", "gabor:grid=1"]) == 2
    assert "is a backbone the guiding encoder reads" in capsys.readouterr().err
    assert (
        synthesize([str(run), *options, "--model", "gabor:grid=1", "--model", "gabor:grid=1"]) == 2
    )
    assert "--model names the same model twice" in capsys.readouterr().err
