"""Encoders: image features → brain responses, behind one :class:`Encoder` interface."""

from .base import ENCODERS, Encoder, load_encoder
from .brain_model import BrainModel
from .in_context import InContextEncoder
from .linear import LinearEncoder, LinearReadout
from .meta_training import MetaSubject, meta_train
from .out_of_core import fit_out_of_core, score_out_of_core
from .routing import RoutingEncoder

__all__ = [
    "ENCODERS",
    "BrainModel",
    "Encoder",
    "InContextEncoder",
    "LinearEncoder",
    "LinearReadout",
    "MetaSubject",
    "RoutingEncoder",
    "fit_out_of_core",
    "load_encoder",
    "meta_train",
    "score_out_of_core",
]
