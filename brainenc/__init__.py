"""brainenc: image-computable encoding models of the human visual cortex."""

from . import metrics
from .data import BrainData, Space

__version__ = "0.1.0"
__all__ = ["BrainData", "Space", "__version__", "metrics"]
