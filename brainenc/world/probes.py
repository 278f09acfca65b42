"""Off-manifold images: what the world's category signal must *not* respond to.

Uniform fields, gradients, noise, lone blobs and shapes, gratings, checkerboards, half-fields and
patch-shuffled world images. Most of their colours are drawn from the world's own palette, skin
tones and skies, so that no category can be read from colour alone. They serve three purposes:
the negatives the oracle and the judge learn "no category" from (each on its own seed stream),
and the test battery that checks the truth cannot be driven by them.

Every image is drawn from its own random stream ``(seed, index)``, like the world's stimuli.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .stimuli import _SKIES, COLOURS, IMAGE_SIZE, SKIN, generate_stimuli

PROBE_KINDS = (
    "field",
    "gradient",
    "white noise",
    "smooth noise",
    "blob",
    "shape",
    "stripes",
    "checkerboard",
    "half field",
    "shuffled",
)
"""The families of off-manifold images; image ``i`` of a stream is of kind ``i % 10``."""

_PALETTE = np.array([*COLOURS.values(), *SKIN.values(), *_SKIES.values()], dtype=np.float64)
_YX = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64) / IMAGE_SIZE  # (2, H, W) in [0, 1)


def off_manifold_images(
    n: int, seed: int = 0, *, start: int = 0, kinds: tuple[str, ...] = PROBE_KINDS
) -> tuple[np.ndarray, list[str]]:
    """Images ``start .. start + n - 1`` of the off-manifold stream ``seed``.

    Parameters
    ----------
    n, seed, start : int
        How many images, which stream, and the index of the first.
    kinds : tuple of str
        Families to cycle through (a subset of :data:`PROBE_KINDS`).

    Returns
    -------
    images : uint8 array of shape (n, 64, 64, 3)
    kinds : list of str
        The family of each image.
    """
    unknown = sorted(set(kinds) - set(PROBE_KINDS))
    if unknown or not kinds:
        raise ValueError(f"unknown probe kinds {unknown}; known: {', '.join(PROBE_KINDS)}")
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    names = []
    for i in range(n):
        index = start + i
        kind = kinds[index % len(kinds)]
        rng = np.random.default_rng([seed, index, 77])
        image = _DRAW[kind](rng, seed, index)
        image = image + rng.normal(0.0, 4.0, image.shape)  # the stimuli's sensor noise
        images[i] = np.clip(image, 0, 255).astype(np.uint8)
        names.append(kind)
    return images, names


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A colour: 60% of the time from the world's palette (jittered), else uniform random."""
    if rng.random() < 0.6:
        return np.clip(_PALETTE[rng.integers(len(_PALETTE))] + rng.normal(0, 12, 3), 0, 255)
    return rng.uniform(0, 255, 3)


def _paint(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Colour ``b`` where ``mask`` (H, W) is 1 and ``a`` where it is 0, blending in between."""
    return a * (1 - mask[..., None]) + b * mask[..., None]


def _direction(rng: np.random.Generator) -> np.ndarray:
    """Coordinate along a random direction, (H, W), zero at a random point of the image."""
    angle = rng.uniform(0, np.pi)
    y, x = _YX - rng.uniform(0.2, 0.8, (2, 1, 1))
    return np.cos(angle) * x + np.sin(angle) * y


def _field(rng, seed, index):
    return np.broadcast_to(_colour(rng), (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()


def _gradient(rng, seed, index):
    t = _direction(rng) if rng.random() < 0.7 else np.hypot(*(_YX - rng.uniform(0, 1, (2, 1, 1))))
    t = (t - t.min()) / max(np.ptp(t), 1e-6)
    return _paint(t, _colour(rng), _colour(rng))


def _noise(rng):
    """Unit-variance noise (H, W, 3), gray half of the time."""
    if rng.random() < 0.5:
        return rng.normal(0, 1, (IMAGE_SIZE, IMAGE_SIZE, 1)).repeat(3, -1)  # gray noise
    return rng.normal(0, 1, (IMAGE_SIZE, IMAGE_SIZE, 3))


def _white_noise(rng, seed, index):
    return _colour(rng) * rng.uniform(0.3, 1.0) + _noise(rng) * rng.uniform(20, 90)


def _smooth_noise(rng, seed, index):
    noise = gaussian_filter(_noise(rng), (rng.uniform(1.5, 8), rng.uniform(1.5, 8), 0))
    noise /= noise.std() + 1e-6
    return _colour(rng) + noise * rng.uniform(20, 70)


def _blob(rng, seed, index):
    image = _field(rng, seed, index)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0.15, 0.85, 2)
        ry, rx = rng.uniform(0.06, 0.35, 2)
        inside = ((_YX[0] - cy) / ry) ** 2 + ((_YX[1] - cx) / rx) ** 2 <= 1
        image = _paint(gaussian_filter(inside.astype(float), 0.7), image, _colour(rng))
    return image


def _shape(rng, seed, index):
    image = _field(rng, seed, index)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:  # an axis-aligned or rotated rectangle
            u, v = _direction(rng), _direction(rng)
            w, h = rng.uniform(0.05, 0.3, 2)
            inside = (np.abs(u) < w) & (np.abs(v) < h)
        else:  # a thick line
            inside = np.abs(_direction(rng)) < rng.uniform(0.01, 0.05)
        image = _paint(inside.astype(float), image, _colour(rng))
    return image


def _stripes(rng, seed, index):
    phase = 2 * np.pi * _direction(rng) * rng.uniform(2, 16)
    wave = np.sin(phase)
    mask = (wave > 0).astype(float) if rng.random() < 0.5 else (wave + 1) / 2
    return _paint(mask, _colour(rng), _colour(rng))


def _checkerboard(rng, seed, index):
    cells = rng.integers(2, 17)
    check = (np.floor(_YX[0] * cells) + np.floor(_YX[1] * cells)) % 2
    return _paint(check, _colour(rng), _colour(rng))


def _half_field(rng, seed, index):
    return _paint((_direction(rng) > 0).astype(float), _colour(rng), _colour(rng))


def _shuffled(rng, seed, index):
    """A world image cut into 8- or 16-pixel patches, shuffled."""
    source = generate_stimuli(1, seed=seed + 50_000, start=index // len(PROBE_KINDS))
    image = source.images[0].astype(np.float64)
    size = 8 if rng.random() < 0.75 else 16
    k = IMAGE_SIZE // size
    patches = image.reshape(k, size, k, size, 3).transpose(0, 2, 1, 3, 4).reshape(k * k, -1)
    patches = patches[rng.permutation(k * k)]
    return patches.reshape(k, k, size, size, 3).transpose(0, 2, 1, 3, 4).reshape(image.shape)


_DRAW = {
    "field": _field,
    "gradient": _gradient,
    "white noise": _white_noise,
    "smooth noise": _smooth_noise,
    "blob": _blob,
    "shape": _shape,
    "stripes": _stripes,
    "checkerboard": _checkerboard,
    "half field": _half_field,
    "shuffled": _shuffled,
}
