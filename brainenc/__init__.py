"""brainenc: image-computable encoding models of the human visual cortex."""

__version__ = "0.1.0"

from . import metrics
from .data import BrainData, Space
from .data.world import load_world

__all__ = ["BrainData", "Space", "__version__", "load_world", "metrics"]
