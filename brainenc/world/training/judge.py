"""Training the world's judge (:mod:`brainenc.world.judge`): six classes, the five categories and
"none", on its own streams, from images blurred, noised, shifted and colour-jittered like
diffusion samples."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...data.images import to_tensor
from ..judge import JUDGE_FILE, WorldJudge
from ..probes import off_manifold_images
from ..stimuli import CATEGORIES, generate_stimuli
from . import save_checkpoint

TRAIN_SEED = 11_000  # the judge's own stimulus and off-manifold streams
EVAL_SEED = 12_000
UNRECOGNISABLE_BLUR = 4.0  # world images blurred at least this much (px at 64 px) are "none"


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with one ``sigma`` (px) per image (0: unchanged)."""
    radius = int(3 * float(sigma.max()) + 1)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (3n, taps)
    n, c, h, w = images.shape
    x = F.pad(images.reshape(1, n * c, h, w), (radius,) * 4, mode="reflect")
    x = F.conv2d(x, k[:, None, None, :], groups=n * c)
    x = F.conv2d(x, k[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def _augment(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blur, noise, shift and colour jitter, as diffusion samples differ from renderings."""
    n = len(images)
    sigma = torch.rand(n, generator=g) * 1.5 * (torch.rand(n, generator=g) < 0.6)
    x = _blur(images, sigma)
    shift = torch.randint(-6, 7, (2,), generator=g).tolist()
    x = torch.roll(x, shifts=shift, dims=(2, 3))
    gain = 1 + 0.15 * torch.randn(n, 3, 1, 1, generator=g)
    bias = 0.05 * torch.randn(n, 1, 1, 1, generator=g)
    noise = torch.randn(x.shape, generator=g) * 0.06 * torch.rand(n, 1, 1, 1, generator=g)
    return (x * gain + bias + noise).clamp(0, 1)


def judge_batch(step: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``step`` of a judge stream: 3/4 world images (1 in 8 of them blurred past
    recognition, class "none"), 1/4 off-manifold images ("none")."""
    n_neg = batch_size // 4
    n_pos = batch_size - n_neg
    stim = generate_stimuli(n_pos, seed, start=step * n_pos)
    negatives, _ = off_manifold_images(n_neg, seed, start=step * n_neg)
    images = to_tensor(np.concatenate([stim.images[:], negatives]))
    labels = torch.cat([torch.from_numpy(stim.labels), torch.full((n_neg,), len(CATEGORIES))])
    rng = np.random.default_rng([seed, step])
    mush = torch.from_numpy(rng.random(batch_size) < 0.125) & (labels < len(CATEGORIES))
    sigma = torch.from_numpy(rng.uniform(UNRECOGNISABLE_BLUR, 8.0, batch_size)).float()
    images = torch.where(mush[:, None, None, None], _blur(images, sigma * mush), images)
    labels[mush] = len(CATEGORIES)
    return images, labels


def train_judge(
    *, steps: int = 1500, batch_size: int = 96, seed: int = 0, progress: bool = True
) -> tuple[WorldJudge, dict]:
    """Train the judge from scratch (deterministic given ``seed``; see the module docstring).

    Returns the model (in eval mode) and a record with its held-out accuracies.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = WorldJudge()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="judge", disable=not progress)
    for step in bar:
        images, labels = judge_batch(step, batch_size, TRAIN_SEED + seed)
        loss = F.cross_entropy(model(_augment(images, g)), labels, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    record = {"steps": steps, "batch_size": batch_size, "seed": seed,
              "train_seconds": round(time.perf_counter() - start, 1),
              **judge_accuracy(model)}  # fmt: skip
    return model, record


@torch.no_grad()
def judge_accuracy(model: WorldJudge, n: int = 1000) -> dict[str, float]:
    """Held-out accuracy: world images (plain, blurred σ = 1 px, noised SD 0.05) and
    off-manifold images (correct = ``"none"``)."""
    stim = generate_stimuli(n, EVAL_SEED)
    world = to_tensor(stim.images[:])
    negatives, _ = off_manifold_images(n, EVAL_SEED)
    g = torch.Generator().manual_seed(0)
    variants = {
        "world": world,
        "world_blurred": _blur(world, torch.ones(n)),
        "world_noised": (world + 0.05 * torch.randn(world.shape, generator=g)).clamp(0, 1),
    }
    out = {}
    for name, images in variants.items():
        labels, _ = model.classify(images)
        out[f"{name}_accuracy"] = float(np.mean(np.array(labels) == np.array(stim.categories)))
    labels, _ = model.classify(to_tensor(negatives))
    out["off_manifold_none"] = float(np.mean(np.array(labels) == "none"))
    return out


def save_judge(model: WorldJudge, record: dict, path: Path = JUDGE_FILE) -> Path:
    """Write the checkpoint (weights + training record as metadata) atomically."""
    return save_checkpoint(model, record, path)
