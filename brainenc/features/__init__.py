"""Features: backbones (image -> embedding / tokens), the registry that builds them from spec
strings, and batched extraction."""

from .backbone import BACKBONES, Backbone, register_backbone
from .extract import extract_features
from .gabor import GaborPyramid

__all__ = ["BACKBONES", "Backbone", "GaborPyramid", "extract_features", "register_backbone"]
