"""extract_features: equals direct calls, batch boundaries, index order, kinds, progress bar."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data import ArrayImages, to_tensor
from brainenc.features import extract_features


@pytest.fixture(scope="module")
def images() -> ArrayImages:
    rng = np.random.default_rng(0)
    return ArrayImages(rng.integers(0, 256, size=(11, 40, 48, 3), dtype=np.uint8))


def test_embed_equals_direct_call_across_batches(gabor, images):
    feats = extract_features(gabor, images, batch_size=4, progress=False)  # 4 + 4 + 3
    assert feats.dtype == np.float32 and feats.shape == (11, 2048)
    with torch.no_grad():
        direct = gabor.embed(to_tensor(images[:])).numpy()
    np.testing.assert_allclose(feats, direct, rtol=1e-5, atol=1e-6)


def test_indices_order_and_array_input(gabor, images):
    idx = np.array([7, 2, 10, 5])
    feats = extract_features(gabor, images.array, idx, batch_size=3, progress=False)
    full = extract_features(gabor, images, batch_size=64, progress=False)
    np.testing.assert_allclose(feats, full[idx], rtol=1e-5, atol=1e-6)


def test_tokens(gabor, images):
    toks = extract_features(
        gabor, images, [0, 1, 2], feature_type="tokens", batch_size=2, progress=False
    )
    assert toks.shape == (3, 64, 32) and toks.dtype == np.float32
    with torch.no_grad():
        direct = gabor.tokens(to_tensor(images[[0, 1, 2]])).numpy()
    np.testing.assert_allclose(toks, direct, rtol=1e-5, atol=1e-6)


def test_empty_indices_keep_the_feature_shape(gabor, images):
    empty = np.array([], dtype=np.int64)
    assert extract_features(gabor, images, empty, progress=False).shape == (0, 2048)
    assert extract_features(gabor, images, empty, feature_type="tokens", progress=False).shape == (
        0,
        64,
        32,
    )


def test_restores_training_mode(gabor, images):
    gabor.train()
    try:
        extract_features(gabor, images, [0], progress=False)
        assert gabor.training
    finally:
        gabor.eval()


def test_progress_bar_only_when_asked(gabor, images, capsys):
    extract_features(gabor, images, [0, 1], progress=False)
    assert capsys.readouterr().err == ""
    extract_features(gabor, images, [0, 1], progress=True)
    err = capsys.readouterr().err
    assert "gabor" in err and "2/2" in err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"feature_type": "pooled"}, ValueError, "'embed', 'tokens'"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"indices": [0, 11]}, ValueError, "outside"),
        ({"images": [[0]]}, TypeError, "ImageSet"),
    ],
)
def test_bad_arguments_raise(gabor, images, kwargs, error, match):
    args = {"images": images, **kwargs}
    with pytest.raises(error, match=match):
        extract_features(gabor, progress=False, **args)
