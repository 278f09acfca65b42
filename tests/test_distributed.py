"""torchrun with 2 CPU processes (gloo): one feature cache and one encoder, equal to 1 process."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from brainenc.distributed import rank_and_world, shard
from brainenc.encoders import LinearEncoder, fit_out_of_core, load_encoder
from brainenc.features import Backbone, cached_features

SCRIPT = """
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch.distributed as dist

from brainenc.encoders import LinearEncoder, fit_out_of_core
from brainenc.features import Backbone, cached_features

dist.init_process_group("gloo")
out = Path(sys.argv[1])
images = np.load(out / "images.npy")
features = cached_features(Backbone.from_spec("gabor"), images, out / "cache", progress=False)
with h5py.File(out / "store.h5", "r") as f:
    fit_out_of_core(LinearEncoder(n_targets_batch=4), features, f["responses"], out / "enc")
dist.destroy_process_group()
"""


@pytest.mark.slow  # two torchrun processes start in about 20 s
def test_two_ranks_equal_one_process(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 40, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    gabor = Backbone.from_spec("gabor")
    features = cached_features(gabor, images, tmp_path / "one", progress=False)
    signal = (features - features.mean(0)) @ rng.standard_normal((features.shape[1], 18))
    responses = signal / signal.std(0) + rng.standard_normal((40, 18))  # alphas well determined
    with h5py.File(tmp_path / "store.h5", "w") as f:
        f.create_dataset("responses", data=responses.astype(np.float32))
    (tmp_path / "run.py").write_text(SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(
        [*cmd, str(tmp_path / "run.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]

    cache = sorted((tmp_path / "cache").iterdir())
    assert len(cache) == 1 and cache[0].name.endswith(".h5") and ".partial" not in cache[0].name
    with h5py.File(cache[0], "r") as f:
        np.testing.assert_allclose(f["features"][()], features, rtol=1e-6, atol=1e-6)
        assert f["done"][()].all()
    with h5py.File(tmp_path / "store.h5", "r") as f:
        one = fit_out_of_core(
            LinearEncoder(n_targets_batch=4), features, f["responses"], tmp_path / "one_enc"
        )
    two, one = load_encoder(tmp_path / "enc"), load_encoder(one)
    for name in ("coef_", "intercept_", "x_mean_", "best_alphas_", "cv_scores_"):
        np.testing.assert_allclose(getattr(two, name), getattr(one, name), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_single_process_helpers():
    assert rank_and_world() == (0, 1)
    assert [shard(10, r, 3) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert shard(1, 0, 2) == (0, 0)  # an empty share
