"""BrainDiVE on the in-silico world, scored against the simulator's ground truth.

Every image is scored three ways: by the guiding encoder (``predicted``), by the simulator's
noiseless responses (``true``) and by the world's independent judge, which shares nothing with
the guide or the truth and may answer "none" (world-clip's zero-shot class is kept as a second
column, never the headline). Activations are compared with natural world images: all of them and
those of the region's preferred category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import clone

from ..data.images import to_tensor
from ..encoders import BrainModel, Encoder
from ..encoders.brain_model import ImageInput
from ..features import Backbone, extract_features
from ..metrics import difference_interval, mean_interval, proportion_interval
from ..synthesis.braindive import ROBUST_GUIDANCE, BrainDiVEPipeline, Guidance, SynthesisOutput
from ..synthesis.evaluate import (
    RUNS,
    compare_with_unguided,
    comparison_grid,
    save_synthesis,
    zero_shot_judge,
)
from ..synthesis.objectives import ROI, Contrast, Objective, as_objective
from .dataset import load_world
from .judge import load_judge
from .prior import PRIOR_DIR, check_prior
from .stimuli import CATEGORIES, generate_stimuli
from .subjects import REGIONS, WorldSubject

PAPER_SCALE = 30.0  # the paper's rule suits the world prior at about this scale (not SD's 130)
NATURAL_SEED = 15_000  # natural world images that calibrate "high" (no model trains on them)
PREFERRED = {r.name: CATEGORIES[int(np.argmax(r.weights))] for r in REGIONS if any(r.weights)}
"""Each category region's preferred category, from the simulator's tuning."""
HEADLINE_JUDGE = "judge"


def true_brain(subject: WorldSubject) -> BrainModel:
    """The subject's noiseless responses as a :class:`BrainModel` (objectives score it)."""
    return BrainModel(ImageInput(), subject, rois=subject.rois)


@dataclass(frozen=True)
class WorldBench:
    """What world syntheses of one subject are scored against; build once, reuse per objective.

    Attributes
    ----------
    subject : int
    truth : BrainModel
        The subject's noiseless responses (:func:`true_brain`), on the CPU.
    natural_images : tensor of shape (1000, 3, 64, 64)
        Natural world images (stream :data:`NATURAL_SEED`) that calibrate "high" activations.
    natural_labels : array of shape (1000,)
        Their categories (index into :data:`~brainenc.world.CATEGORIES`).
    judges : dict of str to callable
        :func:`world_judges` on ``device``.
    """

    subject: int
    truth: BrainModel
    natural_images: torch.Tensor
    natural_labels: np.ndarray
    judges: dict
    _natural_true: dict = field(default_factory=dict, repr=False, compare=False)

    def natural_true(self, objective: Objective) -> np.ndarray:
        """The true ``objective`` of the natural images, (1000,); computed once per objective."""
        if objective.name not in self._natural_true:
            with torch.no_grad():
                values = objective(self.truth, self.natural_images).numpy()
            self._natural_true[objective.name] = values
        return self._natural_true[objective.name]

    @classmethod
    def build(
        cls, subject: int | WorldSubject = 1, *, device: str = "cpu", judges: bool = True
    ) -> WorldBench:
        """Build the bench of world subject ``subject`` (a number, or a :class:`WorldSubject`
        to score against its truth; seconds: the subject's truth is standardised on reference
        images), with its judges on ``device`` (none with ``judges=False``, for scores of the
        truth alone)."""
        model = subject if isinstance(subject, WorldSubject) else WorldSubject(subject)
        stim = generate_stimuli(1000, NATURAL_SEED)
        return cls(model.subject, true_brain(model), to_tensor(stim.images[:]),
                   stim.labels, world_judges(device) if judges else {})  # fmt: skip

    @classmethod
    def shared(cls, subject: int = 1, *, device: str = "cpu") -> WorldBench:
        """The bench of ``subject`` on ``device`` built at most once per process.

        :func:`synthesize_world` uses it when no ``bench`` is given, because callers loop over
        objectives and each build takes seconds. Entries live in :data:`_SHARED_BENCHES` until
        the process ends (a few MB each); pass ``bench=`` to manage benches yourself.
        """
        key = (int(subject), str(device))
        if key not in _SHARED_BENCHES:
            _SHARED_BENCHES[key] = cls.build(subject, device=device)
        return _SHARED_BENCHES[key]


