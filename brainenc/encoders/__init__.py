"""Encoders: image features → brain responses, behind one :class:`Encoder` interface."""

from .base import ENCODERS, Encoder, load_encoder
from .brain_model import BrainModel
from .linear import LinearEncoder, LinearReadout
from .out_of_core import fit_out_of_core, score_out_of_core

__all__ = [
    "ENCODERS",
    "BrainModel",
    "Encoder",
    "LinearEncoder",
    "LinearReadout",
    "fit_out_of_core",
    "load_encoder",
    "score_out_of_core",
]
