"""Attention figures: where an attention-routing encoder's regions look, over the images."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from ..features.backbone import spread_over_patches
from .figure import save_atomically

DARKEST = 0.15
"""Brightness of the image where a region looks least (where it looks most: full brightness)."""


def upsample_attention(attention, size: tuple[int, int]) -> np.ndarray:
    """Attention over a square token grid, (n, n_tokens) row-major, as maps of ``size`` (H, W).

    The numpy face of :func:`~brainenc.features.backbone.spread_over_patches`: each token's
    weight is spread evenly over its patch, and each map sums to 1.
    """
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 2:
        raise ValueError(
            f"attention must have shape (n_images, n_tokens) over a square token grid; got "
            f"{attention.shape}"
        )
    return spread_over_patches(torch.as_tensor(attention), size).numpy()


def plot_attention(images, attention: Mapping[str, np.ndarray], *, title: str | None = None,
                   out: str | os.PathLike | None = None, dpi: int = 100) -> Figure:  # fmt: skip
    """One row per image: the image, then the image lit by each region's attention.

    Parameters
    ----------
    images : uint8 array of shape (n, H, W, 3)
    attention : dict of str to array of shape (n, n_tokens)
        Per region (column title), its attention over each image's square token grid
        (e.g. :meth:`RoutingEncoder.attention` with the region's mask).
    title : str, optional
    out : path, optional
        Where to save the figure (atomically); the format comes from the suffix.

    Returns
    -------
    Figure
        Each region's panel is the image darkened where the region looks less: at full
        brightness where it looks most, at :data:`DARKEST` where it looks least.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (n, H, W, 3); got shape {images.shape}")
    for name, maps in attention.items():
        if len(maps) != len(images):
            raise ValueError(f"{name}: {len(maps)} attention maps for {len(images)} images")
    n, columns = len(images), 1 + len(attention)
    fig = Figure(figsize=(1.3 * columns, 1.3 * n + (0.4 if title else 0.1)))
    axes = fig.subplots(n, columns, squeeze=False)
    for i, image in enumerate(images):
        axes[i, 0].imshow(image)
        for j, (name, maps) in enumerate(attention.items(), start=1):
            heat = upsample_attention(maps[i : i + 1], image.shape[:2])[0]
            shade = DARKEST + (1 - DARKEST) * heat / heat.max()
            axes[i, j].imshow((image / 255.0 * shade[..., None]).clip(0, 1))
            if i == 0:
                axes[i, j].set_title(name, fontsize="small")
    if n:
        axes[0, 0].set_title("image", fontsize="small")
    for ax in axes.flat:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    if out is not None:
        save_atomically(fig, out, dpi)
    return fig
