"""world-clip: its tokenizer, its training loop and the shipped checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data.images import to_tensor
from brainenc.features import Backbone
from brainenc.world import generate_stimuli
from brainenc.world.clip import CHECKPOINT, WordTokenizer, load_world_clip
from brainenc.world.stimuli import generate_composites
from brainenc.world.training.clip import save_world_clip, train_world_clip, zero_shot_accuracy


def test_word_tokenizer_layout():
    tok = WordTokenizer(["a", "face", "photo"], context_length=6)
    ids = tok(["A photo of a FACE!", "face " * 10])
    assert ids.shape == (2, 6)
    # start, a, photo, <unk> for 'of', a, then cut to leave room for the end token
    assert ids[0].tolist() == [1, 3, 5, 2, 3, tok.eot]
    assert ids[1, -1] == tok.eot and ids.max() == tok.eot == tok.vocab_size - 1
    assert tok("a")[0].tolist() == [1, 3, tok.eot, 0, 0, 0]


def test_training_runs_and_the_checkpoint_round_trips(tmp_path):
    model, tok, record = train_world_clip(steps=2, batch_size=8, n_images=40, progress=False)
    assert 0.0 <= record["zero_shot_accuracy"] <= 1.0
    path = save_world_clip(model, tok, record, tmp_path / "wc.safetensors")
    loaded, loaded_tok, loaded_record = load_world_clip(path)
    images = to_tensor(generate_stimuli(3).images[:])
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), model.encode_image(images))
    assert loaded_tok.vocabulary == tok.vocabulary and loaded_record == record


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="world-clip checkpoint not built")
def test_shipped_world_clip_recognises_world_categories():
    model, tokenizer, _ = load_world_clip()
    assert zero_shot_accuracy(model, tokenizer, n=300) >= 0.95


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="world-clip checkpoint not built")
def test_world_clip_backbone():
    backbone = Backbone.from_spec("world-clip")
    images = to_tensor(generate_stimuli(2).images[:]).requires_grad_(True)
    emb = backbone.embed(images)
    assert emb.shape == (2, backbone.embed_dim)
    np.testing.assert_allclose(emb.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)
    assert backbone.tokens(images).shape == (2, 16, 128)  # 64 px / patch 16 -> 4 x 4 tokens
    emb.sum().backward()
    assert images.grad.abs().sum() > 0
    text = backbone.embed_text(["a photo of a face", "a photo of a food"])
    assert text.shape == (2, backbone.embed_dim)


def test_world_clip_at_128_pixels_has_an_8_by_8_token_grid():
    fine = Backbone.from_spec("world-clip:size=128")
    assert fine.spec == "world-clip:size=128" and fine.input_size == 128
    scenes = to_tensor(generate_composites(2, seed=3).images[:])
    with torch.no_grad():
        tokens = fine.tokens(scenes)
    assert tokens.shape == (2, 64, 128) and torch.isfinite(tokens).all()
    with pytest.raises(ValueError, match=r"one option, size=<pixels, a multiple of 16>"):
        Backbone.from_spec("world-clip:size=100")


def test_a_missing_or_corrupt_checkpoint_is_refused_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="world-clip checkpoint is missing"):
        load_world_clip(tmp_path / "nothing.safetensors")
    corrupt = tmp_path / "clip.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
        load_world_clip(corrupt)
