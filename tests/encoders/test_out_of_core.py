"""Out-of-core fit and scoring from an HDF5 response array: equal to in memory, resumable."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from brainenc.encoders import LinearEncoder, fit_out_of_core, load_encoder, score_out_of_core
from brainenc.encoders.out_of_core import PROGRESS_FILE, parse_memory


@pytest.fixture()
def store(tmp_path, world):
    """The world's responses in an HDF5 dataset chunked like the response store (1 row x 8)."""
    responses = world.responses.copy()
    responses[5, 3] = np.nan
    path = tmp_path / "store.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("responses", data=responses, chunks=(1, 8))
    with h5py.File(path, "r") as f:
        yield f["responses"], responses


def _train_rows(world):
    rows = np.arange(world.responses.shape[0])[world.train]
    return np.random.default_rng(0).permutation(rows)  # any order


def test_fit_equals_in_memory(tmp_path, world, store):
    ds, responses = store
    rows = _train_rows(world)
    encoder = LinearEncoder(nan_targets="ignore", n_targets_batch=8)
    path = fit_out_of_core(encoder, world.features[rows], ds, tmp_path / "enc", rows=rows)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    on_disk = load_encoder(path)
    in_memory = LinearEncoder(nan_targets="ignore").fit(world.features[rows], responses[rows])
    assert not on_disk.valid_targets_[3] and on_disk.valid_targets_.sum() == 24
    np.testing.assert_array_equal(on_disk.best_alphas_[:20], in_memory.best_alphas_[:20])
    np.testing.assert_allclose(on_disk.coef_, in_memory.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(on_disk.intercept_, in_memory.intercept_, rtol=1e-5)
    np.testing.assert_allclose(on_disk.x_mean_, in_memory.x_mean_, rtol=1e-6)
    test = np.arange(world.responses.shape[0])[world.test]
    for metric in ("r", "r2"):
        streamed = score_out_of_core(path, world.features[test], ds, rows=test, metric=metric)
        expected = in_memory.score(world.features[test], responses[test], metric=metric)
        np.testing.assert_allclose(streamed, expected, rtol=1e-4, atol=1e-6)


def test_killed_fit_resumes_after_last_finished_block(tmp_path, world, store, monkeypatch):
    ds, _ = store
    x, encoder = world.features, LinearEncoder(nan_targets="ignore", n_targets_batch=8)
    reference = load_encoder(fit_out_of_core(encoder, x, ds, tmp_path / "reference"))
    calls = []
    original = LinearEncoder._fit_block

    def killed_at_third_block(self, solver, responses):
        calls.append(responses.shape[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, solver, responses)

    monkeypatch.setattr(LinearEncoder, "_fit_block", killed_at_third_block)
    with pytest.raises(KeyboardInterrupt):
        fit_out_of_core(encoder, x, ds, tmp_path / "enc")
    assert not (tmp_path / "enc").exists()
    assert (tmp_path / ".enc.partial" / PROGRESS_FILE.format(rank=0)).exists()
    calls.clear()
    monkeypatch.setattr(LinearEncoder, "_fit_block", lambda *a: calls.append(1) or original(*a))
    resumed = load_encoder(fit_out_of_core(encoder, x, ds, tmp_path / "enc"))
    assert len(calls) == 2  # 25 targets in blocks of 8: blocks 3 and 4 only
    assert not (tmp_path / ".enc.partial").exists()
    for name in ("coef_", "intercept_", "best_alphas_", "cv_scores_", "valid_targets_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))
    # other inputs: a fresh start, not a resume
    calls.clear()
    fit_out_of_core(encoder, x + 1, ds, tmp_path / "enc")
    assert len(calls) == 4


def test_memory_budget():
    assert parse_memory("4GB") == 4 * 10**9
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory(1000) == 1000
    with pytest.raises(ValueError, match="memory must be a positive number of bytes"):
        parse_memory("lots")


def test_too_small_budget_says_so(tmp_path, world, store):
    ds, _ = store
    with pytest.raises(ValueError, match=r"leaves no room for a block of targets.*raise memory"):
        fit_out_of_core(LinearEncoder(), world.features, ds, tmp_path / "enc", memory="1MB")


def test_memmap_responses(tmp_path, world):
    path = tmp_path / "y.npy"
    np.save(path, world.responses)
    responses = np.load(path, mmap_mode="r")
    encoder = LinearEncoder(n_targets_batch=10)
    on_disk = load_encoder(fit_out_of_core(encoder, world.features, responses, tmp_path / "enc"))
    in_memory = LinearEncoder().fit(world.features, world.responses)
    np.testing.assert_allclose(on_disk.coef_[:, :20], in_memory.coef_[:, :20], rtol=1e-4, atol=1e-5)
