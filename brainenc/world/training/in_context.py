"""Meta-training the world's in-context encoder on simulated subjects other than the test ones.

Subjects :data:`TRAIN_SUBJECTS` are the training tasks and :data:`VALIDATION_SUBJECTS` the
held-out loss; subject 1 (the demo's) and :data:`TEST_SUBJECTS` are never seen, so the few-shot
benchmark (``benchmarks/few_shot.py``) measures them honestly. Each subject sees its own images,
from stream ``STIMULUS_SEED + subject`` (docs/world.md, "Seed streams"), on world-clip embeddings.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ...encoders.in_context import InContextEncoder
from ...encoders.meta_training import MODEL_DIR, MetaSubject, meta_train
from .._checkpoints import WEIGHTS_DIR
from ..clip import world_embeddings

TRAIN_SUBJECTS = tuple(range(2, 10))
VALIDATION_SUBJECTS = (10,)
TEST_SUBJECTS = (1, 11, 12)
"""Subjects never used in meta-training: the few-shot benchmark reports these."""
STIMULUS_SEED = 16_000
N_IMAGES = 2_000
N_TEST = 300  # only for the estimated noise ceiling that picks the targets to sample
RELIABLE_FRACTION = 0.8
"""Share of each subject's sampled vertices drawn in proportion to the estimated noise ceiling."""
MODEL_PATH = WEIGHTS_DIR / "in_context"
SETTINGS = {"steps": 1500, "batch_size": 32, "context": (10, 500), "n_query": 100, "lr": 5e-4}


def world_meta_subject(subject: int, *, progress: bool = False) -> MetaSubject:
    """One simulated subject's meta-training data (its own images, a sample of its vertices)."""
    from ..dataset import load_world

    data = load_world(subject, n_train=N_IMAGES, n_test=N_TEST, seed=STIMULUS_SEED + subject)
    return MetaSubject.from_data(data, world_embeddings(data.images, progress=progress),
                                 reliable_fraction=RELIABLE_FRACTION, seed=subject)  # fmt: skip


def train_world_in_context(
    *, seed: int = 0, progress: bool = True, out=None, **overrides
) -> tuple[InContextEncoder, Path]:
    """Meta-train the world's in-context encoder and write it to ``out`` (the shipped path).

    The work directory (checkpoints) is ``<out>.work`` beside it, so a killed build resumes.
    ``overrides`` replace entries of :data:`SETTINGS` (tests use a few steps).
    """
    out = Path(MODEL_PATH if out is None else out)
    work = out.with_name(out.name + ".work")
    settings = {**SETTINGS, **overrides}
    train = [world_meta_subject(s, progress=progress) for s in TRAIN_SUBJECTS]
    validation = [world_meta_subject(s, progress=progress) for s in VALIDATION_SUBJECTS]
    encoder = meta_train(
        train, work, val_subjects=validation, seed=seed, progress=progress,
        metadata={"backbone": "world-clip", "train_subjects": list(TRAIN_SUBJECTS),
                  "validation_subjects": list(VALIDATION_SUBJECTS)},
        **settings,
    )  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=".in_context.", dir=out.parent))
    try:
        shutil.copytree(work / MODEL_DIR, tmp / "model")
        if out.exists():
            shutil.rmtree(out)
        (tmp / "model").rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return encoder, out
