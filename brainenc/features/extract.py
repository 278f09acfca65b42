"""Batched feature extraction from an image set with a :class:`Backbone`.

Speed: batches run under ``torch.inference_mode``; on CUDA inputs are channels-last and the
forward pass runs under autocast (bfloat16 where supported, else float16); ``num_workers``
decodes image batches in DataLoader worker processes (worth it for image files, not for arrays).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.images import ArrayImages, ImageSet
from ..validation import check_indices
from .backbone import FEATURE_TYPES, Backbone


def extract_features(
    backbone: Backbone,
    images: ImageSet | np.ndarray,
    indices: np.ndarray | None = None,
    *,
    feature_type: str = "embed",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    amp: bool = True,
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
    feature_type : {"embed", "tokens"}
        Pooled embeddings or token grids.
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        Where the backbone runs.
    num_workers : int
        DataLoader worker processes that load (decode) image batches; 0 loads them in this
        process.
    amp : bool
        On CUDA, run under autocast (bfloat16 where supported, else float16). Ignored on CPU.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    array of float32
        Shape ``(n, embed_dim)`` for ``feature_type="embed"``, ``(n, n_tokens, dim)`` for
        ``feature_type="tokens"``; row ``i`` belongs to image ``indices[i]``.
    """
    _check_args(feature_type, batch_size, num_workers)
    images = _as_image_set(images)
    n_images = len(images)
    indices = (
        np.arange(n_images) if indices is None else check_indices(indices, n_images, "indices")
    )
    with _running(backbone, device, amp):
        if not len(indices):  # still give the trailing shape
            side = backbone.input_size
            blank = torch.zeros(1, 3, side, side, device=device)
            return np.zeros(
                (0, *getattr(backbone, feature_type)(blank).shape[1:]), dtype=np.float32
            )
        out = None
        start = 0
        bar = tqdm(
            total=len(indices), unit="img", desc=f"features ({backbone.spec})", disable=not progress
        )
        with bar:
            batches = _feature_batches(
                backbone, images, indices, feature_type, batch_size, device, num_workers
            )
            for _, feats in batches:
                if out is None:
                    out = np.empty((len(indices), *feats.shape[1:]), dtype=np.float32)
                out[start : start + len(feats)] = feats
                start += len(feats)
                bar.update(len(feats))
    return out


def _check_args(feature_type: str, batch_size: int, num_workers: int) -> None:
    if feature_type not in FEATURE_TYPES:
        raise ValueError(
            f"feature_type must be one of {', '.join(map(repr, FEATURE_TYPES))}; "
            f"got {feature_type!r}"
        )
    for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            qualifier = "positive" if low else "non-negative"
            raise ValueError(f"{name} must be a {qualifier} integer; got {value!r}")


def _as_image_set(images: ImageSet | np.ndarray) -> ImageSet:
    if isinstance(images, np.ndarray):
        return ArrayImages(images)
    if not isinstance(images, ImageSet):
        raise TypeError(
            f"images must be an ImageSet or a uint8 array (n, H, W, 3); got {type(images).__name__}"
        )
    return images


@contextlib.contextmanager
def _running(backbone: Backbone, device: str | torch.device, amp: bool) -> Iterator[None]:
    """Backbone on ``device`` in eval mode, inference mode and (CUDA + ``amp``) autocast."""
    device = torch.device(device)
    was_training = backbone.training
    backbone.to(device).eval()
    autocast = contextlib.nullcontext()
    if device.type == "cuda" and amp:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        autocast = torch.autocast("cuda", dtype=dtype)
    try:
        with torch.inference_mode(), autocast:
            yield
    finally:
        backbone.train(was_training)


def _feature_batches(
    backbone: Backbone,
    images: ImageSet,
    indices: np.ndarray,
    feature_type: str,
    batch_size: int,
    device: str | torch.device,
    num_workers: int,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(batch indices, float32 features)``; run inside :func:`_running`."""
    device = torch.device(device)
    run = getattr(backbone, feature_type)
    batches = _ImageBatches(images, indices, batch_size)
    if num_workers:
        batches = torch.utils.data.DataLoader(
            batches,
            batch_size=None,
            num_workers=num_workers,
            collate_fn=_unchanged,
            worker_init_fn=_own_image_set,
            pin_memory=device.type == "cuda",
        )
    for chunk, pixels in batches:
        x = pixels.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        yield chunk, run(x).float().cpu().numpy()


class _ImageBatches(torch.utils.data.Dataset):
    """Batch ``i`` of ``indices``: ``(batch indices, uint8 tensor (n, H, W, 3))``."""

    def __init__(self, images: ImageSet, indices: np.ndarray, batch_size: int):
        self.images = images
        self.indices = np.asarray(indices)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range for {len(self)} batches")
        chunk = self.indices[i * self.batch_size : (i + 1) * self.batch_size]
        return chunk, torch.from_numpy(np.ascontiguousarray(self.images[chunk]))


def _own_image_set(worker_id: int) -> None:
    """Give a DataLoader worker its own copy of the image set: copying goes through
    ``__getstate__``, which drops handles inherited from the parent (e.g. an open HDF5 file)."""
    dataset = torch.utils.data.get_worker_info().dataset
    dataset.images = copy.copy(dataset.images)


def _unchanged(batch):
    """DataLoader collate_fn that keeps a batch as the dataset made it (a picklable function)."""
    return batch
