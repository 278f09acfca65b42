"""Training a :class:`~brainenc.captions.Captioner` on (image embedding, caption) pairs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..optim import warmup_cosine
from .captioner import Captioner


def train_captioner(
    captioner: Captioner,
    embeddings,
    captions: Sequence[str],
    *,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    noise: float = 0.02,
    warmup: int = 100,
    val: tuple | None = None,
    eval_every: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train the prefix MLP and the language model with next-token cross-entropy.

    Parameters
    ----------
    captioner : Captioner
        Trained in place (it stays on its device).
    embeddings : array of shape (n, embed_dim)
        Image embeddings, from the backbone the captioner will read.
    captions : sequence of str
        One caption per embedding.
    steps, batch_size, lr, warmup : int, int, float, int
        AdamW with linear warm-up then cosine decay.
    noise : float
        Standard deviation of Gaussian noise added to each embedding dimension during training,
        times the embeddings' RMS norm / sqrt(embed_dim); it makes the decoder robust to
        embeddings off the image manifold, such as the softmax averages of BrainSCUBA.
    val : (embeddings, captions), optional
        Held-out pairs whose loss is recorded every ``eval_every`` steps.
    seed : int
        Batches and noise.
    progress : bool

    Returns
    -------
    dict
        The training record: ``loss`` (the last 50 steps' mean) and ``history`` (held-out loss).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) != len(captions):
        raise ValueError(
            f"need embeddings (n, d) and n captions; got {embeddings.shape} and {len(captions)}"
        )
    if len(captions) < batch_size:
        raise ValueError(f"{len(captions)} pairs is fewer than one batch ({batch_size})")
    captions = list(captions)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    scale = noise * float(np.sqrt((embeddings**2).sum(1).mean() / embeddings.shape[1]))
    optimizer = torch.optim.AdamW(captioner.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, warmup, steps, floor=0.05)
    )
    captioner.train()
    losses, history = [], []
    bar = tqdm(range(steps), desc="captioner", disable=not progress)
    for step in bar:
        idx = rng.choice(len(captions), batch_size, replace=False)
        batch = embeddings[idx] + scale * rng.standard_normal((batch_size, embeddings.shape[1]))
        loss = captioner.loss(batch.astype(np.float32), [captions[i] for i in idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(captioner.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if val is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            history.append({"step": step + 1, "val_loss": held_out_loss(captioner, *val)})
            captioner.train()
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}",
                        val=f"{history[-1]['val_loss']:.3f}" if history else "-")  # fmt: skip
    captioner.eval()
    return {"loss": float(np.mean(losses[-50:])), "history": history, "steps": steps,
            "batch_size": batch_size, "lr": lr, "noise": noise, "seed": seed}  # fmt: skip


@torch.no_grad()
def held_out_loss(captioner: Captioner, embeddings, captions, batch_size: int = 256) -> float:
    """Mean teacher-forced loss of ``captions`` given ``embeddings`` (eval mode)."""
    captioner.eval()
    embeddings = np.asarray(embeddings, dtype=np.float32)
    total = 0.0
    for start in range(0, len(captions), batch_size):
        part = list(captions[start : start + batch_size])
        total += captioner.loss(embeddings[start : start + batch_size], part).item() * len(part)
    return total / len(captions)
