"""Scoring and saving synthesized images: zero-shot category, true activation, image grids."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


@torch.no_grad()
def zero_shot(images: torch.Tensor, backbone, classes: list[str], template="a photo of a {}"):
    """Zero-shot class of each image with a CLIP backbone (``embed`` + ``embed_text``).

    Returns
    -------
    labels : int array of shape (n,)
        Index into ``classes``.
    probs : array of shape (n, len(classes))
        Softmax over classes of the scaled cosine similarities (scale 100, as CLIP).
    """
    image = torch.nn.functional.normalize(backbone.embed(images), dim=-1)
    text = torch.nn.functional.normalize(backbone.embed_text([template.format(c) for c in classes]),
                                         dim=-1)  # fmt: skip
    probs = (100 * image @ text.T).softmax(-1).numpy()
    return probs.argmax(1), probs


def image_grid(images: np.ndarray, captions: list[str], *, columns: int = 8, scale: int = 2):
    """A PIL image of ``uint8`` images (n, H, W, 3) in a grid, each with its caption below."""
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    font = ImageFont.load_default(size=10)
    lines = max(c.count("\n") + 1 for c in captions) if captions else 0
    cell_h = h * scale + 12 * lines + 4
    grid = Image.new("RGB", (columns * w * scale, rows * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x, y = (i % columns) * w * scale, (i // columns) * cell_h
        grid.paste(Image.fromarray(image).resize((w * scale, h * scale), Image.NEAREST), (x, y))
        draw.multiline_text((x + 2, y + h * scale + 2), caption, fill="black", font=font,
                            spacing=2)  # fmt: skip
    return grid


def save_synthesis(directory, name: str, grid: Image.Image, record: dict) -> tuple[Path, Path]:
    """Write ``<name>.png`` (the grid) and ``<name>.json`` (scores) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    grid.save(png, format="PNG")
    paths = directory / f"{name}.png", directory / f"{name}.json"
    for path, data in zip(paths, (png.getvalue(), json.dumps(record, indent=1).encode()),
                          strict=True):  # fmt: skip
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return paths
