"""The few torch.distributed calls brainenc's sharded steps need; one process without a group.

Under ``torchrun`` the caller initialises the process group (``gloo`` on CPU, ``nccl`` on GPU);
feature extraction then shards images across ranks and the out-of-core fit shards targets. With
no process group every helper here is the single-process identity, so the same code runs both
ways.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env(device: str = "cpu") -> None:
    """Join the process group ``torchrun`` describes in the environment, if any.

    nccl for CUDA (each process on GPU ``LOCAL_RANK``), gloo otherwise; nothing without
    torchrun's ``WORLD_SIZE`` or when a group is already initialised.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device == "cuda" else "gloo")


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every rank (nothing to wait for in one process)."""
    if rank_and_world()[1] > 1:
        dist.barrier()


def broadcast(value, src: int = 0):
    """``value`` as rank ``src`` has it, on every rank (a picklable Python object)."""
    if rank_and_world()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous part ``[lo, hi)`` of ``range(n)`` that ``rank`` of ``world`` handles."""
    return n * rank // world, n * (rank + 1) // world
