"""world-clip: a small CLIP trained on the in-silico world's images and captions.

The world's semantic backbone, built with open_clip exactly as real CLIPs are (an open_clip
``CLIP`` from a custom config: a ViT image tower and a causal text transformer, trained with the
symmetric contrastive loss), so everything downstream runs the code path a real OpenCLIP model
runs. Text is tokenised word by word over the captions' closed vocabulary, which keeps the token
embedding small. ``brainenc world build`` retrains it reproducibly; the checkpoint ships with the
package.
"""

from __future__ import annotations

import copy
import json
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data.images import to_tensor
from ..features.backbone import register_backbone
from ..features.openclip import OpenCLIPBackbone
from ..files import write_atomically
from .stimuli import CATEGORIES, IMAGE_SIZE, generate_stimuli

if TYPE_CHECKING:
    import open_clip

CHECKPOINT = Path(__file__).parent / "weights" / "world_clip.safetensors"
SPEC = "world-clip"
# stimulus streams (the oracle and the subjects use others)
TRAIN_SEED, VALID_SEED, EVAL_SEED = 3_000, 3_500, 4_000
CATEGORY_NOUNS = {"face": "face", "body": "body", "place": "place", "word": "word", "food": "food"}
PROMPTS = ("a photo of a {}", "a {}", "an image of a {}")
"""Templates of the category prompts mixed into training texts and used for zero-shot tests."""

CONFIG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": IMAGE_SIZE, "patch_size": 16, "width": 128, "layers": 4,
                   "head_width": 32},
    "text_cfg": {"context_length": 20, "width": 128, "heads": 4, "layers": 3},
}  # fmt: skip


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary, in open_clip's layout.

    Ids: 0 pad, 1 start, 2 unknown, then the words, and end-of-text last, so open_clip's default
    ``argmax`` text pooling lands on the end token. Returns a ``(n, context_length)`` LongTensor.
    """

    def __init__(self, vocabulary: list[str], context_length: int):
        self.vocabulary = list(vocabulary)
        self.context_length = context_length
        self._ids = {w: i + 3 for i, w in enumerate(self.vocabulary)}
        self.vocab_size = len(self.vocabulary) + 4
        self.eot = self.vocab_size - 1

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z]+", text.lower())

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [1, *(self._ids.get(w, 2) for w in self.words(text))]
            ids = [*ids[: self.context_length - 1], self.eot]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


def build_model(vocab_size: int) -> open_clip.CLIP:
    """An untrained world-clip of the shipped architecture.

    It takes images in [0, 1] as they are (mean 0, std 1 in its preprocessing config).
    """
    import open_clip

    text_cfg = {**CONFIG["text_cfg"], "vocab_size": vocab_size}
    model = open_clip.CLIP(CONFIG["embed_dim"], CONFIG["vision_cfg"], text_cfg)
    open_clip.set_model_preprocess_cfg(
        model, {"size": IMAGE_SIZE, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    )
    return model


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


@lru_cache(maxsize=1)
def load_world_clip(path=CHECKPOINT) -> tuple[open_clip.CLIP, WordTokenizer, dict]:
    """The shipped world-clip (eval mode), its tokenizer and its training record."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"the world-clip checkpoint is missing ({path}); rebuild it with `brainenc world build`"
        )
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tokenizer = WordTokenizer(json.loads(meta["vocabulary"]), CONFIG["text_cfg"]["context_length"])
    model = build_model(tokenizer.vocab_size)
    model.load_state_dict(load_file(str(path)))
    return model.eval(), tokenizer, json.loads(meta["record"])


@register_backbone(SPEC)
def _build_world_clip(spec: str, *, normalize: bool = True, path=CHECKPOINT) -> OpenCLIPBackbone:
    """The ``world-clip`` backbone: the shipped checkpoint as an :class:`OpenCLIPBackbone`."""
    if spec != SPEC:
        raise ValueError(f"world-clip takes no options; got spec {spec!r}")
    model, tokenizer, _ = load_world_clip(Path(path))
    return OpenCLIPBackbone(copy.deepcopy(model), spec=SPEC, tokenizer=tokenizer,
                            normalize=normalize, weights_file=path)  # fmt: skip
