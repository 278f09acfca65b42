"""The world's judge: which category an image shows, or "none" — trained apart from everything.

A result is only as credible as the model that judges it. Synthesized images are guided by an
encoder on world-clip features and the simulator's truth reads the category oracle, so neither
may judge them. The judge shares no weights, no architecture and no training stream with
world-clip (a vision transformer on seeds 3,000–4,000), the oracle (a plain CNN, seeds 1,000 and
2,000) or the diffusion prior (a UNet, seeds 5,000–7,000):

- a residual network with batch normalisation and max-pool downsampling;
- six classes, the five categories and ``"none"``, learnt from off-manifold images and heavily
  blurred world images (:mod:`brainenc.world.probes`) on streams of its own;
- trained on images blurred, noised, shifted and colour-jittered like diffusion samples, so a
  slightly soft face is still a face.

Its checkpoint ships with the package; :func:`brainenc.world.training.judge.train_judge`
rebuilds it (``brainenc world build --only judge``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.images import resize_square
from ._checkpoints import WEIGHTS_DIR, load_frozen
from .stimuli import CATEGORIES, IMAGE_SIZE

JUDGE_CLASSES = (*CATEGORIES, "none")
JUDGE_FILE = WEIGHTS_DIR / "judge.safetensors"


class _Block(nn.Module):
    def __init__(self, channels_in: int, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.skip = nn.Conv2d(channels_in, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.max_pool2d(F.relu(self.bn2(self.conv2(h)) + self.skip(x)), 2)


class WorldJudge(nn.Module):
    """A strided, max-pooled stem, two residual blocks and 6 logits (:data:`JUDGE_CLASSES`).

    Input (n, 3, H, W) in [0, 1], any size (resized to 64 × 64).
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.blocks = nn.Sequential(_Block(32, 48), _Block(48, 96))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(192, len(JUDGE_CLASSES)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = resize_square(images, IMAGE_SIZE)
        x = (x - 0.5) / 0.25
        h = self.blocks(self.stem(x))
        return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))

    @torch.no_grad()
    def classify(self, images: torch.Tensor, batch_size: int = 256) -> tuple[list[str], np.ndarray]:
        """Each image's class name and the class probabilities, array (n, 6)."""
        probs = torch.cat(
            [self(images[i : i + batch_size]).softmax(1) for i in range(0, len(images), batch_size)]
        ).cpu()
        return [JUDGE_CLASSES[k] for k in probs.argmax(1)], probs.numpy()


def load_judge(path: Path = JUDGE_FILE) -> WorldJudge:
    """The shipped judge (frozen, eval mode)."""
    return load_frozen(WorldJudge(), path, "the world's judge is missing")
