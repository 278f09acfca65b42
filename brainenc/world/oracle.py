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
from ._checkpoints import WEIGHTS_DIR, load_frozen, read_record
from .stimuli import CATEGORIES, IMAGE_SIZE

ORACLE_FILE = WEIGHTS_DIR / "oracle.safetensors"
WINDOW_STRIDE = IMAGE_SIZE
"""Stride of the oracle's 64-pixel windows over an image larger than a world image (tiles)."""


class CategoryOracle(nn.Module):
    """Four conv layers, global average pooling, 5 category logits; input (n, 3, H, W) in [0, 1].

    Its field of view is a 64 × 64 world image (:data:`FIELD`); global pooling makes it
    position-tolerant within it. :meth:`evidence` is what the simulated regions read.

    Parameters
    ----------
    hidden : int
        0 (shipped): the logits are a linear read-out of the pooled features, so the evidence
        of an object's parts adds up. Otherwise a read-out with one hidden layer of this width,
        which can require parts together.
    """

    def __init__(self, hidden: int = 0):
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
        n = len(CATEGORIES)
        self.head = (nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, n))
                     if hidden else nn.Linear(64, n))  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.features(resize_square(images, IMAGE_SIZE) * 2.0 - 1.0)
        return self.head(h.mean(dim=(2, 3)))

    def evidence(self, images: torch.Tensor) -> torch.Tensor:
        """Per-category evidence in [0, 1], (n, 5): near 1 when the image holds the category.

        An image of at most 64 pixels a side is resized to 64 × 64 and seen whole. A larger one
        (a composite scene) is seen at its own resolution: resized to a multiple of 64 pixels
        and cut into 64 × 64 tiles, its evidence for each category is the largest over the
        tiles, so an object in any tile counts, as it does in the category regions' large
        receptive fields. Tiles match the slots of the world's composites: windows straddling
        two slots would show half-objects, which the oracle never learnt and which would give
        spurious word and body evidence. An object that straddles tiles is seen in halves and
        gets little evidence: larger images are read as grids of world images. World images
        (64 × 64) get exactly the evidence of the whole image.
        """
        side = max(images.shape[-2:])
        if side <= IMAGE_SIZE:
            return torch.sigmoid(self(images))
        size = max(IMAGE_SIZE, WINDOW_STRIDE * round(side / WINDOW_STRIDE))
        images = resize_square(images, size)
        starts = range(0, size - IMAGE_SIZE + 1, WINDOW_STRIDE)
        windows = torch.stack([images[:, :, y : y + IMAGE_SIZE, x : x + IMAGE_SIZE]
                               for y in starts for x in starts], 1)  # fmt: skip
        evidence = torch.sigmoid(self(windows.flatten(0, 1)))
        return evidence.view(len(images), -1, evidence.shape[-1]).amax(1)


def load_oracle(path: Path = ORACLE_FILE) -> CategoryOracle:
    """The oracle at ``path``, the shipped one by default (frozen, eval mode); its read-out
    width comes from the checkpoint's training record."""
    missing = "the world's category oracle is missing"
    hidden = read_record(path, missing).get("hidden", 0)
    return load_frozen(CategoryOracle(hidden), path, missing)
