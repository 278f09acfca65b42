"""The :class:`Backbone` base class and the registry that builds backbones from spec strings.

A backbone is named by one spec string, ``"<name>"`` or ``"<name>:<details>"``
(``"gabor"``, ``"gabor:n_orientations=6"``, ``"open_clip:ViT-B-16/laion2b_s34b_b88k"``). The part
before the first ``:`` selects a factory in :data:`BACKBONES`; the factory receives the whole spec
and parses its own details. The spec is also the key of the feature cache, so a backbone's ``spec``
must identify its outputs (with the contents of its ``weights_file``, when it has one).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

import torch

from ..data.images import resize_square

FEATURE_TYPES = ("embed", "tokens")
"""The outputs of a backbone, by method name: pooled embeddings and token grids."""

BACKBONES: dict[str, Callable[..., Backbone]] = {}
"""Registered backbone factories, ``name -> factory(spec: str, **kwargs) -> Backbone``."""

DEFERRED_BACKBONES: dict[str, str] = {
    "world-clip": "brainenc.world.clip",
    "world-vit": "brainenc.world.vit",
}
"""Backbones registered by a module outside this stage, ``name -> module``: the module is
imported (and registers its factory) the first time the name is asked for. The world's
backbones live with the in-silico world, which itself builds on this stage."""


def register_backbone(name: str) -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Decorator that registers ``factory(spec, **kwargs) -> Backbone`` under ``name``.

    Parameters
    ----------
    name : str
        The spec prefix that selects the factory (no ``:``), e.g. ``"gabor"``.

    Examples
    --------
    >>> @register_backbone("my-net")
    ... def _build(spec: str, **kwargs) -> Backbone:
    ...     return MyNet(spec, **kwargs)
    """
    if not name or ":" in name:
        raise ValueError(f"a backbone name must be non-empty and contain no ':'; got {name!r}")

    def decorator(factory: Callable[..., Backbone]) -> Callable[..., Backbone]:
        if name in BACKBONES and BACKBONES[name] is not factory:
            raise ValueError(f"a backbone named {name!r} is already registered; pick another name")
        BACKBONES[name] = factory
        return factory

    return decorator


def check_images(images: torch.Tensor) -> torch.Tensor:
    """Check that ``images`` is a float tensor of shape ``(n, 3, H, W)``; return it unchanged.

    Values are expected in [0, 1] but not checked (that would cost a pass over the data, and
    images under optimisation may step slightly outside).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor of shape (n, 3, H, W); got {type(images).__name__} "
            "(convert uint8 (n, H, W, 3) arrays with brainenc.data.to_tensor)"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor with values in [0, 1]; got {images.dtype} "
            "(convert uint8 (n, H, W, 3) arrays with brainenc.data.to_tensor)"
        )
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must have shape (n, 3, H, W) (RGB, channels first); got {tuple(images.shape)}"
        )
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images must have a non-zero height and width; got {tuple(images.shape)}")
    return images


class Backbone(torch.nn.Module):
    """Base of every feature extractor: a differentiable image -> features ``torch.nn.Module``.

    Every method takes float images in [0, 1] of shape ``(n, 3, H, W)``, any ``H`` and ``W``, and
    is differentiable with respect to them. Subclasses implement :meth:`embed` (and :meth:`tokens`
    when they have a spatial token grid) and may override :meth:`preprocess`.

    Parameters
    ----------
    spec : str
        The spec string that identifies this backbone and its outputs (the feature-cache key).
    embed_dim : int
        Length of the pooled embedding returned by :meth:`embed`.
    input_size : int
        Side in pixels of the square images the model works at.
    mean, std : sequence of 3 floats, optional
        Per-channel normalisation applied by :meth:`preprocess` after resizing; none when omitted.
    weights_file : path-like, optional
        The checkpoint file the weights were read from, if any: feature caches key on its
        contents as well as on ``spec``, so a checkpoint rewritten in place is never served
        stale features.
    """

    def __init__(
        self,
        spec: str,
        embed_dim: int,
        input_size: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        weights_file: str | os.PathLike | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.weights_file = Path(weights_file).resolve() if weights_file is not None else None
        self.embed_dim = int(embed_dim)
        self.input_size = int(input_size)
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std for the input normalisation, or neither")
        self.mean: torch.Tensor | None
        self.std: torch.Tensor | None
        self.register_buffer("mean", _channel_vector(mean, "mean"), persistent=False)
        self.register_buffer("std", _channel_vector(std, "std"), persistent=False)

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> Backbone:
        """Build a registered backbone from its spec string.

        Parameters
        ----------
        spec : str
            ``"<name>"`` or ``"<name>:<details>"``; ``name`` must be a key of :data:`BACKBONES`.
        **kwargs
            Passed to the factory (e.g. constructor arguments).

        Returns
        -------
        Backbone
        """
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"a backbone spec must be a non-empty string; got {spec!r}")
        name = spec.split(":", 1)[0]
        if name not in BACKBONES and name in DEFERRED_BACKBONES:
            import_module(DEFERRED_BACKBONES[name])
        if name not in BACKBONES:
            known = ", ".join(sorted({*BACKBONES, *DEFERRED_BACKBONES})) or "none"
            raise ValueError(
                f"unknown backbone {name!r} (from spec {spec!r}); known backbones: {known}"
            )
        return BACKBONES[name](spec, **kwargs)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize to ``input_size`` (bilinear, antialiased) and normalise with ``mean`` / ``std``.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, 3, input_size, input_size)
        """
        x = resize_square(check_images(images), self.input_size)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled embedding: ``(n, 3, H, W)`` images in [0, 1] -> ``(n, embed_dim)``."""
        raise NotImplementedError(f"backbone {self.spec!r} does not implement embed()")

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Token grid: ``(n, 3, H, W)`` images in [0, 1] -> ``(n, n_tokens, dim)``."""
        raise NotImplementedError(
            f"backbone {self.spec!r} has no token output; use embed() or a backbone with tokens"
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`embed`."""
        return self.embed(images)

    frozen: tuple[str, ...] = ()
    """Attributes holding wrapped pretrained models, kept in eval mode by :meth:`train`."""

    def train(self, mode: bool = True) -> Backbone:
        """Set the training flag; the models named in :attr:`frozen` stay in eval mode."""
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}, embed_dim={self.embed_dim}, input_size={self.input_size}"


def token_grid_side(n_tokens: int) -> int:
    """Side of the square grid that ``n_tokens`` tokens form (row-major, as ViTs cut an image);
    ``ValueError`` when they form none."""
    side = math.isqrt(n_tokens)
    if side * side != n_tokens:
        raise ValueError(f"{n_tokens} tokens do not form a square token grid (side × side)")
    return side


def spread_over_patches(weights: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Weights over a square token grid, (n, n_tokens), as maps of ``size`` (H, W).

    Each token's weight is spread evenly over its patch (nearest-neighbour), so a map shows the
    tokens as the backbone cut the image; each map is normalised to sum to 1. Differentiable.
    """
    side = token_grid_side(weights.shape[1])
    grid = weights.reshape(len(weights), 1, side, side)
    maps = torch.nn.functional.interpolate(grid, size=tuple(size), mode="nearest")[:, 0]
    return maps / maps.sum((1, 2), keepdim=True)


def _channel_vector(values: Sequence[float] | None, name: str) -> torch.Tensor | None:
    if values is None:
        return None
    v = torch.as_tensor(values, dtype=torch.float32)
    if v.shape != (3,):
        raise ValueError(f"{name} must hold 3 values (R, G, B); got {tuple(v.shape)}")
    return v.view(1, 3, 1, 1)
