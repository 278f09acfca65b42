"""BrainDiVE on the in-silico world, scored against the simulator's ground truth."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..data.images import to_tensor
from ..data.world import CATEGORIES, WorldSubject, generate_stimuli, load_world
from ..data.world.subjects import REGIONS
from ..encoders import BrainModel, LinearEncoder
from ..features import Backbone, extract_features
from .braindive import ROBUST_GUIDANCE, BrainDiVEPipeline, Guidance
from .evaluate import RUNS, compare_with_unguided, comparison_grid, save_synthesis
from .objectives import ROI, Objective, as_objective
from .world_prior import PRIOR_DIR

PAPER_SCALE = 30.0  # the paper's rule suits the world prior at about this scale (not SD's 130)
NATURAL_SEED = 7_000  # stream of the natural world images that calibrate "high" activations
PREFERRED = {r.name: CATEGORIES[int(np.argmax(r.weights))] for r in REGIONS if any(r.weights)}
"""Each category region's preferred category, from the simulator's tuning."""


class _Pixels(torch.nn.Module):
    """Identity 'backbone', so that a simulated subject can sit inside a :class:`BrainModel`."""

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images


@lru_cache(maxsize=1)
def _natural_images() -> torch.Tensor:
    """The 1000 natural world images that calibrate "high" activations (generated once)."""
    return to_tensor(generate_stimuli(1000, NATURAL_SEED).images[:])


def true_brain(subject: WorldSubject) -> BrainModel:
    """The subject's noiseless responses as a :class:`BrainModel` (objectives score it)."""
    return BrainModel(_Pixels(), subject, rois=subject.rois)


@lru_cache(maxsize=2)
def _subject_truth(subject: int) -> BrainModel:
    """:func:`true_brain` of world subject ``subject``, built once per process (seconds each)."""
    return true_brain(WorldSubject(subject))


def world_brain_model(subject: int = 1, *, backbone: str = "world-clip", n_train: int = 2000,
                      progress: bool = True) -> BrainModel:  # fmt: skip
    """A linear encoder of a world subject on ``backbone`` features, as a :class:`BrainModel`."""
    data = load_world(subject, n_train=n_train, n_test=2)
    net = Backbone.from_spec(backbone)
    features = extract_features(net, data.images, data.train, progress=progress)
    encoder = LinearEncoder().fit(features, data.rows(data.train))
    encoder.metadata_ = {"backbone": backbone, **data.meta}
    return BrainModel.from_encoder(net, encoder, data)


def world_pipeline(
    brain_model: BrainModel, directory=PRIOR_DIR, *, device: str = "cpu"
) -> BrainDiVEPipeline:
    """BrainDiVE with the world's diffusion prior, conditioned on world-clip's empty caption."""
    directory = Path(directory)
    if not (directory / "unet").is_dir():
        raise FileNotFoundError(
            f"the world diffusion prior is missing ({directory}); build it with "
            "`brainenc world build --only world-prior`"
        )
    with torch.no_grad():
        empty = Backbone.from_spec("world-clip").embed_text([""])[:, None]
    return BrainDiVEPipeline.from_pretrained(
        str(directory), brain_model, condition=empty, device=device
    )


def world_guidance(name: str = "robust", scale: float | None = None) -> Guidance:
    """A guidance recipe by name at its default scale on the world prior, or at ``scale``."""
    if scale is None and name == "paper":
        scale = PAPER_SCALE
    return Guidance.named(name, scale)


def synthesize_world(
    objective: Objective | str,
    *,
    subject: int = 1,
    n_images: int = 16,
    seed: int = 0,
    guidance: Guidance | float = ROBUST_GUIDANCE,
    num_inference_steps: int = 50,
    brain_model: BrainModel | None = None,
    out=None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Guided and same-seed unguided samples for ``objective``, scored three ways.

    Each image gets its predicted objective (the encoder's), its *true* objective (the
    simulator's noiseless responses) and its world-clip zero-shot category. The summary gives
    the fraction of guided images in the region's preferred category, their mean true
    activation against the 90th percentile over 1000 natural world images, the top 20% by
    predicted activation (the paper's rerank), and the unguided baseline beside each. The
    default guidance is :data:`~brainenc.synthesis.ROBUST_GUIDANCE`; a number is the paper's
    rule at that scale (about :data:`PAPER_SCALE` suits the world prior).
    With ``out``, writes ``<name>.png`` (guided row(s), then unguided) and ``<name>.json``.
    """
    objective = as_objective(objective)
    brain_model = brain_model or world_brain_model(subject, progress=progress)
    truth = _subject_truth(subject)
    summary, images = compare_with_unguided(
        world_pipeline(brain_model, device=device), objective, n_images=n_images, seed=seed,
        guidance=guidance, num_inference_steps=num_inference_steps,
        classifier=Backbone.from_spec("world-clip"), classes=CATEGORIES,
        truth=truth, progress=progress,
    )  # fmt: skip
    with torch.no_grad():
        natural_true = objective(truth, _natural_images()).numpy()
    summary.update(subject=subject, natural_true_p90=float(np.percentile(natural_true, 90)),
                   natural_true_mean=float(natural_true.mean()))  # fmt: skip
    preferred = PREFERRED.get(objective.name) if isinstance(objective, ROI) else None
    if preferred is not None:
        for run in RUNS:
            summary[run]["preferred_fraction"] = float(
                np.mean(np.array(summary[run]["category"]) == preferred)
            )
    if out is not None:
        save_synthesis(out, objective.name, comparison_grid(summary, images), summary)
    return summary
