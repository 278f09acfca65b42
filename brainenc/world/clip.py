"""world-clip: a small CLIP trained on the in-silico world's images and captions.

The world's semantic backbone, built with open_clip exactly as real CLIPs are (an open_clip
``CLIP`` from a custom config: a ViT image tower and a causal text transformer, trained with the
symmetric contrastive loss), so everything downstream runs the code path a real OpenCLIP model
runs. Text is tokenised word by word over the captions' closed vocabulary, which keeps the token
embedding small. The checkpoint ships with the package;
:mod:`brainenc.world.training.clip` retrains it reproducibly (``brainenc world build``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file

from ..features.backbone import register_backbone
from ..features.openclip import OpenCLIPBackbone
from ._checkpoints import WEIGHTS_DIR, read_metadata
from .stimuli import IMAGE_SIZE

if TYPE_CHECKING:
    import open_clip

CHECKPOINT = WEIGHTS_DIR / "world_clip.safetensors"
SPEC = "world-clip"
PATCH = 16
"""Side in pixels of world-clip's patches."""
CATEGORY_NOUNS = {"face": "face", "body": "body", "place": "place", "word": "word", "food": "food"}
PROMPTS = ("a photo of a {}", "a {}", "an image of a {}")
"""Templates of the category prompts mixed into training texts and used for zero-shot tests."""

CONFIG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": IMAGE_SIZE, "patch_size": PATCH, "width": 128, "layers": 4,
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


def build_model(vocab_size: int, image_size: int = IMAGE_SIZE) -> open_clip.CLIP:
    """An untrained world-clip of the shipped architecture, for images of ``image_size``.

    It takes images in [0, 1] as they are (mean 0, std 1 in its preprocessing config).
    """
    import open_clip

    text_cfg = {**CONFIG["text_cfg"], "vocab_size": vocab_size}
    vision_cfg = {**CONFIG["vision_cfg"], "image_size": image_size}
    model = open_clip.CLIP(CONFIG["embed_dim"], vision_cfg, text_cfg)
    open_clip.set_model_preprocess_cfg(
        model, {"size": image_size, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    )
    return model


def load_world_clip(
    path=CHECKPOINT, *, image_size: int = IMAGE_SIZE
) -> tuple[open_clip.CLIP, WordTokenizer, dict]:
    """The shipped world-clip (eval mode), its tokenizer and its training record, read anew
    from ``path`` at every call.

    ``image_size`` other than the 64 pixels it was trained at gives the same weights over a
    finer or coarser grid of 16-pixel patches, the position embedding interpolated (as ViTs are
    run at other resolutions): at 128 pixels, an 8 × 8 grid of tokens, each object of a
    128-pixel composite seen at the scale world-clip was trained on.
    """
    path = Path(path)
    meta = read_metadata(path, "the world-clip checkpoint is missing")
    tokenizer = WordTokenizer(json.loads(meta["vocabulary"]), CONFIG["text_cfg"]["context_length"])
    if image_size < PATCH or image_size % PATCH:
        raise ValueError(f"world-clip's image size must be a multiple of {PATCH}; got {image_size}")
    model = build_model(tokenizer.vocab_size, image_size)
    state = load_file(str(path))
    if image_size != IMAGE_SIZE:
        from open_clip.model import resize_pos_embed

        resize_pos_embed(state, model)
    model.load_state_dict(state)
    return model.eval(), tokenizer, json.loads(meta["record"])


@register_backbone(SPEC)
def _build_world_clip(spec: str, *, normalize: bool = True, path=CHECKPOINT) -> OpenCLIPBackbone:
    """The ``world-clip`` backbone: the shipped checkpoint as an :class:`OpenCLIPBackbone`.

    ``world-clip:size=128`` runs it on 128-pixel images: 8 × 8 tokens instead of 4 × 4 (see
    :func:`load_world_clip`).
    """
    _, _, details = spec.partition(":")
    size = IMAGE_SIZE
    if details:
        key, _, value = details.partition("=")
        if key != "size" or not value.isdigit() or int(value) < PATCH or int(value) % PATCH:
            raise ValueError(
                f"world-clip takes one option, size=<pixels, a multiple of {PATCH}> (e.g. "
                f"world-clip:size=128); got spec {spec!r}"
            )
        size = int(value)
    model, tokenizer, _ = load_world_clip(path, image_size=size)
    return OpenCLIPBackbone(model, spec=spec, tokenizer=tokenizer,
                            normalize=normalize, weights_file=path)  # fmt: skip


def world_embeddings(images, *, progress: bool = False):
    """world-clip embeddings (unit norm, float32 (n, 128)) of world images."""
    from ..features import Backbone, extract_features

    return extract_features(Backbone.from_spec(SPEC), images, progress=progress)
