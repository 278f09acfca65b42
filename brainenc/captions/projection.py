"""The BrainSCUBA projection (Luo et al., ICLR 2024): voxel readouts onto the image embeddings.

A voxel's readout vector ``w`` points in the embedding space, but not necessarily where image
embeddings lie. BrainSCUBA replaces it by a softmax-weighted average of a bank of natural-image
embeddings ``e_i``: with ``p_i = softmax_i(tau * cos(w, e_i))`` the projected direction is
``sum_i p_i e_i / |e_i|`` renormalised, and its norm ``sum_i p_i |e_i|``.

The (targets x bank) similarity matrix is never built: targets and bank are walked in chunks
and the softmax is accumulated online (running maximum, rescaled running sums), so a bank of
millions of embeddings needs memory for one chunk pair only and is read once.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from .bank import EmbeddingBank


def project_to_bank(
    weights,
    bank: EmbeddingBank,
    *,
    tau: float = 150.0,
    target_chunk: int = 4096,
    bank_chunk: int = 65536,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Project readout vectors onto the bank of image embeddings.

    Parameters
    ----------
    weights : array of shape (n_targets, d)
        One readout vector per target (voxel) in the bank's embedding space, e.g.
        ``encoder.feature_weights()`` of an encoder fitted on the bank's backbone. A row of zeros
        has no direction: its output row is NaN.
    bank : EmbeddingBank
        The image embeddings, ``d`` wide.
    tau : float
        Softmax temperature (inverse): large values pick the nearest embedding, small ones
        average the whole bank. The paper uses 150.
    target_chunk, bank_chunk : int
        Rows of targets and of the bank per step; the working memory is about
        ``target_chunk * bank_chunk * 4`` bytes (1 GiB by default), plus two float32 arrays of
        the size of ``weights`` on ``device``.
    device : str or torch.device
        Where the products run; accumulation is float32, also for a float16 bank.
    progress : bool
        Show a tqdm progress bar over the bank.

    Returns
    -------
    array of shape (n_targets, d), float32
        The projected vectors: unit direction times softmax-weighted norm.
    """
    weights = _check_weights(weights, bank.width)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite positive number (the paper uses 150); got {tau}")
    for name, size in (("target_chunk", target_chunk), ("bank_chunk", bank_chunk)):
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int; got {size!r}")
    device = torch.device(device)
    lengths = np.linalg.norm(weights, axis=1, keepdims=True)
    # tau folded into the unit readouts, so one product gives tau * cos; zero rows stay zero
    unit = weights / np.where(lengths > 0, lengths, 1)
    queries = torch.from_numpy(unit).to(device, torch.float32) * tau
    n = len(weights)
    running_max = torch.full((n,), -math.inf, device=device)
    total = torch.zeros(n, device=device)  # sum_i exp(tau cos_i - max)
    direction = torch.zeros_like(queries)  # sum_i exp(tau cos_i - max) e_i / |e_i|
    norm = torch.zeros(n, device=device)  # sum_i exp(tau cos_i - max) |e_i|
    with tqdm(total=len(bank), unit="emb", desc="projection", disable=not progress) as bar:
        for b0 in range(0, len(bank), bank_chunk):
            dirs, norms = bank.chunk(b0, b0 + bank_chunk)
            dirs = torch.from_numpy(dirs).to(device).float()
            norms = torch.from_numpy(norms).to(device)
            for t in range(0, n, target_chunk):
                rows = slice(t, t + target_chunk)
                p = queries[rows] @ dirs.T
                new_max = torch.maximum(running_max[rows], p.amax(1))
                rescale = torch.exp(running_max[rows] - new_max)  # 0 on the first chunk
                p.sub_(new_max[:, None]).exp_()
                # row slices are views: the running sums are rescaled and updated in place
                total[rows].mul_(rescale).add_(p.sum(1))
                direction[rows].mul_(rescale[:, None]).addmm_(p, dirs)
                norm[rows].mul_(rescale).addmv_(p, norms)
                running_max[rows] = new_max
            bar.update(len(dirs))
    direction /= torch.linalg.vector_norm(direction, dim=1, keepdim=True)
    out = (direction * (norm / total)[:, None]).cpu().numpy()
    out[lengths[:, 0] == 0] = np.nan
    return out


def _check_weights(weights, width: int) -> np.ndarray:
    """``weights`` as a float32 (n_targets, width) array of finite values, or ValueError."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must be a 2-D array (n_targets, {width}); got shape {weights.shape} "
            "(for one readout vector pass weights[None])"
        )
    if weights.shape[1] != width:
        raise ValueError(
            f"weights have {weights.shape[1]} columns but the bank's embeddings are {width} wide; "
            "project readouts of the backbone the bank was built with "
            "(encoder.feature_weights())"
        )
    bad = np.flatnonzero(~np.isfinite(weights).all(axis=1))
    if len(bad):
        raise ValueError(
            f"{len(bad)} weight rows hold NaN or inf (rows {bad[:5].tolist()}...); drop those "
            "targets (e.g. unfitted voxels) before projecting"
        )
    return weights
