"""brainenc: image-computable encoding models of the human visual cortex.

The names below are imported on first use, so that ``import brainenc`` (and the ``brainenc``
command's ``--help``) starts without loading torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {"BrainData": ".data", "Space": ".data", "load_world": ".world"}
__all__ = ["BrainData", "Space", "__version__", "load_world", "metrics"]


def __getattr__(name: str):
    if name == "metrics":
        return import_module(".metrics", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
