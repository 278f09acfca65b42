"""Training the world's captioner (:mod:`brainenc.world.captioner`) on world-clip embeddings of
world images and their ground-truth captions, on streams of its own (docs/world.md)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...captions.nouns import dominant_noun
from ...captions.training import train_captioner
from ..captioner import CAPTIONER_DIR, WORLD_NOUNS, build_world_captioner
from ..clip import SPEC, WordTokenizer, world_embeddings
from ..stimuli import CATEGORIES, generate_stimuli

TRAIN_SEED, VALID_SEED, EVAL_SEED = 17_000, 17_500, 18_000
SETTINGS = {"steps": 3000, "batch_size": 64, "lr": 1e-3, "noise": 0.05}


def train_world_captioner(*, n_images: int = 20_000, seed: int = 0, progress: bool = True,
                          **overrides):  # fmt: skip
    """Train the world captioner from scratch (deterministic given ``seed``).

    Returns the captioner (eval mode) with its training record in ``metadata["training"]``:
    the held-out loss curve and, on 500 images of an evaluation stream, the share of generated
    captions equal to the ground truth and the share whose dominant noun names the image's
    category. ``overrides`` replace entries of :data:`SETTINGS` (tests train a few steps).
    """
    start = time.perf_counter()
    settings = {**SETTINGS, **overrides}
    stim = generate_stimuli(n_images, TRAIN_SEED + seed, progress=progress)
    valid = generate_stimuli(500, VALID_SEED + seed)
    words = {w for c in stim.captions for w in WordTokenizer.words(c)}
    captioner = build_world_captioner(words, metadata={"backbone": SPEC})
    record = train_captioner(
        captioner, world_embeddings(stim.images, progress=progress), stim.captions,
        val=(world_embeddings(valid.images), valid.captions), seed=seed, progress=progress,
        **settings,
    )  # fmt: skip
    record.update(n_images=n_images, **caption_accuracy(captioner))
    record["train_seconds"] = round(time.perf_counter() - start, 1)
    captioner.metadata["training"] = record
    return captioner


def caption_accuracy(captioner, n: int = 500, seed: int = EVAL_SEED) -> dict:
    """Exact-caption and category (dominant noun) accuracy on ``n`` held-out world images."""
    stim = generate_stimuli(n, seed)
    captions = captioner.caption(world_embeddings(stim.images))
    named = [dominant_noun(c, WORLD_NOUNS) for c in captions]
    return {
        "exact_caption_accuracy": float(np.mean([a == b for a, b in
                                                 zip(captions, stim.captions, strict=True)])),
        "category_accuracy": float(np.mean([c == CATEGORIES[label] for c, label in
                                            zip(named, stim.labels, strict=True)])),
    }  # fmt: skip


def save_world_captioner(captioner, directory=CAPTIONER_DIR) -> Path:
    """Write the captioner into the shipped folder (atomically)."""
    return captioner.save(directory)
