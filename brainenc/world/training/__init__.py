"""Training the world's models: the category oracle, the judge, world-clip and the diffusion prior.

Every trainer is deterministic given its seed and draws its images from seed streams of its own
(``docs/world.md``, "Seed streams"). :func:`brainenc.world.build.build_world` (``brainenc world
build``) runs them and writes the checkpoints into ``brainenc/world/weights/``; the runtime
modules (:mod:`brainenc.world.oracle`, :mod:`~brainenc.world.judge`, :mod:`~brainenc.world.clip`,
:mod:`~brainenc.world.prior`) only define the models and load their weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from ...files import write_atomically


def save_checkpoint(model: nn.Module, record: dict, path: Path) -> Path:
    """Write a world model's weights with its training record as metadata, atomically."""
    meta = {"record": json.dumps(record)}
    return write_atomically(path, lambda tmp: save_file(model.state_dict(), tmp, metadata=meta))
