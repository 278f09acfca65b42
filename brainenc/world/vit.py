"""world-vit: the world's second vision transformer, whose patch tokens say what lies under them.

world-clip is trained only through its pooled embedding, so its 4 × 4 patch tokens mix the whole
image: a linear probe names the category under a token for about a third of face tokens and a
sixth of body tokens of composites. Attention routing needs tokens that keep what is where, as
the self-supervised ViTs it is run on with real data do (DINOv2 in Adeli et al.). world-vit is a
plain pre-norm ViT on 128-pixel images (8 × 8 patches of 16 pixels) trained to name, at every
patch, the category of the object under it, or background, on composites and single world images
(:mod:`brainenc.world.training.vit`). It never sees a brain response.

``Backbone.from_spec("world-vit")`` gives its last-layer patch tokens (``tokens``, 64 × 128) and
their mean (``embed``). The checkpoint ships with the package; ``brainenc world build --only
world-vit`` retrains it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..features.backbone import Backbone, register_backbone, token_grid_side
from ._checkpoints import WEIGHTS_DIR, load_frozen, read_record
from .stimuli import CATEGORIES, COMPOSITE_SIZE

SPEC = "world-vit"
CHECKPOINT = WEIGHTS_DIR / "world_vit.safetensors"
TOKEN_CLASSES = ("background", *CATEGORIES)
"""What each patch is trained to name."""
CONFIG = {"image_size": COMPOSITE_SIZE, "patch": 16, "width": 128, "layers": 4, "heads": 4}


def patch_labels(boxes: np.ndarray, box_labels: np.ndarray, size: int, side: int) -> np.ndarray:
    """Index into :data:`TOKEN_CLASSES` of each of ``side × side`` patches of ``size``-pixel
    images, row-major: the category whose box (``[x0, y0, x1, y1]``) holds the patch centre.

    ``boxes`` (n, k, 4) and ``box_labels`` (n, k) (category indices, -1 for no object) give
    (n, side * side).
    """
    centres = (np.arange(side) + 0.5) * size / side
    labels = np.zeros((len(boxes), side, side), np.int64)
    for k in range(boxes.shape[1]):
        box, label = boxes[:, k], box_labels[:, k]
        inside_x = (centres >= box[:, :1]) & (centres < box[:, 2:3])
        inside_y = (centres >= box[:, 1:2]) & (centres < box[:, 3:4])
        inside = inside_y[:, :, None] & inside_x[:, None, :] & (label >= 0)[:, None, None]
        labels[inside] = np.broadcast_to(label[:, None, None] + 1, inside.shape)[inside]
    return labels.reshape(len(boxes), -1)


class WorldViT(nn.Module):
    """Patch embedding, learnt positions, ``layers`` pre-norm transformer layers, a final
    LayerNorm, and a per-patch linear head over :data:`TOKEN_CLASSES` (used in training).

    Input (n, 3, image_size, image_size) in [0, 1]; :meth:`forward` returns the patch tokens
    (n, (image_size // patch) ** 2, width), row-major.
    """

    def __init__(self, image_size: int = 128, patch: int = 16, width: int = 128, layers: int = 4,
                 heads: int = 4):  # fmt: skip
        super().__init__()
        self.patch = nn.Conv2d(3, width, patch, stride=patch)
        self.position = nn.Parameter(0.02 * torch.randn((image_size // patch) ** 2, width))
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(TOKEN_CLASSES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch(2 * images - 1).flatten(2).transpose(1, 2) + self.position
        return self.norm(self.blocks(x))


class WorldViTBackbone(Backbone):
    """world-vit as a :class:`~brainenc.features.Backbone`: ``tokens`` are its patch tokens,
    ``embed`` their mean. Images of any size are resized to 128 pixels."""

    frozen = ("model",)

    def __init__(self, model: WorldViT, *, spec: str = SPEC, weights_file=None):
        width = model.norm.normalized_shape[0]
        side = token_grid_side(model.position.shape[0]) * model.patch.stride[0]
        super().__init__(spec, width, side, weights_file=weights_file)
        self.model = model.requires_grad_(False).eval()

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens, ``(n, 3, H, W)`` in [0, 1] -> ``(n, 64, 128)``, row-major."""
        return self.model(self.preprocess(images))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The mean patch token, ``(n, 3, H, W)`` in [0, 1] -> ``(n, 128)``."""
        return self.tokens(images).mean(1)


def load_world_vit(path=CHECKPOINT) -> tuple[WorldViT, dict]:
    """The shipped world-vit (frozen, eval mode) and its training record."""
    model = load_frozen(WorldViT(**CONFIG), path, "the world-vit checkpoint is missing")
    return model, read_record(path, "the world-vit checkpoint is missing")


@register_backbone(SPEC)
def _build_world_vit(spec: str, *, path=CHECKPOINT) -> WorldViTBackbone:
    """The ``world-vit`` backbone (it takes no options)."""
    if spec != SPEC:
        raise ValueError(f"world-vit takes no options; got spec {spec!r}")
    model, _ = load_world_vit(path)
    return WorldViTBackbone(model, spec=spec, weights_file=path)
