"""``brainenc world build``: retrain the world's models and write their checkpoints.

The trainers live in :mod:`brainenc.world.training`; this module runs the ones asked for, in
order, and writes each checkpoint into ``brainenc/world/weights/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

WORLD_MODELS = (
    "oracle", "judge", "world-clip", "world-vit", "world-prior", "in-context", "captioner",
)  # fmt: skip
"""The models ``build_world`` can retrain, in the order it trains them."""


def build_world(
    only: Iterable[str] | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Retrain the world's models and overwrite their shipped checkpoints.

    Parameters
    ----------
    only : iterable of str, optional
        Names from :data:`WORLD_MODELS`; all of them by default. World-prior, in-context and
        captioner training read the world-clip checkpoint on disk (and in-context the oracle,
        through the subjects), so rebuild those first (or in the same call) when they changed.
    seed : int
        Training seed of every model.
    device : str
        Where the diffusion prior trains (``"cuda"`` takes minutes instead of an hour); the
        other models train on the CPU in minutes.
    progress : bool
        Show progress bars.
    say : callable
        Receives one line per model with its headline numbers.

    Returns
    -------
    dict of str to Path
        The checkpoint written for each model built.
    """
    from ..validation import check_cuda

    only = set(WORLD_MODELS if only is None else only)
    unknown = sorted(only - set(WORLD_MODELS))
    if unknown:
        raise ValueError(
            f"unknown world model {', '.join(unknown)}; choose from {', '.join(WORLD_MODELS)}"
        )
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if "world-prior" in only:
        check_cuda(device)
    written = {}
    if "oracle" in only:
        from .training.oracle import save_oracle, train_oracle

        model, record = train_oracle(seed=seed, progress=progress)
        written["oracle"] = path = save_oracle(model, record)
        say(f"category oracle: held-out accuracy {record['heldout_accuracy']:.3f}, off-manifold "
            f"evidence p99 {record['off_manifold_evidence_p99']:.3f} -> {path}")  # fmt: skip
    if "judge" in only:
        from .training.judge import save_judge, train_judge

        model, record = train_judge(seed=seed, progress=progress)
        written["judge"] = path = save_judge(model, record)
        say(f"judge: held-out accuracy {record['world_accuracy']:.3f}, off-manifold 'none' "
            f"{record['off_manifold_none']:.3f} -> {path}")  # fmt: skip
    if "world-clip" in only:
        from .training.clip import save_world_clip, train_world_clip

        model, tokenizer, record = train_world_clip(seed=seed, progress=progress)
        written["world-clip"] = path = save_world_clip(model, tokenizer, record)
        say(f"world-clip: zero-shot accuracy {record['zero_shot_accuracy']:.3f} -> {path}")
    if "world-vit" in only:
        from .training.vit import save_world_vit, train_world_vit

        model, record = train_world_vit(seed=seed, progress=progress)
        written["world-vit"] = path = save_world_vit(model, record)
        say(f"world-vit: held-out patch accuracy {record['patch_accuracy']:.3f} (faces "
            f"{record['patch_accuracy_face']:.3f}) -> {path}")  # fmt: skip
    if "world-prior" in only:
        from .training.prior import train_world_prior

        written["world-prior"] = path = train_world_prior(seed=seed, device=device,
                                                          progress=progress)  # fmt: skip
        say(f"world diffusion prior ({device}) -> {path}")
    if "in-context" in only:
        from .training.in_context import train_world_in_context

        model, path = train_world_in_context(seed=seed, progress=progress)
        written["in-context"] = path
        final = model.metadata_["history"][-1]["val_loss"]
        say(f"in-context encoder: held-out subject loss {final:.3f} (1 = the context mean) "
            f"-> {path}")  # fmt: skip
    if "captioner" in only:
        from .training.captioner import save_world_captioner, train_world_captioner

        model = train_world_captioner(seed=seed, progress=progress)
        written["captioner"] = path = save_world_captioner(model)
        record = model.metadata["training"]
        say(f"captioner: held-out category accuracy {record['category_accuracy']:.3f}, exact "
            f"captions {record['exact_caption_accuracy']:.3f} -> {path}")  # fmt: skip
    return written
