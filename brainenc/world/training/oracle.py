"""Training the category oracle (:mod:`brainenc.world.oracle`).

Optimisers find every shortcut of a truth they can climb, so the oracle is trained to be hard to
fool:

- **evidence, not a choice**: one sigmoid per category (binary cross-entropy), so evidence is
  bounded in [0, 1] and every category can be absent at once; a softmax cannot say "none" (it is
  shift-invariant) and its logits are unbounded off the image manifold;
- **negatives**: a third of every batch are off-manifold images (:mod:`brainenc.world.probes`:
  fields, gradients, noise, blobs, shapes, gratings, checkerboards, half-fields, shuffled
  patches, most in the world's own colours) with every target 0;
- **colour decorrelated from category**: half the images have their colour channels permuted and
  some are turned gray, so no category can be read from skin, sky or background colour;
- **adversarial negatives**: a quarter of each batch is pushed by a few steps of projected
  gradient ascent on a category it does not hold (L∞ ≤ 12/255) and trained on its true targets,
  since guided synthesis climbs exactly these gradients;
- **the worst skin tone** (``worst_tone > 0``): the face loss of the skin tone the batch's faces
  fit worst is added again, weighted (group robust optimisation, Sagawa et al. 2020), so the
  simulated FFA does not prefer faces of one tone to another.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...data.images import to_tensor
from ..oracle import ORACLE_FILE, CategoryOracle
from ..probes import off_manifold_images
from ..stimuli import CATEGORIES, SKIN_TONES, generate_stimuli
from . import save_checkpoint

TRAIN_SEED = 1_000  # stimulus and off-manifold streams of the oracle's training images
EVAL_SEED = 2_000  # held-out streams for its accuracy
ADVERSARIAL_EPS = 12 / 255
FACE = CATEGORIES.index("face")
MINE_POOL = 3  # hard-negative candidates drawn per negative kept (the shipped oracle)


def _decorrelate_colour(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute the colour channels of half the images and turn a tenth of them gray."""
    n = len(images)
    perms = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    choice = torch.randint(0, 6, (n,), generator=generator)
    choice[torch.rand(n, generator=generator) < 0.5] = 0
    out = images[torch.arange(n)[:, None], perms[choice]]
    gray = torch.rand(n, generator=generator) < 0.1
    lum = (out * out.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    return torch.where(gray[:, None, None, None], lum.expand_as(out), out)


def _adversarial(model, images, targets, generator, steps: int = 2) -> torch.Tensor:
    """Images pushed (L∞ ≤ ADVERSARIAL_EPS) to raise one category that each does not hold."""
    absent = (1 - targets) + 1e-6
    wrong = torch.multinomial(absent, 1, generator=generator)[:, 0]
    delta = torch.zeros_like(images, requires_grad=True)
    for _ in range(steps):
        logit = model(images + delta).gather(1, wrong[:, None]).sum()
        (grad,) = torch.autograd.grad(logit, delta)
        with torch.no_grad():
            delta += ADVERSARIAL_EPS / 2 * grad.sign()
            delta.clamp_(-ADVERSARIAL_EPS, ADVERSARIAL_EPS)
            delta.copy_((images + delta).clamp(0, 1) - images)
    return (images + delta).detach()


def training_batch(
    step: int, batch_size: int, seed: int, *, negatives: float = 1 / 3, mine_with=None,
    mine_pool: int = MINE_POOL,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Batch ``step`` of a category stream: world images and a fraction of off-manifold ones.

    With ``mine_with`` (an oracle), the off-manifold images are those of a ``mine_pool`` times
    larger pool on which it finds the most evidence (hard negatives).

    Returns float images (n, 3, 64, 64), multi-label targets (n, 5) (all 0 off the manifold)
    and tones (n,): each face's skin tone (:attr:`~brainenc.world.stimuli.Stimuli.skin_tones`),
    -1 for every other image.
    """
    n_neg = round(batch_size * negatives)
    n_pos = batch_size - n_neg
    stim = generate_stimuli(n_pos, seed, start=step * n_pos)
    pool = n_neg * (1 if mine_with is None else mine_pool)
    off, _ = off_manifold_images(pool, seed, start=step * pool)
    if mine_with is not None:
        with torch.no_grad():
            evidence = mine_with.evidence(to_tensor(off)).max(1).values
        off = off[evidence.argsort(descending=True)[:n_neg].numpy()]
    images = to_tensor(np.concatenate([stim.images[:], off]))
    targets = torch.zeros(batch_size, len(CATEGORIES))
    targets[torch.arange(n_pos), torch.from_numpy(stim.labels)] = 1.0
    tones = torch.full((batch_size,), -1)
    tones[:n_pos] = torch.from_numpy(stim.skin_tones)
    return images, targets, tones


def worst_tone_loss(logits: torch.Tensor, tones: torch.Tensor) -> torch.Tensor:
    """The largest, over the skin tones of a batch's faces, of their mean face cross-entropy
    (0 without faces)."""
    losses = [F.softplus(-logits[tones == t, FACE]).mean()
              for t in range(len(SKIN_TONES)) if (tones == t).any()]  # fmt: skip
    return torch.stack(losses).max() if losses else logits.new_zeros(())


def train_oracle(
    *, steps: int = 1000, hard_steps: int = 400, batch_size: int = 96, worst_tone: float = 0.0,
    mine_pool: int = MINE_POOL, hidden: int = 0, seed: int = 0, progress: bool = True,
) -> tuple[CategoryOracle, dict]:  # fmt: skip
    """Train the oracle from scratch (deterministic given ``seed``; see the module docstring).

    ``steps`` on fresh exemplars and negatives (one-cycle learning rate), then ``hard_steps``
    with half of every batch hard negatives (:func:`hard_negative_phase`); ``worst_tone``
    weighs :func:`worst_tone_loss` against the cross-entropy in both; ``mine_pool`` is how many
    candidates the hard-negative phase draws per negative it keeps; ``hidden`` is the width of
    the read-out's hidden layer (:class:`~brainenc.world.oracle.CategoryOracle`, 0 = linear).
    Returns the model (in eval mode) and a record with its held-out accuracy and the median
    face evidence of each skin tone (:func:`tone_evidence`).
    """
    torch.manual_seed(seed)
    model = CategoryOracle(hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    _fit(model, opt, sched, steps, batch_size, TRAIN_SEED + seed, generator, desc="oracle",
         progress=progress, worst_tone=worst_tone)  # fmt: skip
    hard_negative_phase(model, steps=hard_steps, batch_size=batch_size, seed=seed,
                        worst_tone=worst_tone, mine_pool=mine_pool,
                        progress=progress)  # fmt: skip
    model.eval()
    record = {
        "steps": steps,
        "hard_steps": hard_steps,
        "batch_size": batch_size,
        **({"worst_tone": worst_tone} if worst_tone else {}),
        **({"mine_pool": mine_pool} if mine_pool != MINE_POOL else {}),
        **({"hidden": hidden} if hidden else {}),
        "seed": seed,
        "train_seconds": round(time.perf_counter() - start, 1),
        "heldout_accuracy": oracle_accuracy(model),
        "off_manifold_evidence_p99": off_manifold_evidence(model),
        "face_evidence_by_tone": tone_evidence(model),
    }
    return model, record


def hard_negative_phase(
    model: CategoryOracle, *, steps: int = 400, batch_size: int = 96, worst_tone: float = 0.0,
    mine_pool: int = MINE_POOL, seed: int = 0, progress: bool = True,
) -> CategoryOracle:  # fmt: skip
    """Second phase of :func:`train_oracle`: half of every batch are the off-manifold images the
    model finds most category evidence in, among ``mine_pool`` times as many, at a constant
    learning rate of 3e-4 (stream 1,500).

    It starts its own random streams, so running it on a saved first-phase checkpoint gives
    the same model as :func:`train_oracle` does.
    """
    torch.manual_seed(seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-4)
    _fit(model.train(), opt, None, steps, batch_size, TRAIN_SEED + 500 + seed,
         torch.Generator().manual_seed(seed + 1), desc="oracle, hard negatives",
         progress=progress, negatives=0.5, mine_pool=mine_pool,
         worst_tone=worst_tone)  # fmt: skip
    return model.eval()


def _fit(model, opt, sched, steps, batch_size, stream, generator, *, desc, progress,
         negatives=1 / 3, mine_pool=None, worst_tone=0.0) -> None:  # fmt: skip
    mine_with = None if mine_pool is None else model
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for step in bar:
        images, targets, tones = training_batch(step, batch_size, stream, negatives=negatives,
                                                mine_with=mine_with,
                                                mine_pool=mine_pool or 1)  # fmt: skip
        images = _decorrelate_colour(images, generator)
        n_adv = batch_size // 4
        images[:n_adv] = _adversarial(model, images[:n_adv], targets[:n_adv], generator)
        logits = model(images)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        if worst_tone:
            loss = loss + worst_tone * worst_tone_loss(logits, tones)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")


@torch.no_grad()
def oracle_accuracy(model: CategoryOracle, n: int = 1000) -> float:
    """5-way accuracy (the category of highest evidence) on ``n`` held-out generator images."""
    stim = generate_stimuli(n, EVAL_SEED)
    pred = model(to_tensor(stim.images[:])).argmax(1).numpy()
    return float(np.mean(pred == stim.labels))


@torch.no_grad()
def tone_evidence(model: CategoryOracle, n: int = 1000) -> dict[str, float]:
    """Median face evidence of the held-out faces of each skin tone, among ``n`` held-out
    generator images."""
    stim = generate_stimuli(n, EVAL_SEED)
    tones = stim.skin_tones
    faces = tones >= 0
    evidence = model.evidence(to_tensor(stim.images[:][faces]))[:, FACE].numpy()
    return {tone: float(np.median(evidence[tones[faces] == k]))
            for k, tone in enumerate(SKIN_TONES)}  # fmt: skip


@torch.no_grad()
def off_manifold_evidence(model: CategoryOracle, n: int = 1000) -> float:
    """The 99th percentile, over ``n`` held-out off-manifold images, of their highest evidence."""
    images, _ = off_manifold_images(n, EVAL_SEED)
    evidence = model.evidence(to_tensor(images)).max(1).values.numpy()
    return float(np.percentile(evidence, 99))


def save_oracle(model: CategoryOracle, record: dict, path: Path = ORACLE_FILE) -> Path:
    """Write the checkpoint (weights + training record as metadata) atomically."""
    return save_checkpoint(model, record, path)
