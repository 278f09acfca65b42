"""Features: backbones (image -> embedding / tokens), the registry that builds them from spec
strings, batched extraction and the on-disk feature cache."""

from .backbone import BACKBONES, Backbone, register_backbone
from .cache import cached_features
from .extract import extract_features
from .gabor import GaborPyramid
from .openclip import OpenCLIPBackbone, register_model_config

__all__ = [
    "BACKBONES",
    "Backbone",
    "GaborPyramid",
    "OpenCLIPBackbone",
    "cached_features",
    "extract_features",
    "register_backbone",
    "register_model_config",
]
