"""Where the world's shipped weights live, and how a frozen model is read from them."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
"""The one folder of the world's checkpoints: oracle, judge, world-clip and the diffusion prior."""


def load_frozen(model: nn.Module, path: Path, missing: str) -> nn.Module:
    """``model`` with the weights at ``path``, frozen in eval mode; ``missing`` is the error
    message's start when the file does not exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{missing} ({path}); rebuild it with `brainenc world build`")
    model.load_state_dict(load_file(path))
    return model.eval().requires_grad_(False)
