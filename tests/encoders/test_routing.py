"""The attention-routing encoder: it finds where the information is, and says where it looked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.encoders import BrainModel, LinearEncoder, RoutingEncoder
from brainenc.encoders.routing import RoutingLayer, RoutingNetwork, head_importance
from brainenc.maps.attention import plot_attention, upsample_attention
from brainenc.maps.kinds import attention_map

N_TOKENS, WIDTH = 16, 8


def marked_tokens(n: int, seed: int = 0):
    """Token grids where one token per image, at a random place, is marked (its feature 0 is
    large) and carries the signal in features 2-3; 10 targets read it, 4 are noise.

    Returns tokens, responses and the marked token of each image.
    """
    rng = np.random.default_rng(seed)
    tokens = rng.standard_normal((n, N_TOKENS, WIDTH)).astype(np.float32)
    where = rng.integers(N_TOKENS, size=n)
    tokens[np.arange(n), where, 0] = 4.0
    signal = tokens[np.arange(n), where, 2:4]
    weights = rng.standard_normal((2, 10))
    responses = np.concatenate(
        [signal @ weights + 0.3 * rng.standard_normal((n, 10)), rng.standard_normal((n, 4))], 1
    )
    return tokens, responses.astype(np.float32), where


@pytest.fixture(scope="module")
def fitted():
    tokens, responses, where = marked_tokens(700)
    encoder = RoutingEncoder(n_queries=2, width=32, max_epochs=60, patience=8, lr=3e-3)
    encoder.fit(tokens[:500], responses[:500])
    return encoder, tokens, responses, where


def test_routing_reads_the_marked_token_where_pooling_cannot(fitted):
    encoder, tokens, responses, where = fitted
    routed = np.median(encoder.score(tokens[500:], responses[500:])[:10])
    pooled = LinearEncoder().fit(tokens[:500].mean(1), responses[:500])
    flat = LinearEncoder().fit(tokens[:500].reshape(500, -1), responses[:500])
    assert routed > 0.8
    assert routed > np.median(pooled.score(tokens[500:].mean(1), responses[500:])[:10]) + 0.3
    assert routed > np.median(flat.score(tokens[500:].reshape(200, -1), responses[500:])[:10])
    # the signal targets look at the marked token, over 4 times chance (1/16)
    attention = encoder.attention(tokens[500:], np.arange(10))
    assert attention.shape == (200, N_TOKENS)
    np.testing.assert_allclose(attention.sum(1), 1.0, rtol=1e-5)
    assert attention[np.arange(200), where[500:]].mean() > 0.25
    every = encoder.attention(tokens[500:502])
    assert every.shape == (2, encoder.query_.max() + 1, N_TOKENS)


def test_routing_layer_is_multi_head_attention_written_out():
    torch.manual_seed(0)
    layer = RoutingLayer(16, 4)
    reference = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(layer.in_proj.weight)
        reference.in_proj_bias.copy_(layer.in_proj.bias)
        reference.out_proj.weight.copy_(layer.out_proj.weight)
        reference.out_proj.bias.copy_(layer.out_proj.bias)
    queries, tokens = torch.randn(3, 5, 16), torch.randn(3, 9, 16)
    heads, weights = layer.read(queries, tokens)
    expected, expected_weights = reference(
        layer.norm(queries), tokens, tokens, average_attn_weights=False
    )
    assert heads.shape == (3, 4, 5, 4) and weights.shape == (3, 4, 5, 9)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(layer.out_proj(heads.transpose(1, 2).flatten(2)), expected)


def test_attention_weights_heads_by_what_each_target_rests_on():
    torch.manual_seed(0)
    net = RoutingNetwork(9, 6, query_of_target=[0, 0, 1], width=8, heads=2).eval()
    with torch.no_grad():
        value = net.layers[0].in_proj.weight[16:]  # the value rows, heads 0 then 1
        value[4:] = 0.0  # head 1 reads no token: its output is a constant
        net.readout_weight.normal_()
    tokens = torch.randn(50, 9, 6)
    importance = head_importance(net, tokens.numpy())
    assert importance.shape == (3, 2) and (importance[:, 0] > 0).all()
    np.testing.assert_allclose(importance[:, 1], 0.0, atol=1e-12)
    with torch.no_grad():
        net.head_importance.copy_(torch.as_tensor(importance))
        _, per_head = net.route(tokens)
        np.testing.assert_allclose(net.attention(tokens, [2]), per_head[:, 0, 1], atol=1e-6)
        mask = np.array([False, False, True])
        np.testing.assert_allclose(net.attention(tokens, mask), per_head[:, 0, 1], atol=1e-6)
        np.testing.assert_allclose(net.attention(tokens)[:, 0], per_head[:, 0, 0], atol=1e-6)
        # a target no head moves weights its heads equally
        net.head_importance[2] = 0.0
        equal = per_head[:, :, 1].mean(1)
        np.testing.assert_allclose(net.attention(tokens, [2]), equal, atol=1e-6)
        with pytest.raises(ValueError, match=r"target mask has shape \(2,\); expected \(3,\)"):
            net.attention(tokens, mask[:2])
        with pytest.raises(ValueError, match="selects no target"):
            net.attention(tokens, [])


def test_brain_model_attention_maps_at_image_resolution(fitted):
    encoder = fitted[0]

    class Backbone(torch.nn.Module):
        """8 × 8 images → a 4 × 4 grid of 2 × 2 patches; feature 0 marks the brightest patch."""

        def tokens(self, images):
            patches = torch.nn.functional.avg_pool2d(images.mean(1, keepdim=True), 2).flatten(1)
            out = torch.zeros(len(images), N_TOKENS, WIDTH)
            out[..., 0] = 4.0 * (patches == patches.amax(1, keepdim=True))
            return out

    images = torch.zeros(3, 3, 8, 8)
    images[0, :, 6:, 0:2] = 1.0  # bottom-left patch
    images[1, :, 0:2, 4:6] = 1.0
    images[2, :, 2:4, 2:4] = 1.0
    model = BrainModel(Backbone(), encoder, rois={"signal": np.arange(14) < 10})
    with torch.no_grad():
        maps = model.attention_maps(images, "signal")
    assert maps.shape == (3, 8, 8)
    np.testing.assert_allclose(maps.sum((1, 2)).numpy(), 1.0, rtol=1e-5)
    for i, (rows, cols) in enumerate([(slice(6, 8), slice(0, 2)), (slice(0, 2), slice(4, 6)),
                                      (slice(2, 4), slice(2, 4))]):  # fmt: skip
        assert maps[i, rows, cols].sum() > 0.25  # chance: 4 of 64 pixels
    linear = BrainModel(Backbone(), torch.nn.Linear(WIDTH, 14), feature_type="tokens")
    with pytest.raises(TypeError, match="does not route attention"):
        linear.attention_maps(images, np.arange(3))


def test_queries_per_roi_then_clusters_for_the_rest():
    tokens, responses, _ = marked_tokens(120, seed=1)
    rois = {"a": np.arange(14) < 4, "b": (np.arange(14) >= 3) & (np.arange(14) < 6)}
    encoder = RoutingEncoder(queries="rois", n_queries=3, width=16, max_epochs=2)
    encoder.fit(tokens, responses, rois=rois)
    q = encoder.query_
    assert len(set(q[:4])) == 1 and len(set(q[4:6])) == 1 and q[0] != q[4]  # overlap: first ROI
    assert not set(q[6:]) & {q[0], q[4]} and len(set(q[6:])) == 3
    clusters = RoutingEncoder(width=16, max_epochs=2).fit(tokens, responses, rois=rois)
    assert sorted(set(clusters.query_)) == list(range(14))  # at most one query per target


def test_ignored_targets_predict_nan_and_errors_are_clear():
    tokens, responses, _ = marked_tokens(80, seed=2)
    bad = responses.copy()
    bad[5, 12] = np.nan
    encoder = RoutingEncoder(width=16, max_epochs=2, nan_targets="ignore").fit(tokens, bad)
    predicted = encoder.predict(tokens[:3])
    assert np.isnan(predicted[:, 12]).all() and np.isfinite(np.delete(predicted, 12, 1)).all()
    with pytest.raises(ValueError, match=r"token grids .*feature_type='tokens'"):
        RoutingEncoder().fit(tokens.mean(1), responses)
    with pytest.raises(ValueError, match="queries must be one of clusters, rois"):
        RoutingEncoder(queries="voxels").fit(tokens, responses)
    with pytest.raises(ValueError, match="multiple of heads"):
        RoutingEncoder(width=30, heads=4).fit(tokens, responses)
    with pytest.raises(ValueError, match=r"token grids of shape \(16, 7\) but the encoder was"):
        encoder.predict(tokens[:, :, :7])
    with pytest.raises(ValueError, match="selects no target"):
        encoder.attention(tokens[:2], np.zeros(14, bool))


def test_attention_summaries_and_figure(tmp_path):
    attention = np.zeros((3, 16))
    attention[0, 3] = 1.0  # top row, rightmost column
    attention[1, 12] = 1.0  # bottom row, leftmost column
    attention[2] = 1 / 16
    query = np.array([0, 1, 2, 2])
    x = attention_map(attention, query, "x").values
    y = attention_map(attention, query, "y").values
    focus = attention_map(attention, query, "focus").values
    np.testing.assert_allclose(x, [0.375, -0.375, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(y, [-0.375, 0.375, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(focus, [1.0, 1.0, 0.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="square token grid"):
        attention_map(np.ones((2, 15)), query[:2])
    maps = upsample_attention(attention[:2], (8, 8))
    assert maps.shape == (2, 8, 8) and maps[0, :2, 6:].sum() == pytest.approx(1.0)
    images = np.zeros((2, 8, 8, 3), np.uint8)
    plot_attention(images, {"FFA": attention[:2]}, title="t", out=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="2 attention maps for 1 images"):
        plot_attention(images[:1], {"FFA": attention[:2]})
