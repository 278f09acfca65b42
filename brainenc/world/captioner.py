"""The world's captioner: world-clip image embeddings → world captions.

A :class:`~brainenc.captions.Captioner` of the real architecture at a small size: a GPT-2 of
2 layers and width 128 (``transformers``' ``GPT2LMHeadModel`` from a config) with a word-level
fast tokenizer over the world captions' closed vocabulary (``tokenizers``' ``WordLevel``, saved
as ``tokenizer.json``, so it loads offline). :mod:`brainenc.world.training.captioner` trains
it (``brainenc world build --only captioner``); it ships in ``weights/captioner/``.

:data:`WORLD_NOUNS` names the category each head noun of a world caption belongs to: the
dominant noun of a caption (:func:`~brainenc.captions.dominant_noun`) says which category it
names.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._checkpoints import WEIGHTS_DIR

CAPTIONER_DIR = WEIGHTS_DIR / "captioner"
WORLD_NOUNS = {
    "face": "face",
    "person": "body",
    "room": "place",
    "street": "place",
    "house": "place",
    "word": "word",
    "plate": "food",
}
"""The head nouns of world captions and the category each names (``stimuli.caption``)."""
END_OF_TEXT = "<|endoftext|>"
UNKNOWN = "<unk>"
GPT2_CONFIG = {"n_positions": 48, "n_embd": 128, "n_layer": 2, "n_head": 4}


def world_tokenizer(words: Iterable[str]):
    """A word-level fast tokenizer over ``words`` (lower case; end-of-text and unknown tokens)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {END_OF_TEXT: 0, UNKNOWN: 1}
    for word in sorted(set(words)):
        vocabulary.setdefault(word, len(vocabulary))
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token=UNKNOWN))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=END_OF_TEXT,
                                   unk_token=UNKNOWN, pad_token=END_OF_TEXT)  # fmt: skip


def build_world_captioner(words: Iterable[str], embed_dim: int = 128, *, metadata=None):
    """An untrained world captioner over the vocabulary ``words``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from ..captions.captioner import Captioner

    tokenizer = world_tokenizer(words)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **GPT2_CONFIG)  # fmt: skip
    return Captioner(GPT2LMHeadModel(config), tokenizer, embed_dim, metadata=metadata)


def load_world_captioner(directory=CAPTIONER_DIR, *, device: str = "cpu"):
    """The shipped world captioner (eval mode)."""
    from ..captions.captioner import Captioner

    if not (directory / "captioner.json").is_file():
        raise FileNotFoundError(
            f"the world captioner is missing ({directory}); rebuild it with "
            "`brainenc world build --only captioner`"
        )
    return Captioner.load(directory, device=device)


BANK_SEED = 19_000
BANK_IMAGES = 20_000


def world_bank(n_images: int = BANK_IMAGES, *, seed: int = BANK_SEED, progress: bool = False):
    """An :class:`~brainenc.captions.EmbeddingBank` of world-clip embeddings of ``n_images``
    natural world images of their own stream (docs/world.md, "Seed streams")."""
    from ..captions.bank import EmbeddingBank
    from .clip import SPEC, world_embeddings
    from .stimuli import generate_stimuli

    images = generate_stimuli(n_images, seed, progress=progress).images
    return EmbeddingBank.from_features(
        world_embeddings(images, progress=progress),
        meta={"backbone": SPEC, "image_set": f"{n_images} world images (stream {seed})"},
    )
