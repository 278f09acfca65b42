"""The world's category oracle: a small CNN trained on the generator's own labels.

Simulated category-selective regions read their category signal from this network. It is part
of the simulator's ground truth, not of any encoder: no backbone shares its weights or its
architecture. Its checkpoint ships with the package; :func:`train_oracle` rebuilds it exactly
(``brainenc world build``).
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...files import write_atomically
from ..images import resize_square, to_tensor
from .stimuli import CATEGORIES, IMAGE_SIZE, generate_stimuli

WEIGHTS_DIR = Path(__file__).parent / "weights"
ORACLE_FILE = WEIGHTS_DIR / "oracle.safetensors"
TRAIN_SEED = 1_000  # stimulus stream of the oracle's training images
EVAL_SEED = 2_000  # held-out stream for its accuracy


class CategoryOracle(nn.Module):
    """Four conv layers, global average pooling, 5 category logits; input (n, 3, H, W) in [0, 1].

    Any image size is resized to 64 × 64. Global pooling makes it position-tolerant.
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 24, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(24, 48, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, len(CATEGORIES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.features(resize_square(images, IMAGE_SIZE) * 2.0 - 1.0)
        return self.head(h.mean(dim=(2, 3)))


def train_oracle(
    *, steps: int = 600, batch_size: int = 128, seed: int = 0, progress: bool = True
) -> tuple[CategoryOracle, dict]:
    """Train the oracle from scratch on fresh generator images (deterministic given ``seed``).

    Returns the model (in eval mode) and a record with its held-out accuracy.
    """
    torch.manual_seed(seed)
    model = CategoryOracle()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="oracle", disable=not progress)
    for step in bar:
        stim = generate_stimuli(batch_size, TRAIN_SEED + seed, start=step * batch_size)
        loss = F.cross_entropy(model(to_tensor(stim.images[:])), torch.from_numpy(stim.labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    record = {
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "train_seconds": round(time.perf_counter() - start, 1),
        "heldout_accuracy": oracle_accuracy(model),
    }
    return model, record


@torch.no_grad()
def oracle_accuracy(model: CategoryOracle, n: int = 1000) -> float:
    """5-way accuracy on ``n`` held-out generator images."""
    stim = generate_stimuli(n, EVAL_SEED)
    pred = model(to_tensor(stim.images[:])).argmax(1).numpy()
    return float(np.mean(pred == stim.labels))


def save_oracle(model: CategoryOracle, record: dict, path: Path = ORACLE_FILE) -> Path:
    """Write the checkpoint (weights + training record as metadata) atomically."""
    meta = {"record": json.dumps(record)}
    return write_atomically(path, lambda tmp: save_file(model.state_dict(), tmp, metadata=meta))


@lru_cache(maxsize=1)
def load_oracle(path: Path = ORACLE_FILE) -> CategoryOracle:
    """The shipped oracle (frozen, eval mode)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"the world's category oracle is missing ({path}); rebuild it with `brainenc world "
            "build` (about a minute on a CPU)"
        )
    model = CategoryOracle()
    model.load_state_dict(load_file(path))
    model.eval().requires_grad_(False)
    return model