_SHARED_BENCHES: dict[tuple[int, str], WorldBench] = {}
"""The process's shared benches, ``(subject, device) -> WorldBench`` (:meth:`WorldBench.shared`)."""


def world_brain_model(subject: int | WorldSubject = 1, *, backbone: str = "world-clip",
                      encoder: str | Encoder = "linear", n_train: int = 2000,
                      progress: bool = True) -> BrainModel:  # fmt: skip
    """An encoder (a spec or an unfitted :class:`~brainenc.encoders.Encoder`; default linear)
    of a world subject (a number or a :class:`WorldSubject`), fitted on ``backbone`` features,
    as a :class:`BrainModel`."""
    data = load_world(subject, n_train=n_train, n_test=2)
    net = Backbone.from_spec(backbone)
    encoder = clone(encoder) if isinstance(encoder, Encoder) else Encoder.from_spec(encoder)
    features = extract_features(net, data.images, data.train,
                                feature_type=encoder.feature_type, progress=progress)  # fmt: skip
    encoder.fit(features, data.rows(data.train), **encoder.fit_options(rois=data.rois))
    encoder.metadata_ = {"backbone": backbone, **data.meta}
    return BrainModel.from_encoder(net, encoder, data)


def world_pipeline(
    brain_model: BrainModel, directory=PRIOR_DIR, *, device: str = "cpu"
) -> BrainDiVEPipeline:
    """BrainDiVE with the world's diffusion prior, conditioned on world-clip's empty caption."""
    directory = check_prior(directory)
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


def world_judges(device: str = "cpu") -> dict:
    """The judges of world images: the independent judge (headline), then world-clip zero-shot."""
    judge = load_judge().to(device)
    clip = Backbone.from_spec("world-clip").to(device)
    return {
        HEADLINE_JUDGE: lambda images: judge.classify(images.to(device))[0],
        "world-clip": zero_shot_judge(clip, CATEGORIES),
    }


def preferred_category(objective: Objective) -> str | None:
    """The category an objective should find: a region's (or a contrast's first region's)
    preferred category; ``None`` for other objectives (a minimised one, a vertex)."""
    if isinstance(objective, Contrast):
        objective = objective.a
    return PREFERRED.get(objective.name) if isinstance(objective, ROI) else None


