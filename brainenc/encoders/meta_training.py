"""Meta-training of the in-context encoder across subjects (``meta_train``).

One step draws a batch of targets from the training subjects; each gets a random context of
images (its size drawn per target, padded and masked to the batch's largest) and a disjoint set
of query images. The transformer writes each target's readout from its context, and the loss is
the mean squared error of that readout on the queries, in the target's standardised units (1.0
is no better than predicting the context mean).

The batch of a step depends only on ``(seed, step)``, so a run killed and started again resumes
from its last checkpoint and ends with the same weights. Under ``torchrun`` every process draws
the same batch and trains on its share of the targets, and the gradients are averaged
(DistributedDataParallel: gloo on CPU, nccl on GPU): a step of N processes equals the step of
one process on the whole batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..distributed import barrier, rank_and_world, shard
from ..files import write_atomically
from ..optim import warmup_cosine
from ..validation import check_pair
from .in_context import InContextEncoder, feature_statistics

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_DIR = "model"
VALIDATION_CONTEXT = 100
"""Context size of the held-out loss shown while training (clipped to the context range)."""


@dataclass
class MetaSubject:
    """One subject's meta-training data: image features and responses of its targets.

    Parameters
    ----------
    features : array of shape (n_images, n_features)
    responses : array of shape (n_images, n_targets)
        Finite responses of the targets to sample (a subset of the subject's targets is fine).
    name : str
        Shown in errors.
    targets : int array of shape (n_targets,), optional
        Which of the subject's targets the columns are (set by :meth:`from_data`).
    """

    features: np.ndarray
    responses: np.ndarray
    name: str = "subject"
    targets: np.ndarray | None = None

    def __post_init__(self):
        self.features, self.responses = check_pair(self.features, self.responses)
        if self.features.ndim != 2:
            raise ValueError(f"{self.name}: features must be (n_images, n_features)")

    @classmethod
    def from_data(cls, data, features, *, max_targets: int = 4000, reliable_fraction: float = 0.5,
                  seed: int = 0):  # fmt: skip
        """The training images of a :class:`~brainenc.data.BrainData` and a sample of its targets.

        A share ``reliable_fraction`` of the sample is drawn in proportion to the noise ceiling
        (targets with signal), the rest uniformly (so the model also learns what to do with
        noise); all targets when there are at most ``max_targets``, uniformly when the data has
        no noise ceiling.

        Parameters
        ----------
        data : BrainData
        features : array of shape (data.n_images, n_features)
            Features of all of the data's images (rows as ``data.images``).
        max_targets : int
        reliable_fraction : float
            Between 0 and 1.
        seed : int
        """
        if not 0 <= reliable_fraction <= 1:
            raise ValueError(f"reliable_fraction must be in [0, 1], got {reliable_fraction}")
        features = np.asarray(features)
        if len(features) != data.n_images:
            raise ValueError(
                f"features has {len(features)} rows but the data has {data.n_images} images"
            )
        train = np.asarray(data.train)
        responses = data.rows(train)
        finite = np.isfinite(responses).all(0)
        prob = finite.astype(np.float64)
        if data.noise_ceiling is not None:
            ceiling = np.where(finite, np.clip(np.nan_to_num(data.noise_ceiling), 0, None), 0.0)
            if ceiling.sum() > 0:
                prob = ((1 - reliable_fraction) * prob / prob.sum()
                        + reliable_fraction * ceiling / ceiling.sum())  # fmt: skip
        prob /= prob.sum()
        size = min(max_targets, int((prob > 0).sum()))
        keep = np.sort(np.random.default_rng(seed).choice(len(prob), size, replace=False, p=prob))
        name = f"{data.meta.get('dataset', 'data')} subject {data.meta.get('subject', '?')}"
        return cls(features[train], responses[:, keep], name=name, targets=keep)


def meta_train(
    subjects: Sequence[MetaSubject],
    out,
    *,
    val_subjects: Sequence[MetaSubject] = (),
    steps: int = 3000,
    batch_size: int = 64,
    context: tuple[int, int] = (10, 500),
    n_query: int = 100,
    lr: float = 5e-4,
    weight_decay: float = 0.01,
    warmup: int = 100,
    encoder: InContextEncoder | None = None,
    checkpoint_every: int = 100,
    eval_every: int = 100,
    seed: int = 0,
    device: str = "cpu",
    metadata: dict | None = None,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> InContextEncoder:
    """Meta-train an in-context encoder; resumes from ``out/checkpoint.pt`` when there is one.

    Parameters
    ----------
    subjects : sequence of MetaSubject
        Training subjects, all with features from the same backbone.
    out : path-like
        Work directory: ``checkpoint.pt`` (every ``checkpoint_every`` steps) and, at the end,
        ``model/``, the meta-trained encoder (an unfitted :class:`InContextEncoder` directory).
    val_subjects : sequence of MetaSubject
        Held-out subjects whose loss, at a context of ``VALIDATION_CONTEXT`` images, is shown and
        recorded every ``eval_every`` steps.
    steps, batch_size : int
        Optimiser steps and targets per step (divisible by the number of processes).
    context : (int, int)
        Smallest and largest context size. Each step draws the batch's largest size
        log-uniformly in this range and each target's size uniformly between half of it and it.
    n_query : int
        Query images per target, disjoint from its context.
    lr, weight_decay, warmup : float, float, int
        AdamW with linear warm-up over ``warmup`` steps then cosine decay to a tenth.
    encoder : InContextEncoder, optional
        Architecture (``width``, ``depth``, ``heads``, ``n_registers``); the defaults otherwise.
    checkpoint_every, eval_every : int
    seed : int
        Initial weights and the batches.
    device : {"cpu", "cuda"}
        Under torchrun with CUDA, each process uses GPU ``LOCAL_RANK``; bfloat16 autocast on GPU.
    metadata : dict, optional
        Provenance stored with the model (e.g. the backbone spec).
    progress : bool
        A progress bar with the training and held-out loss.
    say : callable
        Receives a line when a run resumes.

    Returns
    -------
    InContextEncoder
        Unfitted, with the meta-trained weights; also written to ``out/model``.
    """
    subjects = list(subjects)
    if not subjects:
        raise ValueError("meta_train needs at least one training subject")
    widths = {s.features.shape[1] for s in [*subjects, *val_subjects]}
    if len(widths) != 1:
        raise ValueError(f"all subjects need features of one width (one backbone); got {widths}")
    low, high = int(context[0]), int(context[1])
    smallest = min(len(s.features) for s in subjects)
    if not 2 <= low <= high or high + n_query > smallest:
        raise ValueError(
            f"context {context} and n_query {n_query} need 2 <= low <= high and high + n_query "
            f"<= the smallest subject's images ({smallest})"
        )
    rank, world = rank_and_world()
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {world} processes")
    if device == "cuda" and world > 1:
        device = f"cuda:{torch.cuda.current_device()}"
    out = Path(out)
    encoder = InContextEncoder() if encoder is None else encoder
    mean, scale = feature_statistics(np.concatenate([s.features for s in subjects]))
    settings = {
        "subjects": [[s.name, *s.responses.shape] for s in subjects],
        "steps": steps, "batch_size": batch_size, "context": [low, high], "n_query": n_query,
        "lr": lr, "weight_decay": weight_decay, "warmup": warmup, "seed": seed,
        "architecture": {k: encoder.get_params()[k]
                         for k in ("width", "depth", "heads", "n_registers")},
    }  # fmt: skip

    torch.manual_seed(seed)
    net = encoder._new_network(len(mean)).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, steps, floor=0.1)
    )
    start, history = 0, []
    checkpoint = out / CHECKPOINT_FILE
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state["settings"] != json.loads(json.dumps(settings)):
            raise ValueError(
                f"{checkpoint} is from a run with other settings; delete it to start again or "
                "pass another out directory"
            )
        net.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start, history = state["step"], state["history"]
        if rank == 0:
            say(f"resuming meta-training at step {start} of {steps} from {checkpoint}")
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net)

    standardized = [_on_device(s, mean, scale, device) for s in subjects]
    validation = [_on_device(s, mean, scale, device) for s in val_subjects]
    val_k = min(max(VALIDATION_CONTEXT, low), high)
    lo, hi = shard(batch_size, rank, world)
    bar = tqdm(range(start, steps), desc="meta-training", initial=start, total=steps,
               disable=not progress or rank != 0)  # fmt: skip
    for step in bar:
        model.train()
        rng = np.random.default_rng([seed, step])
        batch = _sample_batch(standardized, rng, batch_size, (low, high), n_query)
        with torch.autocast("cuda", torch.bfloat16, enabled=str(device).startswith("cuda")):
            loss = query_loss(model, *(t[lo:hi] for t in batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        done = step + 1
        if validation and (done % eval_every == 0 or done == steps):
            history.append({"step": done, "val_loss": _validate(net, validation, val_k, n_query,
                                                                 seed)})  # fmt: skip
        bar.set_postfix(loss=f"{loss.item():.3f}",
                        val=f"{history[-1]['val_loss']:.3f}" if history else "-")  # fmt: skip
        if done % checkpoint_every == 0 or done == steps:
            _save_checkpoint(checkpoint, net, optimizer, schedule, done, history, settings, rank)
    bar.close()
    encoder._set_network(net.cpu().float(), mean, scale)
    record = {"meta_training": settings, "history": history, **(metadata or {})}
    if rank == 0:
        encoder.save(out / MODEL_DIR, metadata=record)
    barrier()
    encoder.metadata_ = json.loads(json.dumps(record))
    return encoder


def query_loss(model, x, y, mask, xq, yq) -> torch.Tensor:
    """Mean squared error, on the query images, of the readouts written from the contexts."""
    weight, bias = model(x, y, mask)
    predicted = torch.einsum("bqd,bd->bq", xq, weight.float()) + bias.float()[:, None]
    return ((predicted - yq) ** 2).mean()


def _sample_batch(subjects, rng, batch_size, context, n_query):
    """A batch of (context features, responses, mask, query features, query responses)."""
    low, high = context
    k_max = round(math.exp(rng.uniform(math.log(low), math.log(high))))
    sizes = rng.integers(max(low, k_max // 2), k_max + 1, batch_size)
    which = rng.integers(0, len(subjects), batch_size)
    parts = []
    for s_i in range(len(subjects)):
        members = np.flatnonzero(which == s_i)
        if not members.size:
            continue
        features, responses = subjects[s_i]
        n_images, n_targets = responses.shape
        targets = torch.as_tensor(rng.integers(0, n_targets, members.size))
        images = torch.as_tensor(
            np.argsort(rng.random((members.size, n_images)), axis=1)[:, : k_max + n_query]
        )
        y = responses[images.to(responses.device), targets.to(responses.device)[:, None]]
        parts.append((members, features[images.to(features.device)], y))
    order = np.argsort(np.concatenate([m for m, _, _ in parts]))
    x = torch.cat([p[1] for p in parts])[order]
    y = torch.cat([p[2] for p in parts])[order]
    mask = (
        torch.arange(k_max, device=x.device)[None]
        < torch.as_tensor(sizes, device=x.device)[:, None]
    )
    maskf = mask.to(y.dtype)
    context = y[:, :k_max]
    count = maskf.sum(1, keepdim=True)
    mean = (context * maskf).sum(1, keepdim=True) / count
    sd = (((context - mean) ** 2 * maskf).sum(1, keepdim=True) / (count - 1)).sqrt()
    sd = sd.clamp_min(1e-6)
    return (
        x[:, :k_max],
        (context - mean) / sd * maskf,
        mask,
        x[:, k_max:],
        (y[:, k_max:] - mean) / sd,
    )


@torch.no_grad()
def _validate(net, subjects, k, n_query, seed) -> float:
    """Held-out loss on a fixed set of targets and contexts of ``k`` images."""
    net.eval()
    rng = np.random.default_rng([seed, 10**9])
    losses = [query_loss(net, *_sample_batch(subjects, rng, 256, (k, k), n_query)).item()
              for _ in range(4)]  # fmt: skip
    return float(np.mean(losses))


def _on_device(subject: MetaSubject, mean, scale, device):
    x = torch.as_tensor((subject.features - mean) / scale, dtype=torch.float32, device=device)
    return x, torch.as_tensor(subject.responses, dtype=torch.float32, device=device)


def _save_checkpoint(path, net, optimizer, schedule, step, history, settings, rank) -> None:
    if rank == 0:
        state = {
            "network": net.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "step": step, "history": history,
            "settings": json.loads(json.dumps(settings)),
        }  # fmt: skip
        write_atomically(path, lambda tmp: torch.save(state, tmp))
    barrier()
