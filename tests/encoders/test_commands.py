"""``brainenc features`` and ``brainenc fit`` on a prepared NSD-layout store."""

from __future__ import annotations

import h5py
import numpy as np

from brainenc.cli import main
from brainenc.data._fixtures import write_nsd_fixture
from brainenc.data.manifest import Manifest
from brainenc.data.nsd import prepare_nsd
from brainenc.encoders import load_encoder


def test_features_then_fit(tmp_path, capsys):
    root = tmp_path / "nsd"
    write_nsd_fixture(root, 1, 1, spaces=("fsaverage",), mesh="fsaverage4")
    store = prepare_nsd(
        1, "fsaverage", "1", mesh="fsaverage4", progress=False, data_dir=root.parent
    )
    stimuli = str(root / Manifest.load("nsd").path("stimuli"))
    common = ["--stimuli", stimuli, "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main(["features", str(store), *common]) == 0
    assert len(list((tmp_path / "cache").glob("gabor-embed-*.h5"))) == 1
    out = tmp_path / "enc"
    assert main(["fit-store", str(store), *common, "--out", str(out), "--memory", "8GB"]) == 0
    encoder = load_encoder(out)
    with h5py.File(store, "r") as f:
        n_targets = f["responses"].shape[1]
    assert encoder.coef_.shape[1] == n_targets == 2 * 2562
    assert encoder.metadata_["backbone"] == "gabor"
    assert np.isfinite(encoder.best_alphas_[encoder.valid_targets_]).all()
    assert "median test r" in capsys.readouterr().out
