"""Encoders: image features → brain responses, behind one :class:`Encoder` interface."""

from .base import ENCODERS, Encoder, load_encoder
from .brain_model import BrainModel
from .linear import LinearEncoder, LinearReadout

__all__ = ["ENCODERS", "BrainModel", "Encoder", "LinearEncoder", "LinearReadout", "load_encoder"]
