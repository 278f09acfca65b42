"""Training world-clip (:mod:`brainenc.world.clip`) with the symmetric CLIP loss on world images
and their captions, 30% of them replaced by a category prompt."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...data.images import to_tensor
from ...files import write_atomically
from ..clip import CATEGORY_NOUNS, CHECKPOINT, CONFIG, PROMPTS, WordTokenizer, build_model
from ..stimuli import CATEGORIES, generate_stimuli

if TYPE_CHECKING:
    import open_clip

# stimulus streams (the oracle and the subjects use others)
TRAIN_SEED, VALID_SEED, EVAL_SEED = 3_000, 3_500, 4_000


def _training_texts(captions: list[str], labels: np.ndarray, rng) -> list[str]:
    """Each image's caption, or (30% of the time) a category prompt."""
    texts = []
    for caption, label in zip(captions, labels, strict=True):
        if rng.random() < 0.3:
            noun = CATEGORY_NOUNS[CATEGORIES[label]]
            caption = PROMPTS[rng.integers(len(PROMPTS))].format(noun)
        texts.append(caption)
    return texts


def train_world_clip(
    *,
    steps: int = 1200,
    batch_size: int = 128,
    n_images: int = 20_000,
    lr: float = 1e-3,
    stop_at: float = 0.98,
    eval_every: int = 100,
    seed: int = 0,
    progress: bool = True,
) -> tuple[open_clip.CLIP, WordTokenizer, dict]:
    """Train world-clip from scratch with the CLIP loss (deterministic given ``seed``).

    Every ``eval_every`` steps the zero-shot accuracy on a validation stream is measured, and
    training stops once it reaches ``stop_at``. Returns the model (eval mode), its tokenizer and
    a training record with the validation curve and the zero-shot accuracy on a separate held-out
    stream.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stim = generate_stimuli(n_images, TRAIN_SEED + seed)
    prompt_words = {w for p in PROMPTS for w in WordTokenizer.words(p)}
    vocab = sorted({w for c in stim.captions for w in WordTokenizer.words(c)} | prompt_words
                   | set(CATEGORY_NOUNS.values()))  # fmt: skip
    tokenizer = WordTokenizer(vocab, CONFIG["text_cfg"]["context_length"])
    model = build_model(tokenizer.vocab_size)
    images = stim.images[:]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="world-clip", disable=not progress)
    curve, trained = [], 0
    for step in bar:
        if step and step % eval_every == 0:
            curve.append(
                (step, zero_shot_accuracy(model.eval(), tokenizer, n=500, seed=VALID_SEED))
            )
            model.train()
            if curve[-1][1] >= stop_at:
                break
        idx = rng.choice(n_images, batch_size, replace=False)
        texts = _training_texts([stim.captions[i] for i in idx], stim.labels[idx], rng)
        img_f, txt_f, scale = model(to_tensor(images[idx]), tokenizer(texts))
        logits = scale * img_f @ txt_f.T
        target = torch.arange(batch_size)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        trained += 1
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    record = {
        "steps": trained,
        "validation_curve": curve,
        "batch_size": batch_size,
        "n_images": n_images,
        "lr": lr,
        "seed": seed,
        "train_seconds": round(time.perf_counter() - start, 1),
        "zero_shot_accuracy": zero_shot_accuracy(model, tokenizer),
    }
    return model, tokenizer, record


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, n: int = 1000, seed: int = EVAL_SEED) -> float:
    """5-way zero-shot category accuracy on ``n`` held-out world images ("a photo of a …")."""
    stim = generate_stimuli(n, seed)
    prompts = [PROMPTS[0].format(CATEGORY_NOUNS[c]) for c in CATEGORIES]
    text = F.normalize(model.encode_text(tokenizer(prompts)), dim=-1)
    image = F.normalize(model.encode_image(to_tensor(stim.images[:])), dim=-1)
    return float(np.mean((image @ text.T).argmax(1).numpy() == stim.labels))


def save_world_clip(model, tokenizer: WordTokenizer, record: dict, path=CHECKPOINT) -> Path:
    """Write weights, vocabulary and training record into one safetensors file, atomically."""
    meta = {"vocabulary": json.dumps(tokenizer.vocabulary), "record": json.dumps(record),
            "config": json.dumps(CONFIG)}  # fmt: skip
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return write_atomically(path, lambda tmp: save_file(state, tmp, metadata=meta))
