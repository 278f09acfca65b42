"""Features: backbones (image -> embedding / tokens), the registry that builds them from spec
strings, batched extraction and the on-disk feature cache."""

from .backbone import BACKBONES, Backbone, register_backbone
from .cache import cached_features
from .extract import extract_features
from .gabor import GaborPyramid
from .openclip import OpenCLIPBackbone, register_model_config
from .world_clip import load_world_clip, train_world_clip

__all__ = [
    "BACKBONES",
    "Backbone",
    "GaborPyramid",
    "OpenCLIPBackbone",
    "cached_features",
    "extract_features",
    "load_world_clip",
    "register_backbone",
    "register_model_config",
    "train_world_clip",
]
