"""Batched feature extraction from an image set with a :class:`Backbone`."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.images import ArrayImages, ImageSet, to_tensor
from ..validation import check_indices
from .backbone import Backbone

_KINDS = ("embed", "tokens")


def extract_features(
    backbone: Backbone,
    images: ImageSet | np.ndarray,
    indices: np.ndarray | None = None,
    *,
    kind: str = "embed",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Run a backbone over images in batches, without gradients.

    Parameters
    ----------
    backbone : Backbone
        The feature extractor. It is moved to ``device`` (in place, as ``Module.to`` does) and
        run in eval mode; its train/eval mode is restored afterwards.
    images : ImageSet or uint8 array of shape (n_images, H, W, 3)
        The images.
    indices : array of int of shape (n,), optional
        Which images to extract, in this order (no repeats); all images when omitted.
    kind : {"embed", "tokens"}
        Pooled embeddings or token grids.
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        Where the backbone runs.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    array of float32
        Shape ``(n, embed_dim)`` for ``kind="embed"``, ``(n, n_tokens, dim)`` for
        ``kind="tokens"``; row ``i`` belongs to image ``indices[i]``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}; got {kind!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if isinstance(images, np.ndarray):
        images = ArrayImages(images)
    elif not isinstance(images, ImageSet):
        raise TypeError(
            f"images must be an ImageSet or a uint8 array (n, H, W, 3); got {type(images).__name__}"
        )
    n_images = len(images)
    indices = (
        np.arange(n_images) if indices is None else check_indices(indices, n_images, "indices")
    )
    run = getattr(backbone, kind)
    was_training = backbone.training
    backbone.to(device).eval()
    try:
        with torch.inference_mode():
            if not len(indices):  # still give the trailing shape
                side = backbone.input_size
                blank = torch.zeros(1, 3, side, side, device=device)
                return np.zeros((0, *run(blank).shape[1:]), dtype=np.float32)
            out = None
            with tqdm(
                total=len(indices), unit="img", desc=backbone.spec, disable=not progress
            ) as bar:
                start = 0
                for _, batch in images.batches(indices, batch_size):
                    feats = run(to_tensor(batch).to(device)).float().cpu().numpy()
                    if out is None:
                        out = np.empty((len(indices), *feats.shape[1:]), dtype=np.float32)
                    out[start : start + len(feats)] = feats
                    start += len(feats)
                    bar.update(len(feats))
        return out
    finally:
        backbone.train(was_training)
