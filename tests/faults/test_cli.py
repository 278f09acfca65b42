"""The ``brainenc`` command: one-line errors, arguments checked first, a fast ``--help``."""

from __future__ import annotations

import subprocess
import sys
import time
import types

import pytest

from brainenc.cli import main

HELPS = [[], ["demo"], ["fit"], ["map"], ["synthesize"], ["world", "build"], ["data", "download"]]
HELPS += [["report"]]


def test_help_answers_without_importing_torch():
    code = (
        "import sys\nfrom brainenc.cli import build_parser\nparser = build_parser()\n"
        f"for argv in {HELPS!r}:\n"
        "    try:\n        parser.parse_args([*argv, '--help'])\n"
        "    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'nibabel', 'h5py') if m in sys.modules))"
    )
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "usage: brainenc" in out.stdout
    assert elapsed < 2.0  # six --help pages, interpreter start included


def _run(argv, capsys):
    """Exit code and stderr of ``brainenc argv`` (argparse errors exit through SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    assert err.startswith("brainenc: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_unknown_roi_fails_before_any_fitting(monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("synthesis started before the arguments were checked")

    fake = types.ModuleType("brainenc.world.synthesis")
    fake.synthesize_world = fake.world_guidance = fake.world_brain_model = never
    monkeypatch.setitem(sys.modules, "brainenc.world.synthesis", fake)
    code, err = _run(["synthesize", "--roi", "NOPE"], capsys)
    assert code == 2 and "unknown ROI 'NOPE'; the world's ROIs are V1" in _one_line(err)
    code, err = _run(["synthesize", "--roi", "FFA", "--n", "0"], capsys)
    assert code == 2 and "--n must be at least 1" in _one_line(err)
    code, err = _run(["synthesize", "--roi", "FFA", "--oversample", "0"], capsys)
    assert code == 2 and "--oversample must be at least 1" in _one_line(err)
    code, err = _run(["synthesize", "--roi", "FFA", "--rank-augment", "8"], capsys)
    assert code == 2 and "--rank-augment ranks candidates: give --oversample 2" in _one_line(err)
    code, err = _run(["synthesize", "--roi", "FFA", "--oversample", "5", "--rank-augment", "-1"],
                     capsys)  # fmt: skip
    assert code == 2 and "--rank-augment must be 0 or more copies; got -1" in _one_line(err)
    code, err = _run(["synthesize", "--roi", "FFA", "--diffusion", "/no/prior"], capsys)
    assert code == 1 and "/no/prior is not a diffusion prior folder (no model_index.json)" in (
        _one_line(err)
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "prepare", "nsd"], "needs --subject"),
        (["data", "download", "nsd", "--subject", "9", "--dry-run"], "nsd has no subject 9"),
        (["data", "download", "nope", "--dry-run"], "no manifest"),
        (["data", "download", "nsd", "--subject", "1", "--sessions", "5-1"], "end before start"),
        (["data", "download", "algonauts2023", "--subject", "1"], "cannot be downloaded auto"),
        (["report", "{tmp}/nothing"], "summary.json does not exist"),
        (["demo", "--synthesize", "XYZ"], "unknown ROI 'XYZ'"),
        (["synthesize"], "name at least one --roi or --contrast"),
        (["fit", "--world", "--encoder", "quantum"], "unknown encoder 'quantum'"),
        (["map", "{tmp}/nothing", "--world"], "summary.json does not exist"),
        (["world", "build", "--device", "tpu"], "choose cpu or cuda; got 'tpu'"),
        (["world", "build", "--only", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_user_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("BRAINENC_DATA", str(tmp_path))
    code, err = _run([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code != 0
    assert message in _one_line(err)


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"summary\.json does not exist"):
        main(["--debug", "report", str(tmp_path)])


def test_an_internal_error_says_it_is_a_bug(monkeypatch, capsys):
    import brainenc.maps.report as report

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(report, "build_report", broken)
    code, err = _run(["report", "x"], capsys)
    assert code == 1 and "ZeroDivisionError: division by zero (this is a bug" in _one_line(err)


def test_help_shows_every_default_even_zero(capsys):
    with pytest.raises(SystemExit):
        main(["synthesize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "first noise seed (default: 0)" in text and "images per objective (default: 16)" in text


def test_device_argument_refuses_unknown_devices_and_a_missing_gpu_in_one_line(capsys):
    import argparse

    import torch

    from brainenc.validation import device_argument

    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--device", default="cpu", type=device_argument)
    assert parser.parse_args([]).device == "cpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "tpu"])
    assert "argument --device: choose cpu or cuda; got 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            parser.parse_args(["--device", "cuda"])
        assert "torch sees no CUDA device; use device='cpu'" in capsys.readouterr().err


def test_world_build_trains_the_prior_on_the_chosen_device(monkeypatch, tmp_path, capsys):
    import brainenc.world.training.prior as prior

    calls = []
    monkeypatch.setattr(prior, "train_world_prior",
                        lambda **kwargs: calls.append(kwargs) or tmp_path)  # fmt: skip
    assert main(["world", "build", "--only", "world-prior", "--device", "cpu", "--quiet"]) == 0
    assert calls == [{"seed": 0, "device": "cpu", "progress": False}]
    assert f"world diffusion prior (cpu) -> {tmp_path}" in capsys.readouterr().out


def test_build_world_refuses_an_unknown_device_before_training():
    from brainenc.world.build import build_world

    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'; got 'tpu'"):
        build_world(["judge"], device="tpu")
