"""EmbeddingBank and project_to_bank: the streaming softmax against a direct computation, the tau
limits, float16 banks, the bank file (round trip, memory map, atomic write) and input errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch.nn.functional as F

from brainenc.captions.bank import EmbeddingBank
from brainenc.captions.projection import project_to_bank
from brainenc.features import Backbone, extract_features


def _features(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Random embeddings with norms between 0.5 and 2."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.5, 2, (n, 1))


def _direct(weights: np.ndarray, features: np.ndarray, tau: float) -> np.ndarray:
    """The projection from the full (targets x bank) softmax matrix, in float64."""
    norms = np.linalg.norm(features, axis=1)
    cos = (weights / np.linalg.norm(weights, axis=1, keepdims=True)) @ (features / norms[:, None]).T
    p = np.exp(tau * (cos - cos.max(1, keepdims=True)))
    p /= p.sum(1, keepdims=True)
    direction = p @ (features / norms[:, None])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * (p @ norms)[:, None]


@pytest.mark.parametrize("tau", [3.0, 150.0])
def test_streaming_equals_the_full_softmax(tau):
    features, weights = _features(1000, 16), _features(70, 16, seed=1)
    bank = EmbeddingBank.from_features(features)
    # 5 target chunks (the last of 6 rows) x 11 bank chunks (the last of 40 rows)
    got = project_to_bank(weights, bank, tau=tau, target_chunk=16, bank_chunk=96)
    assert got.dtype == np.float32 and got.shape == (70, 16)
    np.testing.assert_allclose(got, _direct(weights, features, tau), rtol=0, atol=1e-5)
    whole = project_to_bank(weights, bank, tau=tau, target_chunk=70, bank_chunk=1000)
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)


def test_large_tau_picks_the_nearest_embedding():
    features, noise = _features(200, 32), _features(40, 32, seed=1)
    nearest = np.random.default_rng(2).choice(200, 40, replace=False)
    weights = 3 * features[nearest] + 0.3 * noise  # well separated, of other norms
    cos = weights @ (features / np.linalg.norm(features, axis=1, keepdims=True)).T
    cos /= np.linalg.norm(weights, axis=1, keepdims=True)
    top2 = np.sort(cos, axis=1)[:, -2:]
    assert np.min(top2[:, 1] - top2[:, 0]) > 0.1  # exp(-1e4 * gap) vanishes
    assert np.array_equal(cos.argmax(1), nearest)
    got = project_to_bank(weights, EmbeddingBank.from_features(features), tau=1e4, bank_chunk=64)
    np.testing.assert_allclose(got, features[nearest], rtol=1e-5, atol=1e-6)


def test_small_tau_gives_the_mean_direction_and_norm():
    features, weights = _features(300, 8), _features(10, 8, seed=1)
    norms = np.linalg.norm(features, axis=1)
    mean = (features / norms[:, None]).mean(0)
    expected = mean / np.linalg.norm(mean) * norms.mean()
    got = project_to_bank(weights, EmbeddingBank.from_features(features), tau=1e-6, bank_chunk=64)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), rtol=0, atol=1e-5)


def test_float16_bank_agrees_with_float32():
    features, weights = _features(2000, 64), _features(50, 64, seed=1)
    full = project_to_bank(weights, EmbeddingBank.from_features(features), bank_chunk=512)
    bank = EmbeddingBank.from_features(features, dtype="float16")
    assert bank.directions.dtype == np.float16 and bank.norms.dtype == np.float32
    half = project_to_bank(weights, bank, bank_chunk=512)
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, full, rtol=0, atol=1e-2)


def test_zero_weight_row_gives_nan():
    features, weights = _features(100, 8), _features(5, 8, seed=1)
    weights[2] = 0
    got = project_to_bank(weights, EmbeddingBank.from_features(features), bank_chunk=32)
    assert np.isnan(got[2]).all() and np.isfinite(np.delete(got, 2, axis=0)).all()


def test_bank_from_features():
    features = _features(20, 8)
    bank = EmbeddingBank.from_features(features, {"backbone": "x"})
    assert len(bank) == 20 and bank.width == 8 and bank.meta == {"backbone": "x"}
    assert bank.directions.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bank.directions, axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(bank.directions * bank.norms[:, None], features, rtol=1e-6)
    directions, norms = bank.chunk(15, 25)
    assert directions.shape == (5, 8) and norms.shape == (5,)


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, mmap):
    features, weights = _features(300, 16), _features(20, 16, seed=1)
    for dtype in ("float32", "float16"):
        bank = EmbeddingBank.from_features(features, {"images": "toy", "n": 3}, dtype=dtype)
        path = bank.save(tmp_path / dtype / "bank.h5")
        assert [p.name for p in path.parent.iterdir()] == ["bank.h5"]  # no temporary file left
        loaded = EmbeddingBank.load(path, mmap=mmap)
        assert isinstance(loaded.directions, np.memmap) == mmap
        assert loaded.meta == {"images": "toy", "n": 3} and loaded.directions.dtype == dtype
        np.testing.assert_array_equal(loaded.directions, bank.directions)
        np.testing.assert_array_equal(loaded.norms, bank.norms)
        np.testing.assert_array_equal(
            project_to_bank(weights, loaded, bank_chunk=64),
            project_to_bank(weights, bank, bank_chunk=64),
        )


def test_failed_save_keeps_the_old_file(tmp_path):
    bank = EmbeddingBank.from_features(_features(10, 4), {"v": 1})
    path = bank.save(tmp_path / "bank.h5")
    bank.meta["bad"] = object()  # fails after the datasets are written
    with pytest.raises(TypeError):
        bank.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["bank.h5"]
    assert EmbeddingBank.load(path).meta == {"v": 1}


class _PooledPixels(Backbone):
    """Average-pooled pixels (2 x 2 cells), 12 features."""

    def __init__(self):
        super().__init__(spec="pooled-pixels", embed_dim=12, input_size=16)

    def embed(self, images):
        return F.adaptive_avg_pool2d(self.preprocess(images), 2).flatten(1)


def test_bank_from_backbone(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    bank = EmbeddingBank.from_backbone(_PooledPixels(), images, tmp_path, progress=False)
    assert len(bank) == 6 and bank.width == 12 and bank.meta["backbone"] == "pooled-pixels"
    pooled = extract_features(_PooledPixels(), images, progress=False)
    np.testing.assert_allclose(bank.directions * bank.norms[:, None], pooled, atol=1e-5)


def test_projection_errors():
    bank = EmbeddingBank.from_features(_features(10, 8))
    weights = _features(3, 8, seed=1)
    with pytest.raises(ValueError, match="12 columns but the bank's embeddings are 8 wide"):
        project_to_bank(_features(3, 12), bank)
    with pytest.raises(ValueError, match="2-D array"):
        project_to_bank(weights[0], bank)
    weights[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 weight rows hold NaN or inf \(rows \[1\]"):
        project_to_bank(weights, bank)
    for tau in (0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="tau must be a finite positive number"):
            project_to_bank(weights[:1], bank, tau=tau)
    with pytest.raises(ValueError, match="bank_chunk must be a positive int"):
        project_to_bank(weights[:1], bank, bank_chunk=0)


def test_bank_errors():
    features = _features(5, 4)
    features[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"1 feature rows hold NaN or inf \(rows \[3\]"):
        EmbeddingBank.from_features(features)
    features[3] = 0
    with pytest.raises(ValueError, match=r"1 feature rows are all zero \(rows \[3\]"):
        EmbeddingBank.from_features(features)
    with pytest.raises(ValueError, match="embedding bank is empty"):
        EmbeddingBank.from_features(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="2-D array"):
        EmbeddingBank.from_features(np.ones(4))
    with pytest.raises(ValueError, match="dtype must be one of"):
        EmbeddingBank.from_features(np.ones((2, 4)), dtype="int8")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        EmbeddingBank.from_features(np.ones((2, 4)), {"x": object()})


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no embedding bank at"):
        EmbeddingBank.load(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 embedding bank"):
        EmbeddingBank.load(tmp_path / "text.h5")
    with h5py.File(tmp_path / "features.h5", "w") as f:
        f.create_dataset("features", data=np.ones((3, 4)))
    with pytest.raises(ValueError, match="lacks dataset 'directions', dataset 'norms'"):
        EmbeddingBank.load(tmp_path / "features.h5")
    path = EmbeddingBank.from_features(_features(3, 4)).save(tmp_path / "bank.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="format version 99; this brainenc reads version 1"):
        EmbeddingBank.load(path)
