"""world-vit: patch labels, its training loop, the shipped checkpoint and the backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data.images import to_tensor
from brainenc.features import Backbone
from brainenc.world.stimuli import generate_composites, generate_stimuli
from brainenc.world.training.vit import patch_accuracy, save_world_vit, train_world_vit
from brainenc.world.vit import CHECKPOINT, TOKEN_CLASSES, load_world_vit, patch_labels


def test_patch_labels_follow_the_boxes():
    boxes = np.array([[[0, 0, 64, 64], [64, 32, 128, 96], [np.nan] * 4]], np.float32)
    labels = patch_labels(boxes, np.array([[0, 3, -1]]), size=128, side=4).reshape(4, 4)
    face, word = TOKEN_CLASSES.index("face"), TOKEN_CLASSES.index("word")
    expected = np.array([[face, face, 0, 0],
                         [face, face, word, word],
                         [0, 0, word, word],
                         [0, 0, 0, 0]])  # fmt: skip
    np.testing.assert_array_equal(labels, expected)


def test_training_runs_and_the_checkpoint_round_trips(tmp_path):
    model, record = train_world_vit(steps=2, batch_size=4, n_images=8, progress=False)
    assert 0.0 <= record["patch_accuracy"] <= 1.0
    assert {f"patch_accuracy_{c}" for c in TOKEN_CLASSES} <= set(record)
    path = save_world_vit(model, record, tmp_path / "vit.safetensors")
    loaded, loaded_record = load_world_vit(path)
    images = to_tensor(generate_composites(2, seed=5).images[:])
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images))
    assert loaded_record == record


def test_a_missing_checkpoint_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="brainenc world build"):
        load_world_vit(tmp_path / "nothing.safetensors")


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="world-vit checkpoint not built")
def test_shipped_world_vit_names_what_lies_under_each_patch():
    model, _ = load_world_vit()
    scores = patch_accuracy(model, n=60)
    for name in TOKEN_CLASSES:
        assert scores[f"patch_accuracy_{name}"] >= 0.8, (name, scores)


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="world-vit checkpoint not built")
def test_world_vit_backbone():
    backbone = Backbone.from_spec("world-vit")
    assert backbone.input_size == 128 and backbone.embed_dim == 128
    images = to_tensor(generate_stimuli(2).images[:]).requires_grad_(True)  # 64 px: resized
    tokens = backbone.tokens(images)
    assert tokens.shape == (2, 64, 128)
    torch.testing.assert_close(backbone.embed(images), tokens.mean(1))
    tokens.sum().backward()
    assert images.grad.abs().sum() > 0
    backbone.train()
    assert not backbone.model.training
    with pytest.raises(ValueError, match="takes no options"):
        Backbone.from_spec("world-vit:size=64")
