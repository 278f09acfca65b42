"""brainenc: image-computable encoding models of the human visual cortex.

The names below are imported on first use, so that ``import brainenc`` (and the ``brainenc``
command's ``--help``) starts without loading torch.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "BrainData": ".data",
    "Space": ".data",
    "load_world": ".world",
    "Encoder": ".encoders",
    "fit_study": ".study",
    "Run": ".run",
}
__all__ = ["BrainData", "Encoder", "Run", "Space", "__version__", "fit_study", "load_world",
           "metrics"]  # fmt: skip

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=["metrics"])
