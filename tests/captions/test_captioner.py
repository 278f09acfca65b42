"""The captioner (prefix MLP + GPT-2 from a config, word-level tokenizer), offline: it trains,
decodes, saves and loads; dominant nouns; the word map; offline failure of a missing LM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainenc.captions import Captioner, dominant_noun, language_model, top_words, train_captioner
from brainenc.maps.kinds import caption_noun_map
from brainenc.world import WORLD_NOUNS
from brainenc.world.captioner import build_world_captioner, world_tokenizer
from brainenc.world.clip import WordTokenizer, world_embeddings
from brainenc.world.stimuli import CATEGORIES, generate_stimuli


@pytest.fixture(scope="module")
def trained():
    """A tiny world captioner trained for 250 steps on 600 world images (about 30 s)."""
    stim = generate_stimuli(600, 90_000)
    embeddings = world_embeddings(stim.images)
    words = {w for c in stim.captions for w in WordTokenizer.words(c)}
    captioner = build_world_captioner(words)
    first = captioner.loss(embeddings[:64], stim.captions[:64]).item()
    record = train_captioner(captioner, embeddings, stim.captions, steps=250, batch_size=32,
                             lr=2e-3, warmup=20, progress=False)  # fmt: skip
    return captioner, stim, embeddings, first, record


def test_captioner_trains_and_decodes_the_category(trained):
    captioner, stim, embeddings, first, record = trained
    assert record["loss"] < first / 4
    captions = captioner.caption(embeddings[:100])
    named = [dominant_noun(c, WORLD_NOUNS) for c in captions]
    accuracy = np.mean([n == CATEGORIES[label] for n, label in zip(named, stim.labels[:100],
                                                                   strict=True)])  # fmt: skip
    assert accuracy >= 0.9, captions[:5]
    assert all(c and "<unk>" not in c for c in captions)


def test_greedy_and_beam_search_and_batching_agree_on_format(trained):
    captioner, _, embeddings, *_ = trained
    beam = captioner.caption(embeddings[:10], beams=5, batch_size=3)
    assert beam == captioner.caption(embeddings[:10], beams=5, batch_size=10)
    greedy = captioner.caption(embeddings[:10], beams=1)
    assert len(greedy) == 10 and all(isinstance(c, str) and c for c in greedy)


def test_save_load_round_trip(trained, tmp_path):
    captioner, _, embeddings, *_ = trained
    path = captioner.save(tmp_path / "cap")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cap"]  # nothing half-written beside
    loaded = Captioner.load(path)
    assert loaded.caption(embeddings[:8]) == captioner.caption(embeddings[:8])
    assert loaded.metadata == captioner.metadata


def test_load_errors(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a captioner directory"):
        Captioner.load(tmp_path)
    path = trained[0].save(tmp_path / "cap")
    config = json.loads((path / "captioner.json").read_text())
    (path / "captioner.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        Captioner.load(path)


def test_bad_embeddings_are_refused(trained):
    captioner = trained[0]
    with pytest.raises(ValueError, match=r"shape \(n, 128\)"):
        captioner.caption(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        captioner.caption(np.full((2, 128), np.nan, np.float32))
    with pytest.raises(ValueError, match="2 embeddings but 1 captions"):
        captioner.loss(np.zeros((2, 128), np.float32), ["a face"])


def test_world_tokenizer_round_trips_offline():
    tokenizer = world_tokenizer(["a", "face", "of", "person"])
    ids = tokenizer("A face of a person", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == "a face of a person"
    assert tokenizer("a dragon", add_special_tokens=False).input_ids[1] == tokenizer.unk_token_id


def test_missing_language_model_fails_at_once_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="hf download no-such-org/no-such-lm"):
        language_model("no-such-org/no-such-lm")


def test_dominant_noun_and_top_words():
    assert dominant_noun("a person in a red shirt standing", WORLD_NOUNS) == "body"
    assert dominant_noun("an empty room with blue walls", WORLD_NOUNS) == "place"
    assert dominant_noun("two plates of pasta", {"plate": "food"}) == "food"  # plural
    assert dominant_noun("some sandwiches", {"sandwich": "food"}) == "food"
    assert dominant_noun("fresh berries", {"berry": "food"}) == "food"
    assert dominant_noun("a blue background", WORLD_NOUNS) is None
    assert top_words(["a red face", "a blue face", "the face"], n=2) == [("face", 3), ("red", 1)]


def test_caption_noun_map_is_categorical_most_frequent_first():
    m = caption_noun_map(["face", None, "place", "face"], model="m")
    assert m.categories == ("face", "place")
    np.testing.assert_array_equal(m.values, [0, np.nan, 1, 0])
    fixed = caption_noun_map(["face", None, "place"], labels=["place", "word", "face"])
    assert fixed.categories == ("place", "word", "face")
    np.testing.assert_array_equal(fixed.values, [2, np.nan, 0])
    with pytest.raises(ValueError, match="no target has a dominant noun"):
        caption_noun_map([None, None])
    with pytest.raises(ValueError, match="not among labels"):
        caption_noun_map(["face"], labels=["place"])
