"""Captions of what voxels and regions prefer (BrainSCUBA): an embedding bank, the projection
of encoder readouts onto it, a ClipCap-style captioner, dominant nouns and region captions.

Names are imported on first use, so that importing the bank does not load ``transformers``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "EmbeddingBank": "bank",
    "project_to_bank": "projection",
    "BEAMS": "captioner",
    "Captioner": "captioner",
    "language_model": "captioner",
    "train_captioner": "training",
    "COCO_NOUNS": "nouns",
    "dominant_noun": "nouns",
    "top_words": "nouns",
    "TAU": "brainscuba",
    "RegionCaption": "brainscuba",
    "caption_embeddings": "brainscuba",
    "caption_regions": "brainscuba",
    "projected_readouts": "brainscuba",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {k: f".{v}" for k, v in _EXPORTS.items()})
