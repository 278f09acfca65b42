"""The world's category oracle: a small CNN that says how much of each category an image holds.

Simulated category-selective regions read their category signal from this network. It is part
of the simulator's ground truth, not of any encoder: no backbone shares its weights or its
architecture. Its checkpoint ships with the package; :mod:`brainenc.world.training.oracle`
rebuilds it exactly (``brainenc world build --only oracle``) and says how it is trained to be
hard to fool.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data.images import resize_square
from ._checkpoints import WEIGHTS_DIR, load_frozen
from .stimuli import CATEGORIES, IMAGE_SIZE

ORACLE_FILE = WEIGHTS_DIR / "oracle.safetensors"


class CategoryOracle(nn.Module):
    """Four conv layers, global average pooling, 5 category logits; input (n, 3, H, W) in [0, 1].

    Any image size is resized to 64 × 64. Global pooling makes it position-tolerant.
    :meth:`evidence` is what the simulated regions read.
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

    def evidence(self, images: torch.Tensor) -> torch.Tensor:
        """Per-category evidence in [0, 1], (n, 5): near 1 when the image holds the category."""
        return torch.sigmoid(self(images))


def load_oracle(path: Path = ORACLE_FILE) -> CategoryOracle:
    """The shipped oracle (frozen, eval mode)."""
    return load_frozen(CategoryOracle(), path, "the world's category oracle is missing")
