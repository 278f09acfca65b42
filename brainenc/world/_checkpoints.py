"""Where the world's shipped weights live, and how a frozen model is read from them."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
"""The one folder of the world's checkpoints: oracle, judge, world-clip and the diffusion prior."""


def load_frozen(model: nn.Module, path: Path, missing: str) -> nn.Module:
    """``model`` with the weights at ``path``, frozen in eval mode; ``missing`` is the error
    message's start when the file does not exist.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one that is not a
    safetensors checkpoint of this model (corrupt, truncated, or another model's weights).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{missing} ({path}); rebuild it with `brainenc world build`")
    name = type(model).__name__
    shipped = path.resolve().is_relative_to(WEIGHTS_DIR.resolve())
    try:
        state = load_file(path)
    except SafetensorError as e:
        fix = "rebuild it with `brainenc world build`" if shipped else "write it again"
        raise ValueError(f"{path} is not a readable safetensors checkpoint ({e}); it may be "
                         f"corrupt or truncated: {fix}") from e  # fmt: skip
    ours = model.state_dict()
    if state.keys() != ours.keys() or any(state[k].shape != ours[k].shape for k in ours):
        raise ValueError(f"{path} holds no {name} weights (its tensors do not match the "
                         "model's); give a checkpoint of this model")  # fmt: skip
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)
