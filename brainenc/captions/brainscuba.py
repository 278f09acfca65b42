"""BrainSCUBA: a caption for every voxel and region from its encoder's readout.

After Luo, Henderson, Tarr & Wehbe, "BrainSCUBA: Fine-grained natural language captions of
visual cortex selectivity" (ICLR 2024). A target's readout vector over a backbone's image
embeddings (:meth:`Encoder.feature_weights <brainenc.encoders.Encoder.feature_weights>`) is
projected onto the embeddings of natural images (:func:`~brainenc.captions.project_to_bank`,
softmax over cosine similarity at temperature ``tau``), which keeps it on the manifold a
captioner was trained on, and the captioner (:class:`~brainenc.captions.Captioner`) decodes it.

A region's caption decodes the mean of its targets' projected embeddings; its top words count
the words of its targets' own captions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .bank import EmbeddingBank
from .captioner import BEAMS, Captioner
from .nouns import dominant_noun, top_words
from .projection import project_to_bank

TAU = 150.0
"""BrainSCUBA's softmax temperature over cosine similarities."""


@dataclass
class RegionCaption:
    """A region's caption, its dominant noun's label and the top words of its targets' captions."""

    region: str
    caption: str
    noun: str | None
    n_targets: int
    top_words: list = field(default_factory=list)
    noun_shares: dict = field(default_factory=dict)
    """Label → share of the region's targets whose caption's dominant noun has that label."""


def projected_readouts(encoder, bank: EmbeddingBank, *, targets=None, tau: float = TAU,
                       device: str = "cpu", progress: bool = False) -> np.ndarray:  # fmt: skip
    """Each target's readout projected onto the bank, (n_targets, width); NaN rows for targets
    without a readout (ignored at fit, or all-zero weights).

    Parameters
    ----------
    encoder : Encoder
        Fitted, on the features of the backbone whose embeddings fill ``bank``.
    bank : EmbeddingBank
    targets : int array or bool mask, optional
        Only these targets (all by default), in this order.
    tau : float
    device : str
    progress : bool
    """
    weights = encoder.feature_weights()
    if targets is not None:
        targets = np.asarray(targets)
        weights = weights[np.flatnonzero(targets) if targets.dtype == bool else targets]
    if weights.shape[1] != bank.width:
        raise ValueError(
            f"the encoder reads {weights.shape[1]} features but the bank holds embeddings of "
            f"width {bank.width}; build the bank with the encoder's backbone"
        )
    usable = np.isfinite(weights).all(1) & (np.abs(weights).sum(1) > 0)
    out = np.full(weights.shape, np.nan, np.float32)
    if usable.any():
        out[usable] = project_to_bank(weights[usable], bank, tau=tau, device=device,
                                      progress=progress)  # fmt: skip
    return out


def caption_embeddings(captioner: Captioner, embeddings, *, beams: int = BEAMS,
                       progress: bool = False) -> list[str | None]:  # fmt: skip
    """Captions of embeddings (n, width); ``None`` for NaN rows."""
    from tqdm.auto import tqdm

    embeddings = np.asarray(embeddings, np.float32)
    finite = np.flatnonzero(np.isfinite(embeddings).all(1))
    out: list[str | None] = [None] * len(embeddings)
    step = 256
    for start in tqdm(range(0, len(finite), step), desc="captions", unit="batch",
                      disable=not progress):  # fmt: skip
        rows = finite[start : start + step]
        for row, text in zip(rows, captioner.caption(embeddings[rows], beams=beams), strict=True):
            out[row] = text
    return out


def caption_regions(
    encoder,
    bank: EmbeddingBank,
    captioner: Captioner,
    regions: Mapping[str, np.ndarray],
    *,
    lexicon: Mapping[str, str] | None = None,
    tau: float = TAU,
    beams: int = BEAMS,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[dict[str, RegionCaption], dict[str, list[str | None]]]:
    """A caption per region, and the captions of the regions' targets.

    Parameters
    ----------
    encoder, bank, captioner
        See :func:`projected_readouts` and :class:`~brainenc.captions.Captioner`.
    regions : mapping of str to bool array of shape (n_targets,)
        The targets of each region.
    lexicon : mapping of str to str, optional
        Noun → label for dominant nouns (:func:`~brainenc.captions.dominant_noun`); without
        one, ``noun`` is None and ``noun_shares`` empty.

    Returns
    -------
    regions : dict of str to RegionCaption
    target_captions : dict of str to list
        Each region's targets' captions, in target order (``None`` for unusable targets).
    """
    out, per_target = {}, {}
    for name, mask in regions.items():
        mask = np.asarray(mask, bool)
        projected = projected_readouts(encoder, bank, targets=mask, tau=tau, device=device)
        finite = np.isfinite(projected).all(1)
        if not finite.any():
            raise ValueError(f"region {name!r} has no target with a usable readout")
        directions = projected[finite] / np.linalg.norm(projected[finite], axis=1, keepdims=True)
        mean = directions.mean(0)
        mean *= np.linalg.norm(projected[finite], axis=1).mean() / np.linalg.norm(mean)
        caption = captioner.caption(mean[None], beams=beams)[0]
        captions = caption_embeddings(captioner, projected, beams=beams, progress=progress)
        per_target[name] = captions
        done = [c for c in captions if c is not None]
        shares = {}
        if lexicon is not None:
            labels = [dominant_noun(c, lexicon) for c in done]
            shares = {lab: labels.count(lab) / len(labels)
                      for lab in sorted({lab for lab in labels if lab is not None})}  # fmt: skip
        out[name] = RegionCaption(
            name, caption, dominant_noun(caption, lexicon) if lexicon else None,
            int(finite.sum()), top_words(done), shares,
        )  # fmt: skip
    return out, per_target
