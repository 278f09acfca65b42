"""Training world-vit (:mod:`brainenc.world.vit`): every patch names the category under it.

The images are composites (two or three objects at recorded boxes) and single world images
shown at world-vit's 128 pixels; a patch's label is the category of the object whose box holds
its centre, else background, and a single image's patches all carry its category.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...data.images import resize_square, to_tensor
from ..stimuli import composite_boxes, generate_composites, generate_stimuli
from ..vit import CHECKPOINT, CONFIG, TOKEN_CLASSES, WorldViT, patch_labels
from . import save_checkpoint

TRAIN_SEED, EVAL_SEED = 20_000, 20_500
"""Streams of the training and held-out images (composites and single images alike)."""


def _images_and_labels(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` composites then ``n // 2`` single images of stream ``seed``, at 128 pixels, with
    their patch labels."""
    size, side = CONFIG["image_size"], CONFIG["image_size"] // CONFIG["patch"]
    composites = generate_composites(n, seed)
    boxes, box_labels = composite_boxes(composites)
    singles = generate_stimuli(n // 2, seed)
    images = torch.cat([to_tensor(composites.images[:]),
                        resize_square(to_tensor(singles.images[:]), size)])  # fmt: skip
    labels = np.concatenate([patch_labels(boxes, box_labels, size, side),
                             np.repeat(singles.labels[:, None] + 1, side * side, 1)])  # fmt: skip
    return images, torch.as_tensor(labels)


def train_world_vit(*, steps: int = 1500, batch_size: int = 64, n_images: int = 6000,
                    lr: float = 1e-3, seed: int = 0,
                    progress: bool = True) -> tuple[WorldViT, dict]:  # fmt: skip
    """Train world-vit from scratch (deterministic given ``seed``).

    Returns the model (eval mode) and a training record with the held-out patch accuracy per
    class (composites and single images of another stream).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images, labels = _images_and_labels(n_images, TRAIN_SEED + seed)
    model = WorldViT(**CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    side = CONFIG["image_size"] // CONFIG["patch"]
    bar = tqdm(range(steps), desc="world-vit", disable=not progress)
    for _ in bar:
        idx = torch.as_tensor(rng.choice(len(images), batch_size, replace=False))
        batch = images[idx]
        flip = torch.as_tensor(rng.random(batch_size) < 0.5)  # mirror images and their labels
        target = labels[idx].view(batch_size, side, side)
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        target = torch.where(flip[:, None, None], target.flip(-1), target)
        loss = F.cross_entropy(model.head(model(batch)).flatten(0, 1), target.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    record = {"steps": steps, "batch_size": batch_size, "n_images": n_images, "lr": lr,
              "seed": seed, "train_seconds": round(time.perf_counter() - start, 1),
              **patch_accuracy(model)}  # fmt: skip
    return model, record


@torch.no_grad()
def patch_accuracy(model: WorldViT, n: int = 500) -> dict[str, float]:
    """Held-out share of patches whose class is named right, overall and per class."""
    images, labels = _images_and_labels(n, EVAL_SEED)
    predicted = torch.cat([model.head(model(images[i : i + 250])).argmax(-1)
                           for i in range(0, len(images), 250)])  # fmt: skip
    right = predicted == labels
    out = {"patch_accuracy": float(right.float().mean())}
    for k, name in enumerate(TOKEN_CLASSES):
        out[f"patch_accuracy_{name}"] = float(right[labels == k].float().mean())
    return out


def save_world_vit(model: WorldViT, record: dict, path: Path = CHECKPOINT) -> Path:
    """Write the checkpoint (weights + training record as metadata) atomically."""
    return save_checkpoint(model, record, path)
