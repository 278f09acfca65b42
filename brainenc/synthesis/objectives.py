"""What guided synthesis maximises: small objects that score images with a :class:`BrainModel`.

An objective maps ``(brain_model, images)`` to one score per image (higher is better); the
pipeline ascends it. ``-objective`` minimises.
"""

from __future__ import annotations

import numpy as np
import torch


class Objective:
    """Base class: ``__call__(brain_model, images) -> (n,)`` score, differentiable."""

    name = "objective"

    def __call__(self, brain_model, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __neg__(self) -> Objective:
        return Minimize(self)

    def __repr__(self) -> str:
        return self.name


class ROI(Objective):
    """Mean predicted response of a region (a name known to the brain model, a mask or indices)."""

    def __init__(self, roi):
        self.roi = roi
        self.name = roi if isinstance(roi, str) else "roi"

    def __call__(self, brain_model, images):
        return brain_model.roi_activation(images, self.roi)


class Contrast(Objective):
    """Response of region ``a`` minus that of region ``b`` (e.g. FFA − PPA)."""

    def __init__(self, a, b):
        self.a, self.b = ROI(a), ROI(b)
        self.name = f"{self.a.name}-{self.b.name}"

    def __call__(self, brain_model, images):
        out = brain_model(images)
        a, b = (
            out.index_select(
                1, torch.as_tensor(brain_model.roi_indices(r.roi, out.shape[1]), device=out.device)
            )
            for r in (self.a, self.b)
        )
        return a.nanmean(1) - b.nanmean(1)


class Vertex(Objective):
    """Predicted response of one target (vertex or voxel) by index."""

    def __init__(self, index: int):
        self.index = int(index)
        self.name = f"vertex{self.index}"

    def __call__(self, brain_model, images):
        return brain_model.roi_activation(images, np.array([self.index]))


class Minimize(Objective):
    """The negated objective: synthesis then looks for the images that suppress it."""

    def __init__(self, objective: Objective):
        self.objective = objective
        self.name = f"min-{objective.name}"

    def __call__(self, brain_model, images):
        return -self.objective(brain_model, images)

    def __neg__(self) -> Objective:
        return self.objective


def as_objective(target) -> Objective:
    """An :class:`Objective` from an objective, an ROI name (or mask) or an int target index."""
    if isinstance(target, Objective):
        return target
    if isinstance(target, (int, np.integer)):
        return Vertex(target)
    return ROI(target)
