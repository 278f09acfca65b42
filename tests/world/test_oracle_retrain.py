"""benchmarks/oracle_retrain.py: bad paths are refused in one line before any training."""

import sys

import pytest

from brainenc.world.oracle import ORACLE_FILE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--load", "missing.safetensors"], "--load missing.safetensors is not a file"),
        (["--save", str(ORACLE_FILE)], "--save would overwrite the shipped oracle"),
    ],
)
def test_bad_paths_are_refused_before_training(benchmark_module, monkeypatch, capsys, argv,
                                               message):  # fmt: skip
    retrain = benchmark_module("oracle_retrain")
    monkeypatch.setattr(retrain, "train_oracle", pytest.fail)
    monkeypatch.setattr(sys, "argv", ["oracle_retrain.py", *argv, "--out", "out.json"])
    with pytest.raises(SystemExit):
        retrain.main()
    assert message in capsys.readouterr().err
