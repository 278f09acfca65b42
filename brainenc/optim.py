"""The learning-rate schedule shared by the package's training loops."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, steps: int, floor: float) -> float:
    """Learning-rate factor at ``step``: linear warm-up over ``warmup`` steps, then cosine decay
    from 1 to ``floor`` at ``steps`` (a ``LambdaLR`` factor)."""
    if step < warmup:
        return (step + 1) / warmup
    done = (step - warmup) / max(1, steps - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