def synthesize_world(
    objective: Objective | str,
    *,
    subject: int = 1,
    n_images: int = 16,
    seed: int = 0,
    guidance: Guidance | float = ROBUST_GUIDANCE,
    num_inference_steps: int = 50,
    brain_model: BrainModel | None = None,
    pipeline: BrainDiVEPipeline | None = None,
    unguided: SynthesisOutput | None = None,
    bench: WorldBench | None = None,
    out=None,
    device: str = "cpu",
    oversample: int = 1,
    ranker: BrainModel | None = None,
    rank_augment: int = 0,
    batch_size: int = 4,
    progress: bool = True,
) -> dict:
    """Guided and same-seed unguided samples for ``objective``, scored against the truth.

    Each image gets its predicted objective (the encoder's), its *true* objective (the
    simulator's noiseless responses) and its class by each of :func:`world_judges`. Per run, the
    summary gives the mean true objective with its 95% interval and, per judge, the fraction of
    images of the objective's preferred category and the fraction judged "none", with 95% Wilson
    intervals, and the guided minus unguided mean true objective with its 95% interval
    (``true_difference``: paired over the same seeds; with ``oversample > 1``, where each run
    keeps its own best images, Welch's, which is approximate there). Beside them: the true
    objective's 90th percentile over 1000 natural world images (``natural_true_p90``) and its
    median over those of the preferred category (``natural_true_median_preferred``). The
    default guidance is :data:`~brainenc.synthesis.ROBUST_GUIDANCE`; a number is the paper's
    rule at that scale (about :data:`PAPER_SCALE` suits the world prior).

    Parameters
    ----------
    brain_model : BrainModel, optional
        The guide; by default a linear world-clip encoder of ``subject``
        (:func:`world_brain_model`).
    pipeline : BrainDiVEPipeline, optional
        A pipeline to reuse across objectives (its brain model is the guide); built with
        :func:`world_pipeline` when not given.
    unguided : SynthesisOutput, optional
        Unguided samples of the same (candidate) seeds, to share across objectives.
    bench : WorldBench, optional
        The subject's truth, natural images and judges; :meth:`WorldBench.shared` by default.
    out : path, optional
        Writes ``<name>.png`` (guided row(s), then unguided), ``<name>.json`` and every image
        (``<name>/<run>_<i>.png``, ``<name>/<run>.npy``).
    oversample : int
        Draw ``n_images * oversample`` candidates per run and keep the ``n_images`` the guide
        scores highest (BrainDiVE's rerank; see
        :func:`~brainenc.synthesis.evaluate.compare_with_unguided`); the summary also scores
        all candidates (``"candidates"``).
    ranker : BrainModel, optional
        With ``oversample > 1``, keep the candidates this encoder scores highest instead of
        the guide (e.g. one on another backbone, :func:`world_brain_model`).
    rank_augment : int
        With ``oversample > 1``, rank by the mean objective over this many shifted, mirrored
        copies of each candidate (under ``ranker``, or the guide). With either option, the
        summary also scores the images the guide alone would have kept (``"by_guide"``).
    batch_size : int
        Images sampled at once (more is faster where memory allows; the images do not change).
    """
    objective = as_objective(objective)
    if pipeline is None:
        pipeline = world_pipeline(brain_model or world_brain_model(subject, progress=progress),
                                  device=device)  # fmt: skip
    if bench is None:
        bench = WorldBench.shared(subject, device=device)
    elif bench.subject != subject:
        raise ValueError(
            f"bench is of world subject {bench.subject} but subject is {subject}; "
            f"pass subject={bench.subject} or WorldBench.build({subject})"
        )
    truth = bench.truth
    summary, images = compare_with_unguided(
        pipeline, objective, n_images=n_images, seed=seed, guidance=guidance,
        num_inference_steps=num_inference_steps, judges=bench.judges, truth=truth,
        unguided=unguided, oversample=oversample, ranker=ranker, rank_augment=rank_augment,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    natural_true, labels = bench.natural_true(objective), bench.natural_labels
    preferred = preferred_category(objective)
    summary.update(subject=subject, preferred=preferred,
                   natural_true_p90=float(np.percentile(natural_true, 90)),
                   natural_true_mean=float(natural_true.mean()))  # fmt: skip
    if preferred is not None:
        of_preferred = natural_true[labels == CATEGORIES.index(preferred)]
        summary["natural_true_median_preferred"] = float(np.median(of_preferred))
    for run in RUNS:
        _add_intervals(summary[run], preferred)
        for part in ("candidates", "by_guide"):
            if part in summary[run]:
                _add_intervals(summary[run][part], preferred)
    summary["true_difference"] = _difference(summary["guided"], summary["unguided"],
                                             paired=oversample == 1)  # fmt: skip
    if out is not None:
        save_synthesis(out, objective.name, comparison_grid(summary, images), summary, images)
    return summary


def _difference(guided: dict, unguided: dict, *, paired: bool) -> dict:
    """Guided minus unguided mean true objective with its 95% interval: paired over the same
    seeds, or Welch's when each run kept its own best images (approximate then: both kept sets
    are the best of one shared pool of candidate seeds, not independent samples)."""
    interval = difference_interval(guided["true"], unguided["true"], paired=paired)
    return {"mean": guided["mean_true"] - unguided["mean_true"], "ci95": interval, "paired": paired}


def _add_intervals(scores: dict, preferred: str | None) -> None:
    """Add to one run's scores the 95% interval of the mean true objective and, per judge, the
    fractions of the preferred category and of "none" with their 95% intervals."""
    scores["mean_true_ci95"] = mean_interval(scores["true"])
    classes = {"none": "none"} if preferred is None else {"preferred": preferred, "none": "none"}
    scores["fractions"] = {}
    for name, labels in scores.get("judged", {}).items():
        counts = {key: int(np.sum(np.array(labels) == c)) for key, c in classes.items()}
        scores["fractions"][name] = {
            key: {"fraction": k / len(labels), "ci95": proportion_interval(k, len(labels))}
            for key, k in counts.items()
        }
    if preferred is not None and HEADLINE_JUDGE in scores["fractions"]:
        scores["preferred_fraction"] = scores["fractions"][HEADLINE_JUDGE]["preferred"]["fraction"]


CAPTION_TEXT_SCALE = 1.0
"""Classifier-free guidance scale of :func:`images_from_caption`: plain conditional sampling,
chosen among 1, 3 and 6 by the judge on seeds 1000-1011 (``benchmarks/captions_world.py``; the
reported images use other seeds)."""


def images_from_caption(
    caption: str,
    objective: Objective | str,
    *,
    pipeline: BrainDiVEPipeline,
    subject: int = 1,
    n_images: int = 16,
    seed: int = 0,
    text_scale: float = CAPTION_TEXT_SCALE,
    num_inference_steps: int = 50,
    bench: WorldBench | None = None,
    progress: bool = True,
) -> tuple[dict, np.ndarray]:
    """Images the world prior draws from ``caption`` (no brain guidance), scored like
    :func:`synthesize_world`'s: predicted and true ``objective``, the judge's class, intervals.

    Parameters
    ----------
    caption : str
        E.g. a region's BrainSCUBA caption.
    objective : Objective or str
        What the images are scored on (the region the caption describes).
    pipeline : BrainDiVEPipeline
        The world pipeline (:func:`world_pipeline`); its brain model gives ``predicted``.
    text_scale : float
        Classifier-free guidance towards the caption (see
        :meth:`~brainenc.synthesis.BrainDiVEPipeline.with_condition`).

    Returns
    -------
    scores : dict
        ``caption``, ``predicted``/``true`` per image with their means, ``mean_true_ci95``,
        ``judged`` and ``fractions`` (as a run of :func:`synthesize_world`'s summary), and the
        true objective's median over the bench's natural images (``natural_true_median``) and
        over those of the region's category (``natural_true_median_preferred``).
    images : uint8 array (n, H, W, 3)
    """
    objective = as_objective(objective)
    bench = WorldBench.shared(subject, device=str(pipeline.device)) if bench is None else bench
    with torch.no_grad():
        condition = Backbone.from_spec("world-clip").embed_text([caption])[:, None]
    out = pipeline.with_condition(condition, text_scale=text_scale)(
        objective, n_images=n_images, seed=seed, guidance=None,
        num_inference_steps=num_inference_steps, progress=progress,
    )  # fmt: skip
    with torch.no_grad():
        true = objective(bench.truth, out.images).numpy()  # the truth runs on the CPU
    natural = bench.natural_true(objective)
    scores = {
        "caption": caption,
        "text_scale": text_scale,
        "seed": seed,
        "predicted": out.scores.tolist(),
        "mean_predicted": float(out.scores.mean()),
        "true": true.tolist(),
        "mean_true": float(true.mean()),
        "judged": {name: list(judge(out.images)) for name, judge in bench.judges.items()},
        "natural_true_median": float(np.median(natural)),
    }
    preferred = preferred_category(objective)
    if preferred is not None:
        of_preferred = natural[bench.natural_labels == CATEGORIES.index(preferred)]
        scores["natural_true_median_preferred"] = float(np.median(of_preferred))
    _add_intervals(scores, preferred)
    return scores, out.to_uint8()
