"""Where the world's shipped weights live, and how a frozen model is read from them."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"
"""The one folder of the world's checkpoints: oracle, judge, world-clip and the diffusion prior."""


def read_metadata(path: Path, missing: str) -> dict[str, str]:
    """The metadata of a world checkpoint (its training record, and what else it stores).

    Raises ``FileNotFoundError`` for a missing file (``missing`` starts the message) and
    ``ValueError`` for one that is not a readable safetensors checkpoint (corrupt, truncated).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{missing} ({path}); rebuild it with `brainenc world build`")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except SafetensorError as e:
        shipped = path.resolve().is_relative_to(WEIGHTS_DIR.resolve())
        fix = "rebuild it with `brainenc world build`" if shipped else "write it again"
        raise ValueError(f"{path} is not a readable safetensors checkpoint ({e}); it may be "
                         f"corrupt or truncated: {fix}") from e  # fmt: skip
    return meta


def read_record(path: Path, missing: str) -> dict:
    """The training record a world checkpoint carries ({} if it has none); errors as
    :func:`read_metadata`."""
    meta = read_metadata(path, missing)
    return json.loads(meta["record"]) if "record" in meta else {}


def load_frozen(model: nn.Module, path: Path, missing: str) -> nn.Module:
    """``model`` with the weights at ``path``, frozen in eval mode; ``missing`` is the error
    message's start when the file does not exist.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for one that is not a
    safetensors checkpoint of this model (corrupt, truncated, or another model's weights).
    """
    path = Path(path)
    read_metadata(path, missing)  # refuses a missing or unreadable file in one line
    state = load_file(path)
    name = type(model).__name__
    ours = model.state_dict()
    if state.keys() != ours.keys() or any(state[k].shape != ours[k].shape for k in ours):
        raise ValueError(f"{path} holds no {name} weights (its tensors do not match the "
                         "model's); give a checkpoint of this model")  # fmt: skip
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)
